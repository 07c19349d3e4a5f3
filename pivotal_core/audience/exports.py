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

from sqlalchemy import (
    Integer,
    Select,
    String,
    and_,
    case,
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased, sessionmaker
from sqlalchemy.sql.functions import FunctionElement

from pivotal_core.accounts.models import Account
from pivotal_core.audience.bulk import RecordType, Resolved, Selection, check_permission, resolve
from pivotal_core.audience.fields import FilterField, field_registry
from pivotal_core.audience.filters import FilterContext
from pivotal_core.db import JSONValue
from pivotal_core.errors import ValidationFailed
from pivotal_core.exports import FORMULA_CHARACTERS, csv_batches, csv_header, json_stream

FORMATS = ("csv", "json")
BATCH = 2000  # rows fetched from the cursor and written to the response at a time
COPY_CHUNK = 256 * 1024  # bytes of COPY's output passed on at a time
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
    live = and_(parent.id == ctx.root.parent_id, parent.deleted_at.is_(None))
    return select(parent.name).where(live).scalar_subquery()


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
# Writing values: CSV cells are made by the database, JSON values in Python
# ---------------------------------------------------------------------------


def sql_function(name: str, type_: Any, doc: str, default: str, **dialects: str) -> type:
    """A one-argument SQL function written per dialect: each template has ``{}`` where
    the argument goes (``default`` for dialects not named)."""
    function = type(
        name,
        (FunctionElement,),
        {
            "__doc__": doc,
            "type": type_,
            "inherit_cache": True,
            "name": name,
        },
    )

    def renders(template: str) -> Callable[..., str]:
        def render(element: Any, compiler: Any, **kw: Any) -> str:
            return template.format(compiler.process(element.clauses, **kw))

        return render

    compiles(function)(renders(default))
    for dialect, template in dialects.items():
        compiles(function, dialect)(renders(template))
    return function


csv_timestamp = sql_function(
    "csv_timestamp",
    String(),
    "A UTC timestamp as ISO 8601 text (``2024-01-04T17:36:00.000000+00:00``).",
    "CAST({} AS VARCHAR)",
    postgresql="""to_char(({}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')""",
    # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" in UTC.
    sqlite="(replace({}, ' ', 'T') || '+00:00')",
)
csv_tags = sql_function(
    "csv_tags",
    String(),
    "A JSON array of tags as one text, in the array's order (``a, b``); none: NULL.",
    "(SELECT group_concat(value, ', ') FROM json_each({}))",
    postgresql="nullif(array_to_string(ARRAY(SELECT jsonb_array_elements_text({})), ', '), '')",
)
first_tag = sql_function(
    "first_tag",
    String(),
    "The first item of a JSON array of tags, as text.",
    "json_extract({}, '$[0]')",
    postgresql="(({}) ->> 0)",
)
first_code = sql_function(
    "first_code",
    Integer(),
    "The code point of a text's first character (0 for an empty text): comparing numbers "
    "is several times cheaper for the database than comparing characters.",
    "ascii({})",
    sqlite="coalesce(unicode({}), 0)",
)

# Written into the SQL (not bound): the same for every query, so cached with it.
FORMULA_CODES = literal_column("(" + ", ".join(str(ord(c)) for c in FORMULA_CHARACTERS) + ")")
APOSTROPHE = literal_column("''''", String())


def safe_cell(text: Any, start: Any = None) -> Any:
    """``text`` made safe for a spreadsheet in SQL, as :func:`exports.safe_text` does;
    ``start``: a cheaper expression that starts with the same character."""
    starts_formula = first_code(text if start is None else start).op("IN")(FORMULA_CODES)
    return case((starts_formula, APOSTROPHE + text), else_=text)


def csv_cell(kind: str, value: Any) -> Any:
    """The expression of a CSV cell: text that a spreadsheet opens safely, or a number."""
    if kind == "number":
        return value
    if kind == "datetime":
        return csv_timestamp(value)
    if kind == "bool":
        return case((value.is_(True), "true"), (value.is_(False), "false"))
    if kind == "tags":
        tags = type_coerce(value, JSONValue)
        return safe_cell(csv_tags(tags), start=first_tag(tags))
    return safe_cell(type_coerce(value, String()))


def _tag_list(value: Any) -> list[Any]:
    # SQLite returns a custom field's array as its JSON text.
    return json.loads(value) if isinstance(value, str) else list(value)


def _when(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime | dt.date) else value


def _json_tags(value: Any) -> list[Any]:
    return _tag_list(value) if value else []


JSON_VALUES: dict[str, Callable[[Any], Any]] = {"datetime": _when, "tags": _json_tags}


def json_writer(columns: Sequence[ExportColumn]) -> Callable[[Sequence[Any]], list]:
    """A function turning one row into JSON values (timestamps as ISO text, tags as
    arrays); other columns are written as they come."""
    converters = [(i, JSON_VALUES[c.kind]) for i, c in enumerate(columns) if c.kind in JSON_VALUES]

    def write(row: Sequence[Any]) -> list:
        values = list(row)
        for i, convert in converters:
            values[i] = convert(values[i])
        return values

    return write


# ---------------------------------------------------------------------------
# The export
# ---------------------------------------------------------------------------


def driver_statement(connection: Connection, statement: Select) -> tuple[str, dict[str, Any]]:
    """The SQL and parameters the driver would be sent for ``statement``: lists expanded,
    each value converted by its type. psycopg binds them into a COPY statement on the
    client, quoting each as a literal (COPY takes no parameters of its own)."""
    dialect = connection.dialect
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    parameters: dict[str, Any] = {}
    for name, value in compiled.construct_params().items():
        # An expanded list's values are named after it: id_1 -> id_1_1, id_1_2, ...
        bind = compiled.binds.get(name)
        if bind is None:
            bind = compiled.binds.get(name.rsplit("_", 1)[0])
        process = bind.type.bind_processor(dialect) if bind is not None else None
        parameters[name] = process(value) if process is not None else value
    return str(compiled), parameters


@dataclass(frozen=True)
class Export:
    """A checked export, ready to stream: its query, columns, format and file name."""

    statement: Select
    columns: tuple[ExportColumn, ...]
    format: str
    filename: str  # without the extension
    total: int  # records selected when the export was prepared
    dialect: str

    @property
    def extension(self) -> str:
        return self.format

    @property
    def content_type(self) -> str:
        return "text/csv" if self.format == "csv" else "application/json"

    def batches(self, factory: sessionmaker[Session]) -> Iterator[Sequence[Sequence[Any]]]:
        """The rows, :data:`BATCH` at a time, from one query streamed through a cursor
        (server-side on PostgreSQL). They are read in a session of their own: the
        response streams after the request's transaction has ended. CSV rows come ready
        from the database; JSON rows get their values converted here."""
        with factory() as session:
            connection = session.connection()
            result = connection.execute(self.statement.execution_options(yield_per=BATCH))
            if self.format == "csv":
                yield from result.partitions()
                return
            write = json_writer(self.columns)
            for rows in result.partitions():
                yield [write(row) for row in rows]

    def copied(self, factory: sessionmaker[Session]) -> Iterator[bytes]:
        """The rows as PostgreSQL writes them with ``COPY (query) TO STDOUT`` in CSV,
        passed on in chunks of about :data:`COPY_CHUNK` bytes: the database does the
        CSV work, and this process holds one chunk at a time."""
        with factory() as session:
            connection = session.connection()
            sql, parameters = driver_statement(connection, self.statement)
            cursor = connection.connection.driver_connection.cursor()
            with cursor, cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)", parameters) as copy:
                chunk = bytearray()
                for data in copy:
                    chunk += data
                    if len(chunk) >= COPY_CHUNK:
                        yield bytes(chunk)
                        chunk.clear()
                if chunk:
                    yield bytes(chunk)

    def body(self, factory: sessionmaker[Session]) -> Iterator[bytes]:
        """The file, streamed: JSON from the cursor; CSV through COPY on PostgreSQL, from
        the cursor elsewhere. Lines end with ``\n`` either way (as COPY writes them)."""
        names = [c.name for c in self.columns]
        if self.format == "json":
            return json_stream(names, self.batches(factory))
        if self.dialect == "postgresql":
            return _after(csv_header(names, "\n"), self.copied(factory))
        return csv_batches(names, self.batches(factory), lineterminator="\n")


def _after(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    # A generator, not itertools.chain: the server closes it (and the cursor with it)
    # when the client goes away.
    yield first
    yield from rest


def export_statement(
    session: Session, resolved: Resolved, columns: Sequence[ExportColumn], fmt: str
) -> Select:
    """One query of the selected records' columns, in id order (for CSV, each column
    written as its cell). It runs as Core, without the ORM's soft-delete criteria: the
    selection's conditions and the account join say "live" themselves."""
    kind = resolved.kind
    ctx = FilterContext(
        session=session,
        entity=kind.entity,
        viewer=None,
        now=dt.datetime.now(dt.UTC),
        dialect=session.get_bind().dialect.name,
    )
    values = []
    for i, column in enumerate(columns):
        value = column.value(ctx)
        values.append((csv_cell(column.kind, value) if fmt == "csv" else value).label(f"c{i}"))
    stmt = select(*values).select_from(ctx.root)
    if "account" in ctx.joins:  # a contact's account, as the filters join it
        account = ctx.joins["account"]
        stmt = stmt.outerjoin(
            account, and_(account.id == ctx.root.account_id, account.deleted_at.is_(None))
        )
    return stmt.where(*resolved.conditions).order_by(ctx.root.id)


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
        statement=export_statement(session, resolved, chosen, fmt),
        columns=tuple(chosen),
        format=fmt,
        filename=f"{filename}-{stamp}",
        total=resolved.total,
        dialect=session.get_bind().dialect.name,
    )
