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
# "domain_set": the accounts matched by a domain set, or the contacts at them.
LIST_SOURCE_TYPES = ("segment", "manual_upload", "selection", "filter", "domain_set")


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


# ---------------------------------------------------------------------------
# Domain sets: uploaded domain lists matched against accounts (see domain_sets.py)
# ---------------------------------------------------------------------------

DOMAIN_SET_STATUSES = ("queued", "processing", "ready", "failed")
DOMAIN_ITEM_STATUSES = ("matched", "unmatched", "invalid", "duplicate")
# How a matched item found its account: its normalized domain is the account's primary or
# one of its secondary domains, a person chose a suggested account, or the account was
# created for it from this set.
MATCHED_VIA = ("primary", "secondary", "manual", "created")


class DomainSet(IdMixin, TimestampMixin, SoftDeleteMixin, SharedMixin, Base):
    """An uploaded list of domains and its match report; ``entity_type`` is the kind of
    list it is meant to become (accounts, or contacts at the matched accounts)."""

    __tablename__ = "domain_sets"

    status: Mapped[str] = mapped_column(String(20), default="queued")
    # Where the entries are kept until processed: {"kind": "file" | "json", "path": ...,
    # "filename": ..., "format": FileFormat, "column": header or None, "headerless": bool}.
    source_file: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    entry_count: Mapped[int] = mapped_column(BigInteger, default=0)
    matched_count: Mapped[int] = mapped_column(BigInteger, default=0)
    unmatched_count: Mapped[int] = mapped_column(BigInteger, default=0)
    invalid_count: Mapped[int] = mapped_column(BigInteger, default=0)
    duplicate_count: Mapped[int] = mapped_column(BigInteger, default=0)
    # Distinct accounts among the matches (two domains of one company match it once).
    account_count: Mapped[int] = mapped_column(BigInteger, default=0)
    # Unmatched items up to this line have been looked at for suggestions.
    suggested_through: Mapped[int] = mapped_column(BigInteger, default=0)
    job_id: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    matched_at: Mapped[datetime | None]
    # The import batch that created the missing accounts (undoable from Imports).
    accounts_batch_id: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_domain_sets_owner_id", "owner_id"),)


class DomainSetItem(Base):
    """One entry of a domain set, as read (``raw``) and as matched.

    No foreign keys: items are written 100,000 at a time by COPY, where a check per row
    and key doubles the cost. Sets are only soft-deleted, and an item whose account went
    (merged, an import undone) shows it and is matched anew by "match again".
    """

    __tablename__ = "domain_set_items"

    domain_set_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    line_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    raw: Mapped[str] = mapped_column(String(500))
    domain: Mapped[str | None] = mapped_column(String(253))
    status: Mapped[str] = mapped_column(String(20))
    # Why an invalid entry is invalid; for a duplicate, the line of its first occurrence.
    reason: Mapped[str | None] = mapped_column(String(200))
    duplicate_of: Mapped[int | None] = mapped_column(BigInteger)
    account_id: Mapped[int | None] = mapped_column(BigInteger)
    matched_via: Mapped[str | None] = mapped_column(String(20))

    __table_args__ = (
        Index("ix_domain_set_items_status", "domain_set_id", "status", "line_number"),
    )


class DomainSetSuggestion(Base):
    """An account that may be the company behind an unmatched domain, by name similarity."""

    __tablename__ = "domain_set_suggestions"

    domain_set_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("domain_sets.id", ondelete="CASCADE"), primary_key=True
    )
    line_number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    score: Mapped[float] = mapped_column(default=0.0)

    __table_args__ = (Index("ix_domain_set_suggestions_account_id", "account_id"),)


# Items name their set and account without foreign keys; the order of creating and
# dropping tables still puts them after both (and databases made while the keys existed
# drop cleanly).
DomainSetItem.__table__.add_is_dependent_on(DomainSet.__table__)
DomainSetItem.__table__.add_is_dependent_on(Account.__table__)
