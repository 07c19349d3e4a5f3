"""How field provenance is stored: an import batch's entry once per record, not per field.

In Python a record's ``field_provenance`` is ``{field: entry}``, an entry being where the
value came from (``source``, ``at``, and ``batch``, ``actor_id``, ``job_id``, ``manual``
when they apply). An import sets a dozen fields of a record with one and the same entry;
written out per field that is most of a contact row (1.4 of 1.6 KB). The stored form keeps
each batch's entry once, under ``#<batch>``, and the fields name it::

    {"#12": {"at": "...", "batch": 12, "source": "import:crm"},
     "email": "#12", "phone": "#12", "title": {"at": "...", "source": "ui", "manual": true}}

Entries without a batch (a person's edit) stay inline, and so does an entry that differs
from the one already stored under its batch's key. A stored object without ``#`` keys (as
rows were written before this form) is read as it is. :class:`ProvenanceJSON` converts on
the way in and out, so the ORM and Core statements on the column see ``{field: entry}``
only; code writing raw SQL builds the stored form with :func:`compact`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import JSON
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

__all__ = ["REF", "ProvenanceJSON", "compact", "expand"]

REF = "#"


def _ref_of(entry: Any) -> str | None:
    """The key an entry is stored under (``#<batch>``), None when it stays inline."""
    if type(entry) is dict:
        batch = entry.get("batch")
        if type(batch) is int:
            return f"{REF}{batch}"
    return None


def expand(stored: Mapping[str, Any]) -> dict[str, Any]:
    """``{field: entry}`` of a stored provenance object (either form)."""
    entries = {k: v for k, v in stored.items() if k.startswith(REF)}
    if not entries:
        return dict(stored)
    found: dict[str, Any] = {}
    for name, value in stored.items():
        if name.startswith(REF):
            continue
        if type(value) is str:
            value = entries.get(value)
            if value is None:
                continue  # names an entry that is not there: no provenance
        found[name] = value
    return found


def compact(provenance: Mapping[str, Any]) -> dict[str, Any]:
    """The stored form of ``provenance`` (``{field: entry}``, or already stored)."""
    if any(k.startswith(REF) for k in provenance):
        provenance = expand(provenance)
    entries: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    for name, entry in provenance.items():
        key = _ref_of(entry)
        if key is not None:
            kept = entries.setdefault(key, entry)
            if kept is entry or kept == entry:
                fields[name] = key
                continue
        fields[name] = entry
    if not entries:
        return fields
    return {**entries, **fields}


class ProvenanceJSON(TypeDecorator[dict[str, Any]]):
    """A ``field_provenance`` column: JSON (JSONB on PostgreSQL) in the stored form."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return compact(value) if isinstance(value, Mapping) else value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return expand(value) if isinstance(value, Mapping) else value
