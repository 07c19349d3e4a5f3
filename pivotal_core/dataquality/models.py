"""Data quality records: import batches and their rejected rows, saved column mappings,
survivorship rules, duplicate candidates, merges and their redirects, erased identities."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pivotal_core.db import Base, IdMixin, JSONValue, TimestampMixin

IMPORT_ENTITIES = ("contact", "account")
BATCH_STATES = ("uploaded", "queued", "running", "succeeded", "failed", "undone")


class ImportBatch(IdMixin, TimestampMixin, Base):
    """One run of one file from one source."""

    __tablename__ = "import_batches"

    entity: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(80))
    filename: Mapped[str] = mapped_column(String(255))
    # Where the uploaded file is kept (under the imports folder) and its SHA-256.
    stored_path: Mapped[str] = mapped_column(String(500))
    file_sha256: Mapped[str] = mapped_column(String(64))
    file_format: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    mapping: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    options: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the data was true at its source: survivorship's "most recent" is this time, so
    # the outcome does not depend on the order batches are run in.
    as_of: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(20), default="uploaded")
    counts: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    job_id: Mapped[int | None] = mapped_column(BigInteger)
    created_by_id: Mapped[int | None] = mapped_column(BigInteger)
    finished_at: Mapped[datetime | None]
    undone_at: Mapped[datetime | None]
    undo_report: Mapped[dict[str, Any] | None] = mapped_column(JSONValue)

    __table_args__ = (Index("ix_import_batches_status_id", "status", "id"),)


class ImportRejection(IdMixin, Base):
    """A row of a batch that was not imported, with the reasons and the row as read."""

    __tablename__ = "import_rejections"

    batch_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("import_batches.id", ondelete="CASCADE")
    )
    row_number: Mapped[int] = mapped_column(Integer)
    reasons: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    raw: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)

    __table_args__ = (Index("ix_import_rejections_batch_id_row", "batch_id", "row_number"),)


class ImportMapping(IdMixin, TimestampMixin, Base):
    """A saved header-to-field mapping, reusable for files of the same shape."""

    __tablename__ = "import_mappings"

    name: Mapped[str] = mapped_column(String(120))
    entity: Mapped[str] = mapped_column(String(20))
    # {"<column header>": "<field>" | null}
    columns: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (Index("uq_import_mappings_entity_name", "entity", "name", unique=True),)


class SurvivorshipRule(IdMixin, TimestampMixin, Base):
    """Source priority for one field (``*`` for every field without its own rule)."""

    __tablename__ = "survivorship_rules"

    entity: Mapped[str] = mapped_column(String(20))
    field: Mapped[str] = mapped_column(String(100))
    # Highest priority first; sources not listed rank below every listed one.
    sources: Mapped[list[str]] = mapped_column(JSONValue, default=list)

    __table_args__ = (Index("uq_survivorship_rules_entity_field", "entity", "field", unique=True),)


class DuplicateCandidate(IdMixin, TimestampMixin, Base):
    """Two records that may be the same; reviewed by a data steward."""

    __tablename__ = "duplicate_candidates"

    entity: Mapped[str] = mapped_column(String(20))
    # record_a < record_b, so a pair is stored once.
    record_a: Mapped[int] = mapped_column(BigInteger)
    record_b: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(60))
    score: Mapped[float] = mapped_column(default=0.0)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open, merged, dismissed
    resolved_by_id: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        Index("uq_duplicate_candidates_pair", "entity", "record_a", "record_b", unique=True),
        Index("ix_duplicate_candidates_status", "entity", "status", "score"),
    )


class Merge(IdMixin, TimestampMixin, Base):
    """One merge of ``merged_id`` into ``survivor_id``, with what is needed to reverse it."""

    __tablename__ = "merges"

    entity: Mapped[str] = mapped_column(String(20))
    survivor_id: Mapped[int] = mapped_column(BigInteger)
    merged_id: Mapped[int] = mapped_column(BigInteger)
    # {field: "survivor" | "merged"} as chosen, and the survivor's values before the merge.
    choices: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    survivor_before: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    moved: Mapped[dict[str, Any]] = mapped_column(JSONValue, default=dict)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    reverted_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_merges_entity_merged_id", "entity", "merged_id"),)


class RecordRedirect(IdMixin, Base):
    """A merged record's id keeps resolving: ``old_id`` now lives on as ``new_id``."""

    __tablename__ = "record_redirects"

    entity: Mapped[str] = mapped_column(String(20))
    old_id: Mapped[int] = mapped_column(BigInteger)
    new_id: Mapped[int] = mapped_column(BigInteger)
    merge_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("merges.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]

    __table_args__ = (Index("uq_record_redirects_entity_old_id", "entity", "old_id", unique=True),)


class ErasedIdentity(IdMixin, Base):
    """What is left of an erased contact: keyed hashes of its identifiers, so a later import
    cannot silently bring the person back."""

    __tablename__ = "erased_identities"

    kind: Mapped[str] = mapped_column(String(20))  # email, phone, linkedin
    digest: Mapped[str] = mapped_column(String(64))
    erased_at: Mapped[datetime]
    erased_by_id: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("uq_erased_identities_kind_digest", "kind", "digest", unique=True),)
