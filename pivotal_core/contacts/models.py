"""Contacts: the people at accounts, and their secondary identifiers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pivotal_core.accounts.models import Account
from pivotal_core.db import Base, IdMixin, JSONValue, SoftDeleteMixin, TimestampMixin
from pivotal_core.provenance import ProvenanceJSON

SENIORITIES = ("c_level", "vp", "director", "manager", "senior", "entry", "other")


class Contact(IdMixin, TimestampMixin, SoftDeleteMixin, Base):
    __tablename__ = "contacts"

    account_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="SET NULL")
    )
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(254))
    email_domain: Mapped[str | None] = mapped_column(String(253))
    phone: Mapped[str | None] = mapped_column(String(20))
    mobile: Mapped[str | None] = mapped_column(String(20))
    title: Mapped[str | None] = mapped_column(String(200))
    seniority: Mapped[str | None] = mapped_column(String(20))
    department: Mapped[str | None] = mapped_column(String(100))
    linkedin_url: Mapped[str | None] = mapped_column(String(300))
    city: Mapped[str | None] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(2))
    timezone: Mapped[str | None] = mapped_column(String(64))
    tags: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    field_provenance: Mapped[dict[str, Any]] = mapped_column(ProvenanceJSON(), default=dict)
    # Set when the record was merged into another: the survivor (see record_redirects).
    merged_into_id: Mapped[int | None] = mapped_column(BigInteger)

    account: Mapped[Account | None] = relationship(lazy="raise")
    identifiers: Mapped[list[ContactIdentifier]] = relationship(
        back_populates="contact", lazy="raise", cascade="all, delete-orphan"
    )

    __table_args__ = (
        Index(
            "uq_contacts_email_live",
            "email",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        Index("ix_contacts_account_id", "account_id"),
        Index("ix_contacts_email_domain", "email_domain"),
        # Keyset sort orders of the list API (nullable columns sort as "").
        Index("ix_contacts_last_name_sort", func.coalesce(last_name, ""), "id"),
        Index("ix_contacts_email_sort", func.coalesce(email, ""), "id"),
        Index("ix_contacts_created_at_id", "created_at", "id"),
        Index("ix_contacts_updated_at_id", "updated_at", "id"),
        Index("ix_contacts_phone", "phone"),
        # Imports match rows without an email on mobile numbers and LinkedIn URLs too.
        Index(
            "ix_contacts_mobile",
            "mobile",
            sqlite_where=text("mobile IS NOT NULL"),
            postgresql_where=text("mobile IS NOT NULL"),
        ),
        Index(
            "ix_contacts_linkedin_url",
            "linkedin_url",
            sqlite_where=text("linkedin_url IS NOT NULL"),
            postgresql_where=text("linkedin_url IS NOT NULL"),
        ),
        # A row with an email may complete a live contact without one: few, so small indexes.
        *(
            Index(
                f"ix_contacts_{column}_without_email",
                column,
                sqlite_where=text("email IS NULL AND deleted_at IS NULL"),
                postgresql_where=text("email IS NULL AND deleted_at IS NULL"),
            )
            for column in ("phone", "mobile", "linkedin_url")
        ),
        # Quick search: case-insensitive prefix matches (LIKE 'abc%') on names and email.
        Index(
            "ix_contacts_last_name_search",
            func.lower(last_name).label("last_name_lower"),
            postgresql_ops={"last_name_lower": "text_pattern_ops"},
        ),
        Index(
            "ix_contacts_first_name_search",
            func.lower(first_name).label("first_name_lower"),
            postgresql_ops={"first_name_lower": "text_pattern_ops"},
        ),
        Index("ix_contacts_email_search", "email", postgresql_ops={"email": "text_pattern_ops"}),
        Index("ix_contacts_country", "country"),
    )

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    def __repr__(self) -> str:
        return f"<Contact {self.id} {self.email}>"


class ContactIdentifier(IdMixin, Base):
    """A secondary identifier: phone, LinkedIn URL or an external id of a source."""

    __tablename__ = "contact_identifiers"

    contact_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("contacts.id", ondelete="CASCADE")
    )
    # "phone", "linkedin", or "external:<source>"
    kind: Mapped[str] = mapped_column(String(80))
    value: Mapped[str] = mapped_column(String(300))

    contact: Mapped[Contact] = relationship(back_populates="identifiers", lazy="raise")

    __table_args__ = (
        Index("uq_contact_identifiers_kind_value", "kind", "value", unique=True),
        Index("ix_contact_identifiers_contact_id", "contact_id"),
    )
