"""Exports of contacts and accounts — a list's members, a segment's current members or any
selection (``audience.bulk.Selection``) — as CSV or JSON, with chosen columns.

Columns are the entity's usual export columns (``id``, ``first_name``, ``account_name``,
``custom_fields.<key>``, ...) or any field of the filter registry that has a value
(``account.industry``, ``account.employee_range``, ...). Rows are read in id order through
one query with ``yield_per`` (a server-side cursor on PostgreSQL), batch by batch, and
written out as they come: memory stays flat however many records there are. CSV cells
that a spreadsheet would take for a formula are prefixed with ``'``; JSON keeps values as
they are (lists as arrays, numbers as numbers).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from pivotal_core.accounts.models import Account
from pivotal_core.audience.bulk import RecordType, Resolved, Selection, check_permission, resolve
from pivotal_core.audience.fields import FilterField, field_registry
from pivotal_core.audience.filters import FilterContext
from pivotal_core.errors import ValidationFailed
from pivotal_core.exports import csv_batches, json_stream, safe_text

FORMATS = ("csv", "json")
BATCH = 2000  # rows fetched from the cursor and written to the response at a time
MAX_COLUMNS = 200

# The usual columns, in order, by the filter field that reads each (or by a value of
# their own below); custom fields follow as custom_fields.<key>.
DEFAULT_COLUMNS: dict[str, tuple[tuple[str, str | None], ...]] = {
    "contact": (
        ("id", "contact.id"),
        ("first_name", "contact.first_name"),
        ("last_name", "contact.last_name"),
        ("email", "contact.email"),
        ("account_id", "contact.account_id"),
        ("account_name", "account.name"),
        ("title", "contact.title"),
        ("seniority", "contact.seniority"),
        ("department", "contact.department"),
        ("phone", "contact.phone"),
        ("mobile", "contact.mobile"),
        ("linkedin_url", "contact.linkedin_url"),
        ("city", "contact.city"),
        ("region", "contact.region"),
        ("postal_code", "contact.postal_code"),
        ("country", "contact.country"),
        ("timezone", "contact.timezone"),
        ("tags", "contact.tags"),
        ("created_at", "contact.created_at"),
        ("updated_at", "contact.updated_at"),
        ("deleted_at", None),
    ),
    "account": (
        ("id", "account.id"),
        ("name", "account.name"),
        ("domain", "account.domain"),
        ("secondary_domains", "account.secondary_domains"),
        ("parent_id", "account.parent_id"),
        ("parent_name", None),
        ("industry", "account.industry"),
        ("employee_count", "account.employee_count"),
        ("annual_revenue", "account.annual_revenue"),
        ("phone", "account.phone"),
        ("linkedin_url", "account.linkedin_url"),
        ("street", "account.street"),
        ("city", "account.city"),
        ("region", "account.region"),
        ("postal_code", "account.postal_code"),
        ("country", "account.country"),
        ("technologies", "account.technologies"),
        ("tags", "account.tags"),
        ("created_at", "account.created_at"),
        ("updated_at", "account.updated_at"),
        ("deleted_at", None),
    ),
}


def _parent_name(ctx: FilterContext) -> Any:
    parent = aliased(Account)
    return select(parent.name).where(parent.id == ctx.root.parent_id).scalar_subquery()


# Columns no filter field reads.
OWN_VALUES: dict[str, dict[str, tuple[str, Callable[[FilterContext], Any]]]] = {
    "contact": {"deleted_at": ("datetime", lambda ctx: ctx.root.deleted_at)},
    "account": {
        "deleted_at": ("datetime", lambda ctx: ctx.root.deleted_at),
        "parent_name": ("text", _parent_name),
    },
}


@dataclass(frozen=True)
class ExportColumn:
    """One column: its header (and JSON key), how its values are written (``text``,
    ``number``, ``datetime``, ``tags``, ``bool``) and the expression that reads it."""

    name: str
    kind: str
    value: Callable[[FilterContext], Any]


def _kind(item: FilterField) -> str:
    if item.type in ("number", "reference"):
        return "number"
    if item.type == "date":
        return "datetime" if item.date_storage == "datetime" else "text"
    if item.type in ("tags", "bool"):
        return item.type
    return "text"  # text, enum


def _from_field(name: str, item: FilterField, entity: str) -> ExportColumn:
    return ExportColumn(name, _kind(item), item.sources[entity])


def available_columns(session: Session, entity: str) -> tuple[list[str], dict[str, ExportColumn]]:
    """The default column names, in order, and every column by name (defaults, custom
    fields as ``custom_fields.<key>``, and every filter field with a value by its key)."""
    registry = field_registry(session, entity)
    columns: dict[str, ExportColumn] = {}
    for name, key in DEFAULT_COLUMNS[entity]:
        if key is None:
            kind, value = OWN_VALUES[entity][name]
            columns[name] = ExportColumn(name, kind, value)
        else:
            columns[name] = _from_field(name, registry[key], entity)
    custom_prefix = f"{entity}.custom."
    for key, item in registry.items():
        if key.startswith(custom_prefix):
            name = "custom_fields." + key[len(custom_prefix) :]
            columns[name] = _from_field(name, item, entity)
    defaults = list(columns)
    for key, item in registry.items():
        if item.condition is None and key not in columns:
            columns[key] = _from_field(key, item, entity)
    return defaults, columns


def choose_columns(
    session: Session, entity: str, names: Sequence[str] | None
) -> list[ExportColumn]:
    """The columns asked for (default: the usual ones); an unknown or repeated name is a
    400 naming it (``columns[2]``)."""
    defaults, columns = available_columns(session, entity)
    if not names:
        return [columns[name] for name in defaults]
    if len(names) > MAX_COLUMNS:
        raise ValidationFailed({"columns": f"must have at most {MAX_COLUMNS} columns"})
    errors: dict[str, str] = {}
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name not in columns:
            errors[f"columns[{i}]"] = (
                f"{name!r} is not a column of {entity}s (see the export columns in "
                "docs/audience.md, or GET /api/v1/filter-fields)"
            )
        elif name in seen:
            errors[f"columns[{i}]"] = f"{name!r} is given twice"
        seen.add(name)
    if errors:
        raise ValidationFailed(errors, "Unknown export columns: " + ", ".join(sorted(errors)))
    return [columns[name] for name in names]


# ---------------------------------------------------------------------------
# Writing values
# ---------------------------------------------------------------------------


def _tag_list(value: Any) -> list[Any]:
    # SQLite returns a custom field's array as its JSON text.
    return json.loads(value) if isinstance(value, str) else list(value)


def _when(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime | dt.date) else value


def _csv_tags(value: Any) -> str | None:
    return safe_text(", ".join(str(v) for v in _tag_list(value))) if value else None


def _csv_bool(value: Any) -> str | None:
    return None if value is None else ("true" if value else "false")


def _json_tags(value: Any) -> list[Any]:
    return _tag_list(value) if value else []


CSV_CELLS: dict[str, Callable[[Any], Any] | None] = {
    "text": safe_text,
    "number": None,
    "datetime": _when,
    "tags": _csv_tags,
    "bool": _csv_bool,
}
JSON_VALUES: dict[str, Callable[[Any], Any] | None] = {
    "text": None,
    "number": None,
    "datetime": _when,
    "tags": _json_tags,
    "bool": None,
}


def row_writer(columns: Sequence[ExportColumn], fmt: str) -> Callable[[Sequence[Any]], list]:
    """A function turning one database row into the written values of ``fmt``; columns
    written as they come (numbers; JSON text) cost nothing."""
    table = CSV_CELLS if fmt == "csv" else JSON_VALUES
    converters = [(i, table[c.kind]) for i, c in enumerate(columns) if table[c.kind]]

    def write(row: Sequence[Any]) -> list:
        values = list(row)
        for i, convert in converters:
            values[i] = convert(values[i])
        return values

    return write


# ---------------------------------------------------------------------------
# The export
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Export:
    """A checked export, ready to stream: its query, columns, format and file name."""

    statement: Select
    columns: tuple[ExportColumn, ...]
    format: str
    filename: str  # without the extension
    total: int  # records selected when the export was prepared

    @property
    def extension(self) -> str:
        return self.format

    @property
    def content_type(self) -> str:
        return "text/csv" if self.format == "csv" else "application/json"

    def batches(self, factory: sessionmaker[Session]) -> Iterator[list[list[Any]]]:
        """The rows, written for the format, :data:`BATCH` at a time. They are read in a
        session of their own: the response streams after the request's transaction."""
        write = row_writer(self.columns, self.format)
        with factory() as session:
            result = session.execute(self.statement.execution_options(yield_per=BATCH))
            for rows in result.partitions():
                yield [write(row) for row in rows]

    def body(self, factory: sessionmaker[Session]) -> Iterator[bytes]:
        names = [c.name for c in self.columns]
        if self.format == "csv":
            return csv_batches(names, self.batches(factory))
        return json_stream(names, self.batches(factory))


def export_statement(
    session: Session, resolved: Resolved, columns: Sequence[ExportColumn]
) -> Select:
    """One query of the selected records' columns, in id order."""
    kind = resolved.kind
    ctx = FilterContext(
        session=session,
        entity=kind.entity,
        viewer=None,
        now=dt.datetime.now(dt.UTC),
        dialect=session.get_bind().dialect.name,
    )
    values = [column.value(ctx).label(f"c{i}") for i, column in enumerate(columns)]
    stmt = select(*values).select_from(ctx.root)
    if "account" in ctx.joins:  # a contact's account, as the filters join it
        account = ctx.joins["account"]
        stmt = stmt.outerjoin(
            account, and_(account.id == ctx.root.account_id, account.deleted_at.is_(None))
        )
    stmt = stmt.where(*resolved.conditions).order_by(ctx.root.id)
    if resolved.selection.deleted:
        stmt = stmt.execution_options(include_deleted=True)
    return stmt


def export_selection(
    session: Session,
    kind: RecordType,
    selection: Selection,
    *,
    viewer: Any,
    permissions: frozenset[str],
    columns: Sequence[str] | None = None,
    fmt: str = "csv",
    filename: str,
) -> Export:
    """Check the permission (reading the records), the selection, the format and the
    columns (a 400 names a bad one), and build the export; nothing is read until its
    body is iterated. ``filename`` gets a UTC time stamp."""
    check_permission(kind, "export", permissions)
    resolved = resolve(session, kind, selection, viewer)
    if fmt not in FORMATS:
        raise ValidationFailed({"format": f"must be one of {', '.join(FORMATS)}"})
    chosen = choose_columns(session, kind.entity, columns)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M")
    return Export(
        statement=export_statement(session, resolved, chosen),
        columns=tuple(chosen),
        format=fmt,
        filename=f"{filename}-{stamp}",
        total=resolved.total,
    )
