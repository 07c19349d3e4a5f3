"""Staff and portal users."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from pivotal_core.db import Base, IdMixin, JSONValue, TimestampMixin


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(254))
    full_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(40))
    # The client organisation of a portal user (owned by the portal plugin, hence no FK).
    organisation_id: Mapped[int | None] = mapped_column(BigInteger)
    password_hash: Mapped[str] = mapped_column(String(100))
    # Bumped on password change and deactivation: every token issued before is void.
    token_version: Mapped[int] = mapped_column(Integer, default=1)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_login_at: Mapped[datetime | None]
    preferences: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)

    __table_args__ = (Index("uq_users_email", "email", unique=True),)

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email} {self.role}>"
