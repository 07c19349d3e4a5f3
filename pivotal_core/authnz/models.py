"""Refresh tokens (stored hashed) and failed-login records for throttling."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from pivotal_core.db import Base, IdMixin


class RefreshToken(IdMixin, Base):
    __tablename__ = "refresh_tokens"

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Every rotation of one login shares a family; reuse of a spent token revokes the family.
    family: Mapped[str] = mapped_column(String(32), index=True)
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_refresh_tokens_user_id", "user_id"),)


class LoginFailure(IdMixin, Base):
    __tablename__ = "login_failures"

    # "account:<email>" or "address:<ip>"; never says whether the account exists.
    key: Mapped[str] = mapped_column(String(300))
    failed_at: Mapped[datetime]

    __table_args__ = (Index("ix_login_failures_key_failed_at", "key", "failed_at"),)
