"""Keyset pagination: stable pages over any allowed sort column, tie-broken by id."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import colander
from sqlalchemy import Select, tuple_
from sqlalchemy.orm import Session

from pivotal_core.errors import ValidationFailed


@dataclass(frozen=True)
class SortKey:
    """A sortable column: ``expression`` must be NOT NULL (wrap nullable ones in coalesce)."""

    name: str
    expression: Any
    kind: str = "text"  # text, number, datetime


@dataclass
class Page:
    items: list[Any]
    next_cursor: str | None
    prev_cursor: str | None


def encode_cursor(sort: str, value: Any, row_id: int, direction: str) -> str:
    if isinstance(value, dt.datetime):
        value = value.isoformat()
    raw = json.dumps({"s": sort, "v": value, "id": row_id, "d": direction}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str, key: SortKey) -> tuple[Any, int, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        value, row_id, direction = data["v"], int(data["id"]), data["d"]
        if data["s"] != sort or direction not in ("next", "prev"):
            raise ValueError("cursor belongs to another sort order")
        if key.kind == "datetime":
            value = dt.datetime.fromisoformat(value)
        elif key.kind == "number" and not isinstance(value, int | float):
            raise ValueError("bad value")
        elif key.kind == "text" and not isinstance(value, str):
            raise ValueError("bad value")
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValidationFailed({"cursor": "is not a valid cursor for this list and sort"}) from exc
    return value, row_id, direction


def sort_parameter(sort: str | None, keys: Mapping[str, SortKey], default: str) -> tuple[str, bool]:
    """``-created_at`` -> ("created_at", descending=True); unknown names are a 400."""
    sort = sort or default
    descending = sort.startswith("-")
    name = sort.lstrip("-")
    if name not in keys:
        raise ValidationFailed(
            {"sort": f"must be one of {', '.join(sorted(keys))} (prefix - to reverse)"}
        )
    return name, descending


def keyset_page(
    session: Session,
    stmt: Select,
    id_column: Any,
    keys: Mapping[str, SortKey],
    *,
    sort: str | None,
    default_sort: str,
    limit: int,
    cursor: str | None,
) -> Page:
    """Run ``stmt`` (selecting one entity) for one page in the requested order."""
    name, descending = sort_parameter(sort, keys, default_sort)
    key = keys[name]
    sort_token = ("-" if descending else "") + name
    direction = "next"
    if cursor:
        value, row_id, direction = decode_cursor(cursor, sort_token, key)
        forward = descending if direction == "prev" else not descending
        position = tuple_(key.expression, id_column)
        stmt = stmt.where(
            position > tuple_(value, row_id) if forward else position < tuple_(value, row_id)
        )
    reverse = direction == "prev"
    ascending = descending == reverse
    order = (
        [key.expression.asc(), id_column.asc()]
        if ascending
        else [key.expression.desc(), id_column.desc()]
    )
    rows = list(session.execute(stmt.add_columns(key.expression).order_by(*order).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    if reverse:
        rows.reverse()
    items = [row[0] for row in rows]

    def at(row: Sequence[Any], to: str) -> str:
        return encode_cursor(sort_token, row[-1], row[0].id, to)

    has_next = more if not reverse else bool(cursor)
    has_prev = bool(cursor) if not reverse else more
    return Page(
        items=items,
        next_cursor=at(rows[-1], "next") if rows and has_next else None,
        prev_cursor=at(rows[0], "prev") if rows and has_prev else None,
    )


def add_page_parameters(
    schema: colander.SchemaNode, max_limit: int, default_limit: int
) -> colander.SchemaNode:
    """Add ``limit`` and ``cursor``, the parameters of every keyset-paged list."""
    schema.add(
        colander.SchemaNode(
            colander.Int(),
            name="limit",
            missing=default_limit,
            validator=colander.Range(1, max_limit),
            description=f"page size, 1 to {max_limit}",
        )
    )
    schema.add(
        colander.SchemaNode(
            colander.String(),
            name="cursor",
            missing=None,
            description="next_cursor or prev_cursor of the previous page",
        )
    )
    return schema


def list_query_schema(max_limit: int, default_limit: int) -> colander.SchemaNode:
    """Query parameters every list endpoint takes."""
    schema = add_page_parameters(colander.SchemaNode(colander.Mapping()), max_limit, default_limit)
    schema.add(
        colander.SchemaNode(
            colander.String(),
            name="sort",
            missing=None,
            description="sort column; prefix - for descending",
        )
    )
    schema.add(
        colander.SchemaNode(
            colander.String(),
            name="q",
            missing=None,
            validator=colander.Length(max=200),
            description="quick search",
        )
    )
    return add_deleted_parameter(schema, "records")


def add_deleted_parameter(schema: colander.SchemaNode, noun: str) -> colander.SchemaNode:
    """``deleted``: ``exclude`` (the default) or ``only`` the soft-deleted ``noun``."""
    schema.add(
        colander.SchemaNode(
            colander.String(),
            name="deleted",
            missing="exclude",
            validator=colander.OneOf(["exclude", "only"]),
            description=f"exclude (default) or only soft-deleted {noun}",
        )
    )
    return schema
