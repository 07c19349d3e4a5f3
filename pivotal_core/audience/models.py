"""Saved filters, dynamic segments and static lists (with their members)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pivotal_core.accounts.models import Account
from pivotal_core.contacts.models import Contact
from pivotal_core.db import Base, IdMixin, JSONValue, SoftDeleteMixin, TimestampMixin, utcnow

ENTITY_TYPES = ("contact", "account")
VISIBILITY_SCOPES = ("private", "team", "global")
LIST_SOURCE_TYPES = ("segment", "manual_upload", "selection", "filter")


class SharedMixin:
    """Who owns a saved audience and who else may see it (see ``services.visible``)."""

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    entity_type: Mapped[str] = mapped_column(String(20))
    visibility_scope: Mapped[str] = mapped_column(String(20), default="private")
    owner_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )


class SavedFilter(IdMixin, TimestampMixin, SoftDeleteMixin, SharedMixin, Base):
    __tablename__ = "saved_filters"

    definition: Mapped[dict[str, Any]] = mapped_column(JSONValue)

    __table_args__ = (Index("ix_saved_filters_owner_id", "owner_id"),)


class Segment(IdMixin, TimestampMixin, SoftDeleteMixin, SharedMixin, Base):
    """A dynamic audience: its members are whatever its definition matches now."""

    __tablename__ = "segments"

    definition: Mapped[dict[str, Any]] = mapped_column(JSONValue)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    tags: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    record_count_cache: Mapped[int | None] = mapped_column(BigInteger)
    last_refreshed_at: Mapped[datetime | None]
    # Why the last refresh could not count (a list it uses was deleted, ...).
    refresh_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_segments_owner_id", "owner_id"),
        Index("ix_segments_is_active", "is_active"),
    )


class AudienceList(IdMixin, TimestampMixin, SoftDeleteMixin, SharedMixin, Base):
    """A static audience: members are stored in ``list_members``; any entity type."""

    __tablename__ = "lists"

    source_type: Mapped[str] = mapped_column(String(20))
    # {"segmentId": 3, "definition": {...}} or {"definition": {...}}: where members came from.
    source_ref: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)
    snapshot_ts: Mapped[datetime | None]
    tags: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    # Kept exact by every service that adds or removes members.
    member_count: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (Index("ix_lists_owner_id", "owner_id"),)


class ListMember(Base):
    """One record in one list; ``record_id`` is a contact or account id (the list's type)."""

    __tablename__ = "list_members"

    list_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True
    )
    record_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    # Filters ask "is this record in list L?": from the record's side.
    __table_args__ = (Index("ix_list_members_record_id", "record_id", "list_id"),)


# Indexes on the records for the filters marketers use most: ranges of company size and
# revenue, and seniority. (Country, industry, email domain and account are indexed already.)
FILTER_INDEXES = (
    Index("ix_contacts_seniority", Contact.seniority),
    Index("ix_accounts_employee_count", Account.employee_count),
    Index("ix_accounts_annual_revenue", Account.annual_revenue),
)
