"""The staff UI's record pages, shared by accounts and contacts: the list, the detail page
with each field's provenance and the audit history, create and edit forms, delete and
restore, and the list's bulk toolbar (export; add to or remove from a list, update a field,
tag, untag, delete, restore), which calls the bulk operations of ``audience.bulk`` as the
API does: inline for small selections, as a job with live progress above
``bulk.INLINE_LIMIT`` records.

An area describes its pages with a :class:`RecordPages` and calls :func:`add_record_pages`
from its ``includeme``, as the API does with ``add_record_endpoints``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import colander
from markupsafe import Markup
from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPFound, HTTPSeeOther
from pyramid.interfaces import IRoutesMapper
from pyramid.request import Request
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from pivotal_core.api.records import request_actor
from pivotal_core.api.validation import deserialize
from pivotal_core.audience import services as audience
from pivotal_core.audience.api import viewer as audience_viewer
from pivotal_core.audience.bulk import (
    BULK_TASK,
    VERBS,
    Operation,
    RecordType,
    Submitted,
    add_record_type,
    permissions_needed,
    submit,
)
from pivotal_core.audience.bulk_api import export_response
from pivotal_core.audience.exports import export_selection
from pivotal_core.audience.models import AudienceList
from pivotal_core.audit.models import AuditEvent
from pivotal_core.audit.services import field_changes, record_history
from pivotal_core.authnz.permissions import Permission
from pivotal_core.customfields.models import CustomFieldDefinition
from pivotal_core.dataquality.explain import rule_text
from pivotal_core.dataquality.survivorship import SETTING as SOURCE_PRIORITY_SETTING
from pivotal_core.dataquality.survivorship import load_policy
from pivotal_core.errors import Conflict, PivotalError, Unprocessable, ValidationFailed
from pivotal_core.jobs.queue import registered_task
from pivotal_core.records import custom_field_definitions
from pivotal_core.users.models import User
from pivotal_core.web.pages import safe_next
from pivotal_core.web.tables import DataTable

HISTORY_LIMIT = 50
FORM_ERRORS = (ValidationFailed, Conflict, Unprocessable)


# ---------------------------------------------------------------- describing an area's pages


@dataclass(frozen=True)
class RecordTable(DataTable):
    """A data table whose rows come with related records loaded (``load_options``), so
    that columns may show, say, a contact's account name without a query per row."""

    load_options: tuple[Any, ...] = ()

    def base_statement(self, deleted: bool) -> Select:
        return super().base_statement(deleted).options(*self.load_options)


@dataclass(frozen=True)
class Reference:
    """A field holding the id of another record: where its page is and what it is called."""

    route: str
    label: Callable[[Session, int], str | None]


@dataclass(frozen=True)
class FormField:
    """One input of a record form. ``kind`` says how the submitted text is read:
    text, textarea, email, tel, url, date, select (as text); integer, decimal, bool;
    list (comma-separated); reference (an id, see ``reference``)."""

    name: str
    label: str
    kind: str = "text"
    required: bool = False
    help: str | None = None
    options: tuple[tuple[str, str], ...] | None = None
    reference: Reference | None = None

    @property
    def input_type(self) -> str:
        return {
            "integer": "number",
            "decimal": "number",
            "reference": "number",
            "tel": "tel",
            "date": "date",
            "textarea": "textarea",
        }.get(self.kind, "text")

    @property
    def attrs(self) -> Markup:
        if self.kind == "decimal":
            return Markup('step="any"')
        if self.kind in ("integer", "reference"):
            return Markup('min="0" step="1"')
        # Text inputs, not type=email/url: the browser's rules are not ours (it refuses
        # some addresses the server accepts), and the server's errors show beside the field.
        if self.kind == "email":
            return Markup('inputmode="email" autocomplete="off" spellcheck="false"')
        if self.kind == "url":
            return Markup('inputmode="url" spellcheck="false"')
        return Markup("")


@dataclass(frozen=True)
class DetailField:
    """One field on the detail page; ``kind`` picks its rendering: text, mono, number,
    tags, longtext, email, tel, url, reference."""

    key: str
    label: str
    kind: str = "text"
    reference: Reference | None = None


@dataclass(frozen=True)
class BulkAction:
    """A button of the table's bulk bar (see ``web/table.jinja2``). An action that needs
    more than the selection opens a small form: ``inputs`` names it (``list``: a list to
    pick from ``options``; ``field``: a field from ``options`` and a value; ``tags``)."""

    url: str
    label: str
    confirm: str | None = None  # "{count}" is replaced by the number selected
    style: str | None = None
    download: bool = False  # answers with a file: the page and its selection stay
    inputs: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    note: str | None = None  # shown in the action's form (why it cannot be used, ...)


@dataclass(frozen=True)
class RecordPages:
    entity: str  # "account": route names web.account, web.account_new, ...
    plural: str  # "accounts": paths /accounts/..., route names web.accounts, ...
    model: type
    table: RecordTable
    label: Callable[[Any], str]
    input_schema: Callable[[], colander.SchemaNode]
    form: tuple[tuple[str, tuple[FormField, ...]], ...]
    details: tuple[tuple[str, tuple[DetailField, ...]], ...]
    get: Callable[..., Any]
    create: Callable[..., Any]
    update: Callable[..., Any]
    delete: Callable[..., Any]
    restore: Callable[..., Any]
    read_permission: str
    write_permission: str
    delete_permission: str
    # Bulk edits: values checked once for every record, then each record's own rules
    # (the area's ``prepare_changes`` and ``check_changes``); fields no bulk edit sets.
    prepare_changes: Callable[..., dict[str, Any]]
    check_changes: Callable[..., None]
    unique_fields: tuple[str, ...] = ()
    derived_fields: tuple[str, ...] = ()
    # Area-specific parts of the detail page (hierarchy, contacts at the account, ...).
    detail_extra: Callable[[Request, Any], dict[str, Any]] = lambda request, record: {}

    @property
    def plural_title(self) -> str:
        return self.plural.capitalize()

    def template(self, page: str) -> str:
        return f"{self.plural}/{page}.jinja2"

    def route(self, page: str = "") -> str:
        """``route()`` -> web.account; ``route("edit")`` -> web.account_edit."""
        return f"web.{self.entity}" + (f"_{page}" if page else "")

    def list_route(self, page: str = "") -> str:
        return f"web.{self.plural}" + (f"_{page}" if page else "")

    def record_type(self) -> RecordType:
        """The records as bulk operations and exports see them."""
        return RecordType(
            entity=self.entity,
            plural=self.plural,
            model=self.model,
            search=self.table.search,
            input_schema=self.input_schema,
            prepare_changes=self.prepare_changes,
            check_changes=self.check_changes,
            delete=self.delete,
            restore=self.restore,
            read_permission=self.read_permission,
            write_permission=self.write_permission,
            delete_permission=self.delete_permission,
            derived_fields=self.derived_fields,
        )

    def form_fields(self) -> list[FormField]:
        return [f for _, fields in self.form for f in fields]


# ---------------------------------------------------------------- display helpers


def when(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") if value else None


def number(value: int | float | None) -> str | None:
    return f"{value:,}" if value is not None else None


def display_value(value: Any, limit: int = 200) -> str:
    """A field value as short text for the history and provenance."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        text = ", ".join(str(v) for v in value)
    elif isinstance(value, dict):
        text = "; ".join(f"{k}={v}" for k, v in sorted(value.items()))
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def actor_labels(session: Session, user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    rows = session.execute(select(User.id, User.full_name, User.email).where(User.id.in_(user_ids)))
    return {row.id: row.full_name or row.email for row in rows}


@dataclass(frozen=True)
class Provenance:
    """Why a field has its value: who or what set it, through which channel, when, and the
    survivorship rule that keeps it (links go to the job, import batch and merge)."""

    source: str
    at: str | None
    actor: str | None
    job_id: int | None
    batch: int | None
    manual: bool
    merge_id: int | None = None
    rule: str | None = None
    job_url: str | None = None
    batch_url: str | None = None
    merge_url: str | None = None

    @classmethod
    def of(
        cls,
        entry: Mapping[str, Any] | None,
        actors: Mapping[int, str],
        *,
        rule: str | None = None,
        urls: Mapping[str, str | None] | None = None,
    ) -> Provenance | None:
        if not entry:
            return None
        at = entry.get("at")
        try:
            at = when(dt.datetime.fromisoformat(at)) if at else None
        except (TypeError, ValueError):
            at = str(at)
        actor_id = entry.get("actor_id")
        merge_id = entry.get("merge_id")
        urls = urls or {}
        return cls(
            source=str(entry.get("source") or "unknown"),
            at=at,
            actor=actors.get(actor_id, f"user {actor_id}") if actor_id else None,
            job_id=entry.get("job_id"),
            batch=entry.get("batch"),
            manual=bool(entry.get("manual")),
            merge_id=merge_id if isinstance(merge_id, int) else None,
            rule=rule,
            job_url=urls.get("job"),
            batch_url=urls.get("batch"),
            merge_url=urls.get("merge"),
        )

    @property
    def summary(self) -> str:
        parts = [self.source]
        if self.actor:
            parts.append(self.actor)
        if self.batch is not None:
            parts.append(f"batch {self.batch}")
        if self.job_id is not None:
            parts.append(f"job {self.job_id}")
        if self.merge_id is not None:
            parts.append(f"merge {self.merge_id}")
        if self.at:
            parts.append(self.at)
        return " · ".join(parts)

    @property
    def explanation(self) -> str:
        text = f"Set through {self.source}"
        if self.actor:
            text += f" by {self.actor}"
        if self.batch is not None:
            text += f", import batch {self.batch}"
        if self.job_id is not None:
            text += f", in job {self.job_id}"
        if self.at:
            text += f", at {self.at} UTC"
        if self.merge_id is not None:
            text += f"; kept by merge {self.merge_id}"
        if self.manual:
            text += "; typed by a person, so imports do not overwrite it"
        return text + "."


# The import batch page (dataquality/pages.py).
IMPORT_BATCH_ROUTE = "web.import"


def route_exists(request: Request, name: str) -> bool:
    return request.registry.getUtility(IRoutesMapper).get_route(name) is not None


class ProvenanceDisplay:
    """Provenance entries of one entity's records as pages show them: actors by name, the
    job, batch and merge behind a value as links the user may open, and the survivorship
    rule (``dataquality.explain``) that keeps it against imports."""

    def __init__(
        self,
        request: Request,
        entity: str,
        records: Iterable[Any] = (),
        actor_ids: Iterable[int | None] = (),
    ) -> None:
        session = request.dbsession
        ids = set(actor_ids)
        for record in records:
            entries = (record.field_provenance or {}).values()
            ids |= {e.get("actor_id") for e in entries if isinstance(e, dict)}
        self.request = request
        self.actors = actor_labels(session, {i for i in ids if isinstance(i, int)})
        self.policy = load_policy(
            session, entity, request.registry.settings.get(SOURCE_PRIORITY_SETTING)
        )
        allowed = request.identity.permissions if request.identity else frozenset()
        self.routes = {
            "job": "web.job" if Permission.JOBS_READ in allowed else None,
            "batch": IMPORT_BATCH_ROUTE if Permission.DATAQUALITY_IMPORT in allowed else None,
            "merge": "web.merge" if Permission.DATAQUALITY_READ in allowed else None,
        }
        self.routes = {
            kind: name
            for kind, name in self.routes.items()
            if name is not None and route_exists(request, name)
        }

    def __call__(self, key: str, entry: Mapping[str, Any] | None) -> Provenance | None:
        if not entry:
            return None
        ids = {
            "job": entry.get("job_id"),
            "batch": entry.get("batch"),
            "merge": entry.get("merge_id"),
        }
        urls = {
            kind: self.request.route_path(route, id=ids[kind])
            for kind, route in self.routes.items()
            if isinstance(ids[kind], int)
        }
        return Provenance.of(entry, self.actors, rule=rule_text(self.policy, key, entry), urls=urls)

    def row(self, f: DetailField, record: Any) -> FieldRow:
        """A detail field of ``record``: its value (a reference as its name and link) and
        the value's provenance."""
        value = getattr(record, f.key)
        href = None
        if f.reference is not None and value is not None:
            href = self.request.route_path(f.reference.route, id=value)
            value = f.reference.label(self.request.dbsession, value) or f"#{value}"
        entry = (record.field_provenance or {}).get(f.key)
        return FieldRow(f.key, f.label, f.kind, value, href, self(f.key, entry))


@dataclass(frozen=True)
class FieldRow:
    key: str
    label: str
    kind: str
    value: Any
    href: str | None = None
    provenance: Provenance | None = None

    @property
    def empty(self) -> bool:
        return self.value is None or self.value == "" or self.value == []

    @property
    def text(self) -> str:
        if self.kind == "number" and isinstance(self.value, int | float):
            return f"{self.value:,}"
        return display_value(self.value, limit=10_000)


@dataclass
class HistoryEntry:
    """Audit events written together (one change of one record), newest first."""

    at: str
    action: str
    source: str
    actor: str | None
    job_id: int | None
    request_id: str | None
    changes: list[tuple[str, str, str]] = field(default_factory=list)


def history_entries(events: Sequence[AuditEvent], actors: Mapping[int, str]) -> list[HistoryEntry]:
    entries: list[HistoryEntry] = []
    last_key: tuple | None = None
    for event in events:
        key = (
            event.created_at,
            event.action,
            event.actor_id,
            event.source,
            event.request_id,
            event.job_id,
        )
        if key != last_key:
            entries.append(
                HistoryEntry(
                    at=when(event.created_at) or "",
                    action=event.action,
                    source=event.source,
                    actor=actors.get(event.actor_id, f"user {event.actor_id}")
                    if event.actor_id
                    else None,
                    job_id=event.job_id,
                    request_id=event.request_id,
                )
            )
            last_key = key
        entries[-1].changes.extend(
            (name, display_value(old), display_value(new))
            for name, old, new in field_changes(event)
        )
    for entry in entries:
        entry.changes.sort()
    return entries


# ---------------------------------------------------------------- forms


def custom_form_fields(definitions: Mapping[str, CustomFieldDefinition]) -> list[FormField]:
    fields = []
    for key, d in sorted(definitions.items(), key=lambda kv: kv[1].label.lower()):
        name = f"custom_fields.{key}"
        if d.type == "number":
            fields.append(FormField(name, d.label, "decimal", help=d.description))
        elif d.type == "bool":
            fields.append(
                FormField(
                    name,
                    d.label,
                    "bool",
                    help=d.description,
                    options=(("true", "Yes"), ("false", "No")),
                )
            )
        elif d.type == "enum":
            options = tuple((str(o), str(o)) for o in d.options)
            fields.append(FormField(name, d.label, "select", help=d.description, options=options))
        elif d.type == "tags":
            fields.append(FormField(name, d.label, "list", help="comma-separated"))
        elif d.type == "date":
            fields.append(FormField(name, d.label, "date", help=d.description))
        else:
            fields.append(FormField(name, d.label, "text", help=d.description))
    return fields


def form_text(value: Any) -> str:
    """A stored value as the text its form input shows."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def _read(f: FormField, raw: str) -> Any:
    """The submitted text of one field as the value the schema and service take."""
    text = raw.strip()
    if f.kind == "list":
        parts = [part.strip() for part in text.split(",")]
        return [part for part in parts if part] or None
    if not text:
        return None
    if f.kind in ("integer", "reference"):
        if not text.isdigit() or len(text) > 18:
            raise ValueError("must be a whole number")
        return int(text)
    if f.kind == "decimal":
        try:
            value = float(text)
        except ValueError:
            raise ValueError("must be a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("must be a number")
        return int(value) if value.is_integer() and "." not in text else value
    if f.kind == "bool":
        if text not in ("true", "false"):
            raise ValueError("must be yes or no")
        return text == "true"
    return text


def parse_form(
    pages: RecordPages,
    post: Mapping[str, str],
    custom: Sequence[FormField],
    *,
    partial: bool = False,
) -> dict[str, Any]:
    """The form's values, checked by the area's input schema (the API's own rules);
    ``partial`` for an edit, where only the submitted fields change."""
    values: dict[str, Any] = {}
    custom_values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in pages.form_fields() + list(custom):
        if f.name not in post:
            continue  # not on the submitted form: left as it is, not cleared
        try:
            value = _read(f, post.get(f.name, ""))
        except ValueError as exc:
            errors[f.name] = str(exc)
            continue
        if f.name.startswith("custom_fields."):
            custom_values[f.name.split(".", 1)[1]] = value
        else:
            values[f.name] = value
    if custom_values:
        values["custom_fields"] = custom_values
    try:
        data = deserialize(
            pages.input_schema(),
            {k: v for k, v in values.items() if k not in errors},
            partial=partial,
        )
    except ValidationFailed as exc:
        errors = {**exc.fields, **errors}
        data = {}
    if errors:
        raise ValidationFailed(errors)
    # Absent from the form means "not edited here" (external ids), not "clear it".
    return {k: v for k, v in data.items() if k in values}


def field_errors(fields: Mapping[str, str], names: set[str]) -> tuple[dict[str, str], list[str]]:
    """Service errors placed beside their inputs (``secondary_domains.[2]`` belongs to
    ``secondary_domains``); those without an input are returned separately."""
    placed: dict[str, str] = {}
    other: list[str] = []
    for key, message in fields.items():
        name = key if key in names else key.split(".", 1)[0]
        if name in names:
            placed[name] = f"{placed[name]}; {message}" if name in placed else message
        else:
            other.append(f"{key}: {message}")
    return placed, other


def _references(request: Request, fields: Sequence[FormField], values: Mapping[str, str]):
    """The records that reference inputs currently point at, to show their names."""
    found: dict[str, tuple[str, str]] = {}
    for f in fields:
        raw = (values.get(f.name) or "").strip()
        if f.reference is None or not raw.isdigit() or len(raw) > 18:
            continue
        name = f.reference.label(request.dbsession, int(raw))
        if name is not None:
            found[f.name] = (name, request.route_path(f.reference.route, id=int(raw)))
    return found


def form_page(
    request: Request,
    pages: RecordPages,
    record: Any,
    values: Mapping[str, str],
    error: PivotalError | None = None,
) -> dict[str, Any]:
    definitions = custom_field_definitions(request.dbsession, pages.entity)
    custom = custom_form_fields(definitions)
    fieldsets = [(title, list(fields)) for title, fields in pages.form]
    if custom:
        fieldsets.append(("Custom fields", custom))
    names = {f.name for _, fields in fieldsets for f in fields}
    errors, other = field_errors(error.fields, names) if error else ({}, [])
    if record is None:
        action = request.route_path(pages.route("new"))
        cancel = request.route_path(pages.list_route())
    else:
        action = request.route_path(pages.route("edit"), id=record.id)
        cancel = request.route_path(pages.route(), id=record.id)
    return {
        "pages": pages,
        "record": record,
        "record_label": pages.label(record) if record is not None else None,
        "fieldsets": fieldsets,
        "values": values,
        "errors": errors,
        "other_errors": other,
        "summary": None if error is None or isinstance(error, ValidationFailed) else error.message,
        "references": _references(request, [f for _, fs in fieldsets for f in fs], values),
        "action_url": action,
        "cancel_url": cancel,
    }


def record_form_values(pages: RecordPages, record: Any) -> dict[str, str]:
    values = {f.name: form_text(getattr(record, f.name)) for f in pages.form_fields()}
    for key, value in (record.custom_fields or {}).items():
        values[f"custom_fields.{key}"] = form_text(value)
    return values


def submitted_values(post: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in post.items() if k != "csrf_token"}


def refuse(request: Request, error: PivotalError) -> None:
    """Nothing of a refused form is kept: the transaction is doomed, the status says why."""
    request.tm.doom()
    request.response.status_int = error.status


# ---------------------------------------------------------------- bulk work


def _record_id(request: Request) -> int:
    return int(request.matchdict["id"])


def _back(request: Request, pages: RecordPages) -> HTTPSeeOther:
    came_from = request.POST.get("came_from")
    location = safe_next(came_from) if came_from else request.route_path(pages.list_route())
    return HTTPSeeOther(location=location)


def bulk_fields(pages: RecordPages, custom: Sequence[FormField]) -> list[FormField]:
    """The fields the toolbar's "Update field" may set: the form's and the custom fields,
    less those that identify one record (an email, a domain)."""
    return [f for f in [*pages.form_fields(), *custom] if f.name not in pages.unique_fields]


# (route suffix, path, bulk action) of the list's bulk actions besides the export.
BULK_ROUTES = (
    ("update_selected", "/update-selected", "update"),
    ("tag_selected", "/tag-selected", "tag"),
    ("untag_selected", "/untag-selected", "untag"),
    ("add_selected_to_list", "/add-selected-to-list", "add_to_list"),
    ("remove_selected_from_list", "/remove-selected-from-list", "remove_from_list"),
    ("delete_selected", "/delete-selected", "delete"),
    ("restore_selected", "/restore-selected", "restore"),
)
LIST_PICKER_LIMIT = 200


def _list_options(request: Request, entity: str) -> tuple[tuple[str, str], ...]:
    stmt = audience.shared_query(AudienceList, audience_viewer(request), entity, None)
    lists = request.dbsession.scalars(stmt.order_by(AudienceList.name).limit(LIST_PICKER_LIMIT))
    return tuple((str(item.id), f"{item.name} ({item.member_count:,})") for item in lists)


def bulk_actions(request: Request, pages: RecordPages, deleted: bool) -> list[BulkAction]:
    """The bulk bar's actions the user's role allows (each route checks it again)."""
    allowed = request.identity.permissions
    url = lambda suffix: request.route_path(pages.list_route(suffix))  # noqa: E731
    plural = pages.plural
    actions = [BulkAction(url("export"), "Export CSV", download=True)]
    if deleted:
        if pages.delete_permission in allowed:
            actions.append(
                BulkAction(
                    url("restore_selected"),
                    "Restore",
                    confirm=f"Restore {{count}} {plural}?",
                    style="primary",
                )
            )
        return actions
    if Permission.AUDIENCE_WRITE in allowed:
        options = _list_options(request, pages.entity)
        note = None if options else f"No {pages.entity} lists to choose from yet."
        for suffix, label, verb in (
            ("add_selected_to_list", "Add to list", "Add {count} %s to the chosen list?"),
            (
                "remove_selected_from_list",
                "Remove from list",
                "Remove {count} %s from the chosen list? The records themselves stay.",
            ),
        ):
            actions.append(
                BulkAction(
                    url(suffix),
                    label,
                    confirm=verb % plural,
                    inputs="list",
                    options=options,
                    note=note,
                )
            )
    if pages.write_permission in allowed:
        custom = custom_form_fields(custom_field_definitions(request.dbsession, pages.entity))
        fields = tuple((f.name, f.label) for f in bulk_fields(pages, custom))
        actions += [
            BulkAction(
                url("update_selected"),
                "Update field",
                confirm=f"Set the chosen field on {{count}} {plural}?",
                inputs="field",
                options=fields,
            ),
            BulkAction(
                url("tag_selected"), "Tag", confirm=f"Tag {{count}} {plural}?", inputs="tags"
            ),
            BulkAction(
                url("untag_selected"),
                "Untag",
                confirm=f"Remove these tags from {{count}} {plural}?",
                inputs="tags",
            ),
        ]
    if pages.delete_permission in allowed:
        actions.append(
            BulkAction(
                url("delete_selected"),
                "Delete",
                confirm=f"Delete {{count}} {plural}? They can be restored from “Show deleted”.",
                style="danger",
            )
        )
    return actions


def bulk_operation(request: Request, pages: RecordPages, action: str) -> Operation:
    """The operation a toolbar form asks for: its field and value (read like the record
    form's), its tags or its list."""
    post = request.POST
    if action == "update":
        custom = custom_form_fields(custom_field_definitions(request.dbsession, pages.entity))
        name = post.get("field", "")
        if name not in {f.name for f in bulk_fields(pages, custom)}:
            raise ValidationFailed({"field": "choose a field to change"})
        values = parse_form(pages, {name: post.get("value", "")}, custom, partial=True)
        return Operation(action, values=values)
    if action in ("tag", "untag"):
        return Operation(action, tags=tuple(post.get("tags", "").split(",")))
    if action in ("add_to_list", "remove_from_list"):
        raw = post.get("list_id", "")
        if not raw.isdigit() or len(raw) > 18:
            raise ValidationFailed({"list_id": "choose a list"})
        return Operation(action, list_id=int(raw))
    return Operation(action)


def bulk_refused(request: Request, pages: RecordPages, exc: PivotalError) -> HTTPSeeOther:
    """A bulk action refused as a whole: nothing is kept, the reason is shown."""
    request.tm.doom()
    details = "; ".join(f"{k}: {v}" for k, v in exc.fields.items())
    request.session.flash(details or exc.message, "error")
    return _back(request, pages)


def bulk_done(request: Request, pages: RecordPages, submitted: Submitted) -> HTTPSeeOther:
    """Back to the list with what was done; a job goes to its page, which shows its
    progress live."""
    running, done = VERBS[submitted.action]
    if submitted.job is not None:
        request.session.flash(
            f"{running} {submitted.total:,} {pages.plural} in the background; "
            "this page shows the progress.",
            "info",
        )
        if Permission.JOBS_READ in request.identity.permissions:
            return HTTPSeeOther(location=request.route_path("web.job", id=submitted.job.id))
        return _back(request, pages)
    result = submitted.result
    if not result.total:
        request.session.flash(f"No {pages.plural} match the selection.", "info")
        return _back(request, pages)
    request.session.flash(result.summary(pages.plural), "success")
    if result.refused:
        details = "; ".join(f"{pages.entity} {k}: {v}" for k, v in list(result.refused.items())[:5])
        request.session.flash(
            f"{result.refused_count:,} could not be {done.lower()}: {details}", "error"
        )
    return _back(request, pages)


def add_views(
    config: Configurator, views: Iterable[tuple[str, str, Callable, str, str | None]]
) -> None:
    """Views given as ``(route name, method, view, permission, renderer)``."""
    for route_name, method, view, permission, renderer in views:
        config.add_view(
            view,
            route_name=route_name,
            request_method=method,
            permission=permission,
            renderer=renderer,
        )


def add_record_pages(config: Configurator, pages: RecordPages) -> None:
    """Routes and views of an area's record pages; registers its records for bulk work
    (``audience.bulk.add_record_type``), which the bulk API uses too."""
    settings = config.get_settings()
    region = settings["phone.default_region"]
    base = f"/{pages.plural}"
    item = base + "/{id:\\d+}"

    def list_view(request: Request) -> dict[str, Any]:
        view = pages.table.view(request)
        allowed = request.identity.permissions
        return {
            "pages": pages,
            "view": view,
            "bulk_actions": bulk_actions(request, pages, view.deleted),
            "new_url": request.route_path(pages.route("new"))
            if pages.write_permission in allowed
            else None,
        }

    def detail_view(request: Request):
        session = request.dbsession
        requested = _record_id(request)
        record = pages.get(session, requested, include_deleted=True)
        if record.id != requested:
            # A merged record's old address leads to the record it lives on as.
            request.session.flash(
                f"{pages.entity.capitalize()} {requested} was merged into {pages.label(record)}.",
                "info",
            )
            return HTTPFound(location=request.route_path(pages.route(), id=record.id))
        allowed = request.identity.permissions
        events: list[AuditEvent] = []
        older_url = None
        can_audit = Permission.AUDIT_READ in allowed
        if can_audit:
            before = request.GET.get("before", "")
            events = record_history(
                session,
                pages.entity,
                record.id,
                limit=HISTORY_LIMIT,
                before_id=int(before) if before.isdigit() and len(before) < 19 else None,
            )
            if len(events) == HISTORY_LIMIT:
                older_url = request.route_path(
                    pages.route(), id=record.id, _query={"before": events[-1].id}
                )
        why = ProvenanceDisplay(request, pages.entity, [record], {e.actor_id for e in events})
        actors = why.actors
        provenance = record.field_provenance or {}

        def row(key: str, label: str, kind: str, value: Any) -> FieldRow:
            return FieldRow(key, label, kind, value, None, why(key, provenance.get(key)))

        sections = [
            (title, [why.row(f, record) for f in fields]) for title, fields in pages.details
        ]
        definitions = custom_field_definitions(session, pages.entity)
        stored = record.custom_fields or {}
        custom_rows = [
            row(
                f"custom_fields.{key}",
                d.label,
                "tags" if d.type == "tags" else "text",
                stored.get(key),
            )
            for key, d in sorted(definitions.items(), key=lambda kv: kv[1].label.lower())
        ]
        custom_rows += [
            row(f"custom_fields.{key}", key, "text", value)
            for key, value in sorted(stored.items())
            if key not in definitions
        ]
        context = {
            "pages": pages,
            "record": record,
            "record_label": pages.label(record),
            "deleted": record.deleted_at is not None,
            "deleted_at": when(record.deleted_at),
            "created_at": when(record.created_at),
            "updated_at": when(record.updated_at),
            "sections": sections,
            "custom_rows": custom_rows,
            "can_audit": can_audit,
            "history": history_entries(events, actors),
            "older_url": older_url,
            "can_write": pages.write_permission in allowed,
            "can_delete": pages.delete_permission in allowed,
        }
        context.update(pages.detail_extra(request, record))
        return context

    def new_view(request: Request) -> dict[str, Any]:
        return form_page(request, pages, None, {})

    def create_view(request: Request):
        values = submitted_values(request.POST)
        session = request.dbsession
        try:
            custom = custom_form_fields(custom_field_definitions(session, pages.entity))
            data = parse_form(pages, request.POST, custom)
            record = pages.create(
                session, request_actor(request, "ui"), data, default_region=region
            )
        except FORM_ERRORS as exc:
            refuse(request, exc)
            return form_page(request, pages, None, values, exc)
        request.session.flash(f"Created {pages.entity} {pages.label(record)}", "success")
        return HTTPSeeOther(location=request.route_path(pages.route(), id=record.id))

    def edit_view(request: Request) -> dict[str, Any]:
        record = pages.get(request.dbsession, _record_id(request))
        return form_page(request, pages, record, record_form_values(pages, record))

    def update_view(request: Request):
        session = request.dbsession
        record = pages.get(session, _record_id(request))
        values = submitted_values(request.POST)
        try:
            custom = custom_form_fields(custom_field_definitions(session, pages.entity))
            data = parse_form(pages, request.POST, custom, partial=True)
            changes = pages.update(
                session, request_actor(request, "ui"), record, data, default_region=region
            )
        except FORM_ERRORS as exc:
            refuse(request, exc)
            return form_page(request, pages, record, values, exc)
        message = f"Saved {pages.label(record)}" if changes else "Nothing changed"
        request.session.flash(message, "success" if changes else "info")
        return HTTPSeeOther(location=request.route_path(pages.route(), id=record.id))

    def delete_view(request: Request):
        record = pages.get(request.dbsession, _record_id(request))
        pages.delete(request.dbsession, request_actor(request, "ui"), record)
        request.session.flash(
            f"Deleted {pages.entity} {pages.label(record)}; it can be restored from this page.",
            "success",
        )
        return HTTPSeeOther(location=request.route_path(pages.route(), id=record.id))

    def restore_view(request: Request):
        record = pages.get(request.dbsession, _record_id(request), include_deleted=True)
        try:
            pages.restore(request.dbsession, request_actor(request, "ui"), record)
        except Conflict as exc:
            request.tm.doom()
            request.session.flash(exc.message, "error")
        else:
            request.session.flash(f"Restored {pages.entity} {pages.label(record)}", "success")
        return HTTPSeeOther(location=request.route_path(pages.route(), id=record.id))

    def export_view(request: Request):
        try:
            export = export_selection(
                request.dbsession,
                pages.record_type(),
                pages.table.selection(pages.entity, request.POST),
                viewer=audience_viewer(request),
                permissions=request.identity.permissions,
                filename=pages.plural,
            )
        except PivotalError as exc:
            return bulk_refused(request, pages, exc)
        if not export.total:
            request.session.flash(f"No {pages.plural} match the selection.", "info")
            return _back(request, pages)
        return export_response(request, export)

    def bulk_view(action: str):
        def view(request: Request):
            try:
                submitted = submit(
                    request.dbsession,
                    pages.record_type(),
                    pages.table.selection(pages.entity, request.POST),
                    bulk_operation(request, pages, action),
                    actor=request_actor(request, "ui"),
                    viewer=audience_viewer(request),
                    permissions=request.identity.permissions,
                    default_region=region,
                    task=registered_task(request.huey, BULK_TASK),
                )
            except PivotalError as exc:
                return bulk_refused(request, pages, exc)
            return bulk_done(request, pages, submitted)

        return view

    routes = (
        (pages.list_route(), base),
        (pages.route("new"), base + "/new"),
        (pages.list_route("export"), base + "/export"),
        *((pages.list_route(suffix), base + path) for suffix, path, _ in BULK_ROUTES),
        (pages.route(), item),
        (pages.route("edit"), item + "/edit"),
        (pages.route("delete"), item + "/delete"),
        (pages.route("restore"), item + "/restore"),
    )
    for name, pattern in routes:
        config.add_route(name, pattern)

    read, write, remove = pages.read_permission, pages.write_permission, pages.delete_permission
    kind = pages.record_type()
    views = (
        (pages.list_route(), "GET", list_view, read, pages.template("list")),
        (pages.route(), "GET", detail_view, read, pages.template("detail")),
        (pages.route("new"), "GET", new_view, write, pages.template("form")),
        (pages.route("new"), "POST", create_view, write, pages.template("form")),
        (pages.route("edit"), "GET", edit_view, write, pages.template("form")),
        (pages.route("edit"), "POST", update_view, write, pages.template("form")),
        (pages.route("delete"), "POST", delete_view, remove, None),
        (pages.route("restore"), "POST", restore_view, remove, None),
        (pages.list_route("export"), "POST", export_view, read, None),
        *(
            # The route's permission is the action's own; reading (for list actions) is
            # checked by the service.
            (
                pages.list_route(suffix),
                "POST",
                bulk_view(action),
                permissions_needed(kind, action)[-1],
                None,
            )
            for suffix, _, action in BULK_ROUTES
        ),
    )
    add_views(config, views)
    add_record_type(config, kind)
