"""Accounts: the companies Pivotal markets to."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pivotal_core.db import Base, IdMixin, JSONValue, SoftDeleteMixin, TimestampMixin
from pivotal_core.provenance import ProvenanceJSON


class Account(IdMixin, TimestampMixin, SoftDeleteMixin, Base):
    __tablename__ = "accounts"

    name: Mapped[str] = mapped_column(String(200))
    # Lower-case name without punctuation or legal suffixes, for search and dedup.
    name_key: Mapped[str] = mapped_column(String(200), default="")
    domain: Mapped[str | None] = mapped_column(String(253))
    secondary_domains: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    parent_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="SET NULL")
    )
    industry: Mapped[str | None] = mapped_column(String(100))
    employee_count: Mapped[int | None] = mapped_column(BigInteger)
    annual_revenue: Mapped[int | None] = mapped_column(BigInteger)
    phone: Mapped[str | None] = mapped_column(String(20))
    linkedin_url: Mapped[str | None] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    street: Mapped[str | None] = mapped_column(String(200))
    city: Mapped[str | None] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(2))
    technologies: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    tags: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    # {field: {"source": ..., "batch": ..., "at": iso timestamp}}
    field_provenance: Mapped[dict[str, Any]] = mapped_column(ProvenanceJSON(), default=dict)
    # Set when the record was merged into another: the survivor (see record_redirects).
    merged_into_id: Mapped[int | None] = mapped_column(BigInteger)

    parent: Mapped[Account | None] = relationship(remote_side="Account.id", lazy="raise")

    __table_args__ = (
        Index(
            "uq_accounts_domain_live",
            "domain",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("ix_accounts_parent_id", "parent_id"),
        Index("ix_accounts_name_key", "name_key"),
        Index("ix_accounts_name_id", "name", "id"),
        Index("ix_accounts_domain_sort", func.coalesce(domain, ""), "id"),
        Index("ix_accounts_country", "country"),
        Index("ix_accounts_industry", "industry"),
    )

    def __repr__(self) -> str:
        return f"<Account {self.id} {self.domain}>"
