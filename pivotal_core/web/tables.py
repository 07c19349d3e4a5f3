"""The staff UI's data table: sortable columns, a column choice remembered per user,
keyset paging, quick search, and selections that span pages ("all N matching")."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from pyramid.request import Request
from sqlalchemy import Select, func, select

from pivotal_core.api.pagination import SortKey, keyset_page, sort_parameter
from pivotal_core.audience.bulk import Selection
from pivotal_core.errors import ValidationFailed

PAGE_SIZES = (25, 50, 100)
MAX_SELECTED_IDS = 10_000


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    value: Callable[[Any], Any]
    sort: str | None = None
    mono: bool = False
    default: bool = True
    link: bool = False
    # A link to another record's page (a contact's account): ``href(request, row)``.
    href: Callable[[Request, Any], str | None] | None = None


@dataclass(frozen=True)
class DataTable:
    name: str
    model: type
    columns: tuple[Column, ...]
    sort_keys: Mapping[str, SortKey]
    default_sort: str
    search: Callable[[str], Any]
    detail_route: str
    list_route: str

    def column_keys(self) -> list[str]:
        return [c.key for c in self.columns]

    def preferences(self, request: Request) -> dict[str, Any]:
        prefs = (request.identity.user.preferences or {}) if request.identity else {}
        return dict((prefs.get("tables") or {}).get(self.name) or {})

    def visible_columns(self, request: Request) -> list[Column]:
        chosen = self.preferences(request).get("columns")
        if chosen:
            by_key = {c.key: c for c in self.columns}
            visible = [by_key[k] for k in chosen if k in by_key]
            if visible:
                return visible
        return [c for c in self.columns if c.default]

    def base_statement(self, deleted: bool) -> Select:
        stmt = select(self.model)
        if deleted:
            stmt = stmt.where(self.model.deleted_at.is_not(None)).execution_options(
                include_deleted=True
            )
        return stmt

    def filtered(self, q: str, deleted: bool) -> Select:
        stmt = self.base_statement(deleted)
        if q:
            stmt = stmt.where(self.search(q))
        return stmt

    def view(self, request: Request) -> TableView:
        params = request.GET
        q = params.get("q", "").strip()[:200]
        deleted = params.get("deleted") == "only"
        sort = params.get("sort") or self.preferences(request).get("sort") or self.default_sort
        try:
            sort_parameter(sort, self.sort_keys, self.default_sort)
        except ValidationFailed:
            sort = self.default_sort
        try:
            size = int(params.get("size") or self.preferences(request).get("size") or 50)
        except ValueError:
            size = 50
        size = size if size in PAGE_SIZES else 50
        stmt = self.filtered(q, deleted)
        page = keyset_page(
            request.dbsession,
            stmt,
            self.model.id,
            self.sort_keys,
            sort=sort,
            default_sort=self.default_sort,
            limit=size,
            cursor=params.get("cursor") or None,
        )
        total = request.dbsession.scalar(
            select(func.count()).select_from(stmt.with_only_columns(self.model.id).subquery())
        )
        return TableView(
            table=self,
            request=request,
            rows=page.items,
            columns=self.visible_columns(request),
            next_cursor=page.next_cursor,
            prev_cursor=page.prev_cursor,
            total=total or 0,
            q=q,
            sort=sort,
            deleted=deleted,
            size=size,
            density=self.preferences(request).get("density", "comfortable"),
        )

    def selection_scope(self) -> dict[str, Any]:
        """What limits the table besides its quick filter, as :class:`Selection` fields
        (a table of one list's members: ``{"list_id": 3}``)."""
        return {}

    def selection(self, entity: str, values: Mapping[str, Any]) -> Selection:
        """What a bulk form picked (see ``web/table.jinja2``): explicit ``ids``, or every
        record matching the quick filter ``q`` (and the table's scope) when
        ``all_matching`` is set, less ``exclude``; soft-deleted ones when the form came
        from "Show deleted". Bulk operations and exports resolve it in the database, a
        chunk at a time, however many records it holds."""
        deleted = values.get("deleted") == "only"
        if values.get("all_matching") == "1":
            return Selection(
                entity,
                q=str(values.get("q", "")).strip()[:200] or None,
                all=True,
                exclude=tuple(_ids(values.get("exclude", ""))),
                deleted=deleted,
                **self.selection_scope(),
            )
        ids = _ids(values.get("ids", ""))
        if not ids:
            raise ValidationFailed({"ids": "select at least one record"})
        return Selection(entity, record_ids=tuple(ids), deleted=deleted)

    def selected_ids(self, request: Request, values: Mapping[str, Any]) -> list[int]:
        """The ids a bulk action applies to: explicit ``ids``, or every record matching
        ``q`` (and ``deleted``) when ``all_matching`` is set, less ``exclude``."""
        if values.get("all_matching") == "1":
            stmt = self.filtered(str(values.get("q", ""))[:200], values.get("deleted") == "only")
            ids = list(request.dbsession.scalars(stmt.with_only_columns(self.model.id)))
            excluded = set(_ids(values.get("exclude", "")))
            return [i for i in ids if i not in excluded]
        ids = _ids(values.get("ids", ""))
        if not ids:
            raise ValidationFailed({"ids": "select at least one record"})
        return ids


def _ids(raw: str) -> list[int]:
    ids: list[int] = []
    for part in str(raw).split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit():
            raise ValidationFailed({"ids": f"{part!r} is not a record id"})
        ids.append(int(part))
    if len(ids) > MAX_SELECTED_IDS:
        raise ValidationFailed(
            {"ids": f"at most {MAX_SELECTED_IDS} records by id; use 'select all matching'"}
        )
    return ids


@dataclass
class TableView:
    table: DataTable
    request: Request
    rows: Sequence[Any]
    columns: list[Column]
    next_cursor: str | None
    prev_cursor: str | None
    total: int
    q: str
    sort: str
    deleted: bool
    size: int
    density: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def sort_key(self) -> str:
        return self.sort.lstrip("-")

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")

    def url(self, **changes: Any) -> str:
        params: dict[str, Any] = {
            "q": self.q or None,
            "sort": self.sort if self.sort != self.table.default_sort else None,
            "deleted": "only" if self.deleted else None,
            "size": self.size if self.size != 50 else None,
        }
        params.update(changes)
        query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
        path = self.request.route_path(self.table.list_route)
        return f"{path}?{query}" if query else path

    def sort_url(self, column: Column) -> str:
        name = column.sort or column.key
        next_sort = f"-{name}" if self.sort == name else name
        return self.url(sort=next_sort, cursor=None)

    def detail_url(self, row: Any) -> str:
        return self.request.route_path(self.table.detail_route, id=row.id)
