"""Staff UI of duplicates and merges: the review queue (scans run as jobs), the merge screen
with a choice per field, merge history with revert, and a contact's privacy erase.

The views call the services the JSON API calls (``duplicates``, ``merge``, ``erase``), so
the UI cannot decide anything the API would decide differently; refused input is shown
beside its field and the transaction is doomed, so nothing of it is kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPSeeOther
from pyramid.request import Request
from sqlalchemy import func, select

from pivotal_core.accounts.models import Account
from pivotal_core.accounts.pages import PAGES as ACCOUNT_PAGES
from pivotal_core.api.records import request_actor
from pivotal_core.authnz.permissions import Permission
from pivotal_core.contacts.pages import PAGES as CONTACT_PAGES
from pivotal_core.dataquality import duplicates, erase, merge
from pivotal_core.dataquality.explain import default_choice_reason
from pivotal_core.dataquality.identity import erasure_keys
from pivotal_core.dataquality.models import DuplicateCandidate, Merge
from pivotal_core.dataquality.survivorship import SETTING as SOURCE_PRIORITY_SETTING
from pivotal_core.dataquality.survivorship import is_blank, load_policy
from pivotal_core.errors import Conflict, NotFound, PivotalError, Unprocessable, ValidationFailed
from pivotal_core.jobs import services as jobs
from pivotal_core.jobs.models import Job
from pivotal_core.records import custom_field_definitions
from pivotal_core.web.pages import safe_next
from pivotal_core.web.record_pages import (
    DetailField,
    FieldRow,
    ProvenanceDisplay,
    RecordPages,
    actor_labels,
    add_views,
    display_value,
    refuse,
    when,
)
from pivotal_core.web.tables import PAGE_SIZES
from pivotal_core.web.templating import add_template_dir

ENTITY_PAGES: dict[str, RecordPages] = {"contact": CONTACT_PAGES, "account": ACCOUNT_PAGES}
PAGE_SIZE = 50
STATUS_LABELS = {
    "open": "Open",
    "dismissed": "Not duplicates",
    "merged": "Merged",
    "closed": "Closed",
}
# Fields both records contribute to (the survivor gets the union), shown without a choice.
COMBINED_FIELDS = {
    "contact": ("tags",),
    "account": ("secondary_domains", "technologies", "tags"),
}
FORM_ERRORS = (ValidationFailed, Conflict, Unprocessable)
CHOICE_PREFIX = "choice."
SCAN_ACTIVE = ("queued", "running")


def _policy(request: Request, entity: str):
    priority = request.registry.settings.get(SOURCE_PRIORITY_SETTING)
    return load_policy(request.dbsession, entity, priority)


def _id_param(raw: str | None, name: str) -> int | None:
    """An optional record id from a query string or form; anything else names the field."""
    text = (raw or "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 18:
        raise ValidationFailed({name: "must be a record id (a whole number)"})
    return int(text)


def _entity_param(raw: str | None, default: str = "contact") -> str:
    return duplicates.check_entity(raw or default)


def _may(request: Request, permission: str) -> bool:
    return permission in request.identity.permissions


# ---------------------------------------------------------------- record cards


@dataclass
class RecordCard:
    """One record of a pair, as much as a reviewer needs to tell the two apart."""

    id: int
    entity: str
    label: str
    url: str
    details: list[tuple[str, str]]  # (kind, text): mono values and plain ones
    gone: str | None = None  # "merged into 12", "deleted", "erased"


def record_cards(request: Request, entity: str, ids: Iterable[int]) -> dict[int, RecordCard]:
    session = request.dbsession
    ids = list(ids)
    summaries = duplicates.record_summaries(session, entity, ids)
    pages = ENTITY_PAGES[entity]
    refs = {
        s.get("account_id") if entity == "contact" else s.get("parent_id")
        for s in summaries.values()
    }
    refs.discard(None)
    names: dict[int, str] = {}
    if refs:
        rows = session.execute(
            select(Account.id, Account.name)
            .where(Account.id.in_(refs))
            .execution_options(include_deleted=True)
        )
        names = {row.id: row.name for row in rows}
    cards: dict[int, RecordCard] = {}
    for record_id in ids:
        s = summaries.get(record_id)
        url = request.route_path(pages.route(), id=record_id)
        if s is None:
            cards[record_id] = RecordCard(
                record_id, entity, f"{entity.capitalize()} {record_id}", url, [], "erased"
            )
            continue
        if entity == "contact":
            details = [
                ("mono", s["email"]),
                ("mono", s["phone"]),
                ("mono", s["mobile"]),
                ("text", s["title"]),
                ("text", names.get(s["account_id"])),
            ]
            label = s["name"] or s["email"] or f"Contact {record_id}"
        else:
            place = ", ".join(p for p in (s["city"], s["country"]) if p)
            parent = names.get(s["parent_id"])
            details = [
                ("mono", s["domain"]),
                ("text", place),
                ("text", f"part of {parent}" if parent else None),
            ]
            label = s["name"] or f"Account {record_id}"
        gone = None
        if s["merged_into_id"] is not None:
            gone = f"merged into {entity} {s['merged_into_id']}"
        elif s["deleted"]:
            gone = "deleted"
        details = [(kind, text) for kind, text in details if text]
        cards[record_id] = RecordCard(record_id, entity, label, url, details, gone)
    return cards


# ---------------------------------------------------------------- the review queue


@dataclass
class CandidateRow:
    candidate: DuplicateCandidate
    reasons: list[tuple[str, str]]  # (code, label), strongest first
    a: RecordCard
    b: RecordCard
    url: str

    @property
    def score_percent(self) -> int:
        return round(100 * (self.candidate.score or 0))


def _queue_url(request: Request, **params: Any) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    path = request.route_path("web.duplicates")
    return f"{path}?{query}" if query else path


def _scan_job(request: Request, entity: str, job_id: int | None) -> Job | None:
    """The scan job to show: the one asked for, else the latest scan of ``entity``."""
    session = request.dbsession
    if job_id is not None:
        job = session.get(Job, job_id)
        return job if job is not None and job.kind == duplicates.SCAN_TASK else None
    recent = session.scalars(
        select(Job).where(Job.kind == duplicates.SCAN_TASK).order_by(Job.id.desc()).limit(20)
    )
    return next((j for j in recent if (j.params or {}).get("entity") == entity), None)


def queue_view(request: Request) -> dict[str, Any]:
    params = request.GET
    session = request.dbsession
    entity = _entity_param(params.get("entity"))
    status = params.get("status") or "open"
    reason = params.get("reason") or None
    record_id = _id_param(params.get("record"), "record")
    cursor = params.get("cursor") or None
    size = params.get("size", "")
    size = int(size) if size.isdigit() and int(size) in PAGE_SIZES else PAGE_SIZE
    page = duplicates.list_candidates(
        session,
        entity,
        status,
        limit=size,
        cursor=cursor,
        record_id=record_id,
        reason=reason,
    )
    ids = [i for c in page.items for i in (c.record_a, c.record_b)]
    cards = record_cards(request, entity, ids)
    rows = [
        CandidateRow(
            candidate=c,
            reasons=[
                (code, duplicates.REASON_LABELS.get(code, code)) for code in c.reason.split(",")
            ],
            a=cards[c.record_a],
            b=cards[c.record_b],
            url=request.route_path("web.duplicate", id=c.id),
        )
        for c in page.items
    ]
    stmt = (
        select(DuplicateCandidate.entity, func.count())
        .where(DuplicateCandidate.status == "open")
        .group_by(DuplicateCandidate.entity)
    )
    open_counts = {e: 0 for e in duplicates.ENTITIES} | dict(session.execute(stmt).all())
    filters = {
        "entity": entity,
        "status": status,
        "reason": reason,
        "record": record_id,
        "size": size if size != PAGE_SIZE else None,
    }
    total_stmt = select(func.count()).select_from(
        duplicates.candidates_statement(entity, status, record_id=record_id, reason=reason)
        .with_only_columns(DuplicateCandidate.id)
        .subquery()
    )
    scan_job = _scan_job(request, entity, _id_param(params.get("job"), "job"))
    return {
        "entity": entity,
        "pages": ENTITY_PAGES[entity],
        "status": status,
        "reason": reason,
        "record_id": record_id,
        "record_card": record_cards(request, entity, [record_id])[record_id]
        if record_id is not None
        else None,
        "rows": rows,
        "total": session.scalar(total_stmt) or 0,
        "open_counts": open_counts,
        "statuses": STATUS_LABELS,
        "reasons": [
            (code, duplicates.REASON_LABELS[code]) for code in duplicates.ENTITY_REASONS[entity]
        ],
        "next_url": _queue_url(request, **filters, cursor=page.next_cursor)
        if page.next_cursor
        else None,
        "prev_url": _queue_url(request, **filters, cursor=page.prev_cursor)
        if page.prev_cursor
        else None,
        "tab_urls": {e: _queue_url(request, entity=e) for e in duplicates.ENTITIES},
        "came_from": request.path_qs,
        "can_merge": _may(request, Permission.DATAQUALITY_MERGE),
        "scan": scan_context(request, scan_job),
        "nightly_scan": duplicates.nightly_scan_time(request.registry.settings),
    }


def scan_context(request: Request, job: Job | None) -> dict[str, Any] | None:
    if job is None:
        return None
    return {
        "job": job,
        "live": job.status in SCAN_ACTIVE,
        "status_url": request.route_path("web.duplicates_scan_job", id=job.id),
        "job_url": request.route_path("web.job", id=job.id)
        if _may(request, Permission.JOBS_READ)
        else None,
        "finished": when(job.finished_at),
    }


def scan_view(request: Request):
    """Run the scan of one entity as a job; the queue shows its progress."""
    entity = _entity_param(request.POST.get("entity"))
    job = duplicates.enqueue_scan(
        request.dbsession,
        request.huey,
        entity,
        created_by_id=request_actor(request, "ui").user_id,
    )
    request.session.flash(f"Scanning {entity}s for duplicates (job {job.id}).", "info")
    return HTTPSeeOther(location=_queue_url(request, entity=entity, job=job.id))


def scan_status_view(request: Request):
    """The scan panel alone, polled while the job runs; once it has finished, htmx is told
    to reload the page so the queue shows what the scan found."""
    job = jobs.get_job(request.dbsession, int(request.matchdict["id"]))
    if job.kind != duplicates.SCAN_TASK:
        raise NotFound(f"Job {job.id} is not a duplicates scan")
    context = {"scan": scan_context(request, job)}
    if request.headers.get("HX-Request") and job.status not in SCAN_ACTIVE:
        request.response.headers["HX-Refresh"] = "true"
    return context


def dismiss_view(request: Request):
    candidate_id = int(request.matchdict["id"])
    try:
        with request.dbsession.begin_nested():
            duplicates.dismiss_candidate(
                request.dbsession, request_actor(request, "ui"), candidate_id
            )
    except FORM_ERRORS as exc:
        refuse(request, exc)
        candidate = duplicates.get_candidate(request.dbsession, candidate_id)
        return _candidate_screen(request, candidate, error=exc)
    request.session.flash(f"Pair {candidate_id} marked as not duplicates.", "success")
    came_from = request.POST.get("came_from")
    location = safe_next(came_from) if came_from else request.route_path("web.duplicates")
    return HTTPSeeOther(location=location)


# ---------------------------------------------------------------- the merge screen


@dataclass
class FieldChoice:
    """One field of the merge screen: both values, and which one the survivor takes."""

    name: str
    label: str
    a: FieldRow
    b: FieldRow
    default: str | None  # "a" or "b"; None when there is nothing to choose
    reason: str
    chosen: str | None = None
    error: str | None = None
    blank: bool = False  # empty on both records: listed in one line, not a row

    @property
    def choosable(self) -> bool:
        return self.default is not None


@dataclass
class MergeForm:
    """What the merge screen shows and posts back."""

    entity: str
    a: Any = None
    b: Any = None
    survivor: Any = None
    merged: Any = None
    candidate: DuplicateCandidate | None = None
    choices: list[FieldChoice] = field(default_factory=list)
    combined: list[tuple[FieldRow, FieldRow]] = field(default_factory=list)
    preview: merge.MergePreview | None = None
    errors: dict[str, str] = field(default_factory=dict)  # beside survivor_id / merged_id
    other_errors: list[str] = field(default_factory=list)
    summary: str | None = None

    @property
    def ready(self) -> bool:
        return self.survivor is not None and self.merged is not None


def _detail_fields(pages: RecordPages) -> dict[str, DetailField]:
    return {f.key: f for _, fields in pages.details for f in fields}


def _choice_rows(
    request: Request,
    form: MergeForm,
    posted: Mapping[str, str] | None,
) -> None:
    """Fill ``form.choices`` and ``form.combined``: defaults by survivorship (and why), or
    what was posted when the form comes back with errors."""
    entity, survivor, merged = form.entity, form.survivor, form.merged
    pages = ENTITY_PAGES[entity]
    a, b = form.a, form.b
    policy = _policy(request, entity)
    why = ProvenanceDisplay(request, entity, [a, b])
    resolved = merge.resolve_choices(entity, survivor, merged, None, policy)
    side_of = {survivor.id: "a" if survivor is a else "b", merged.id: "a" if merged is a else "b"}
    details = _detail_fields(pages)
    ours = survivor.field_provenance or {}
    theirs = merged.field_provenance or {}

    def add(name: str, label: str, row_a: FieldRow, row_b: FieldRow, ours_v: Any, theirs_v: Any):
        default_record = survivor if resolved[name] == "survivor" else merged
        reason = default_choice_reason(
            policy, name, ours_v, ours.get(name), theirs_v, theirs.get(name), resolved[name]
        )
        same = ours_v == theirs_v
        choice = FieldChoice(
            name, label, row_a, row_b, None if same else side_of[default_record.id], reason
        )
        choice.blank = is_blank(ours_v) and is_blank(theirs_v)
        choice.chosen = choice.default
        if posted is not None and name in posted:
            chosen_id = posted[name]
            choice.chosen = side_of.get(int(chosen_id)) if chosen_id.isdigit() else None
        form.choices.append(choice)

    for name in merge.CHOSEN_FIELDS[entity]:
        f = details.get(name) or DetailField(name, name.replace("_", " ").capitalize())
        add(
            name,
            f.label,
            why.row(f, a),
            why.row(f, b),
            getattr(survivor, name),
            getattr(merged, name),
        )

    definitions = custom_field_definitions(request.dbsession, entity)
    keys = sorted(set(a.custom_fields or {}) | set(b.custom_fields or {}))
    for key in keys:
        name = f"custom_fields.{key}"
        definition = definitions.get(key)
        label = definition.label if definition else key
        kind = "tags" if definition is not None and definition.type == "tags" else "text"

        def custom_row(record: Any, name: str = name, label: str = label, kind: str = kind):
            entry = (record.custom_fields or {}).get(name.split(".", 1)[1])
            provenance = why(name, (record.field_provenance or {}).get(name))
            return FieldRow(name, label, kind, entry, None, provenance)

        add(
            name,
            label,
            custom_row(a),
            custom_row(b),
            (survivor.custom_fields or {}).get(key),
            (merged.custom_fields or {}).get(key),
        )

    for name in COMBINED_FIELDS[entity]:
        f = details.get(name) or DetailField(name, name.replace("_", " ").capitalize(), "tags")
        form.combined.append((why.row(f, a), why.row(f, b)))


def build_merge_form(
    request: Request,
    entity: str,
    a_id: int | None,
    b_id: int | None,
    survivor_id: int | None,
    *,
    candidate: DuplicateCandidate | None = None,
    posted: Mapping[str, str] | None = None,
    error: PivotalError | None = None,
) -> MergeForm:
    """The merge screen for records ``a_id`` (left) and ``b_id`` (right), ``survivor_id``
    staying. The records are checked as the merge will check them; problems appear beside
    the record they concern."""
    form = MergeForm(entity=entity, candidate=candidate)
    if a_id is None or b_id is None:
        return form
    if survivor_id not in (a_id, b_id):
        survivor_id = a_id
    merged_id = b_id if survivor_id == a_id else a_id
    session = request.dbsession
    try:
        survivor, merged = merge.load_pair(session, entity, survivor_id, merged_id)
    except FORM_ERRORS as exc:
        _place_errors(form, exc)
        return form
    form.survivor, form.merged = survivor, merged
    form.a, form.b = (survivor, merged) if survivor_id == a_id else (merged, survivor)
    _choice_rows(request, form, posted)
    form.preview = merge.preview_merge(session, entity, survivor, merged)
    if error is not None:
        _place_errors(form, error)
    return form


def _place_errors(form: MergeForm, error: PivotalError) -> None:
    """Service errors beside what they name: a field's row, the survivor or merged record;
    the rest (an unknown field, the pair's status) above the form."""
    rows = {c.name: c for c in form.choices}
    for key, message in error.fields.items():
        name = key.removeprefix("choices.")
        if key.startswith("choices.") and name in rows:
            rows[name].error = message
        elif key in ("survivor_id", "merged_id"):
            form.errors[key] = message
        else:
            form.other_errors.append(f"{key}: {message}")
    if not error.fields or not isinstance(error, ValidationFailed):
        form.summary = error.message


def _default_survivor(request: Request, entity: str, a_id: int, b_id: int) -> int:
    """A live record stays rather than a deleted one; then the more complete one (more
    fields filled in); on a tie the older one."""
    model = duplicates.MODELS[entity]
    records = {
        r.id: r
        for r in request.dbsession.scalars(
            select(model).where(model.id.in_((a_id, b_id))).execution_options(include_deleted=True)
        )
    }

    def filled(record_id: int) -> int:
        record = records.get(record_id)
        if record is None or record.deleted_at is not None:
            return -1
        return sum(
            1 for name in merge.CHOSEN_FIELDS[entity] if getattr(record, name) not in (None, "", [])
        ) + len(record.custom_fields or {})

    return b_id if filled(b_id) > filled(a_id) else a_id


def _merge_of_candidate(session: Any, candidate: DuplicateCandidate) -> Merge | None:
    return session.scalars(
        select(Merge)
        .where(
            Merge.entity == candidate.entity,
            Merge.survivor_id.in_((candidate.record_a, candidate.record_b)),
            Merge.merged_id.in_((candidate.record_a, candidate.record_b)),
        )
        .order_by(Merge.id.desc())
        .limit(1)
    ).first()


def _screen_context(request: Request, form: MergeForm, **extra: Any) -> dict[str, Any]:
    entity = form.entity
    ids = [i for i in ((form.a or form.survivor), (form.b or form.merged)) if i is not None]
    context = {
        "form": form,
        "entity": entity,
        "pages": ENTITY_PAGES[entity],
        "cards": record_cards(request, entity, [r.id for r in ids]) if ids else {},
        "can_merge": _may(request, Permission.DATAQUALITY_MERGE),
        "entities": duplicates.ENTITIES,
        "candidate_merge": None,
        "candidate_cards": {},
        "statuses": STATUS_LABELS,
    }
    candidate = form.candidate
    if candidate is not None:
        context["candidate_cards"] = record_cards(
            request, entity, [candidate.record_a, candidate.record_b]
        )
        if candidate.status == "merged":
            context["candidate_merge"] = _merge_of_candidate(request.dbsession, candidate)
        context["reasons"] = [
            (code, duplicates.REASON_LABELS.get(code, code)) for code in candidate.reason.split(",")
        ]
    context.update(extra)
    return context


def _candidate_screen(
    request: Request,
    candidate: DuplicateCandidate,
    survivor_id: int | None = None,
    posted: Mapping[str, str] | None = None,
    error: PivotalError | None = None,
) -> dict[str, Any]:
    a_id, b_id = candidate.record_a, candidate.record_b
    if survivor_id not in (a_id, b_id):
        survivor_id = _default_survivor(request, candidate.entity, a_id, b_id)
    if candidate.status == "open":
        form = build_merge_form(
            request,
            candidate.entity,
            a_id,
            b_id,
            survivor_id,
            candidate=candidate,
            posted=posted,
            error=error,
        )
    else:
        form = MergeForm(entity=candidate.entity, candidate=candidate)
        if error is not None:
            _place_errors(form, error)
    swap = b_id if survivor_id == a_id else a_id
    return _screen_context(
        request,
        form,
        swap_url=request.route_path("web.duplicate", id=candidate.id, _query={"survivor": swap}),
        dismiss_url=request.route_path("web.duplicate_dismiss", id=candidate.id),
        queue_url=_queue_url(request, entity=candidate.entity),
    )


def candidate_view(request: Request) -> dict[str, Any]:
    candidate = duplicates.get_candidate(request.dbsession, int(request.matchdict["id"]))
    survivor = _id_param(request.GET.get("survivor"), "survivor")
    return _candidate_screen(request, candidate, survivor)


def new_merge_view(request: Request) -> dict[str, Any]:
    """The merge screen for any two records by id (a duplicate the scan did not find)."""
    params = request.GET
    entity = _entity_param(params.get("entity"))
    form = MergeForm(entity=entity)
    survivor_id = merged_id = None
    try:
        survivor_id = _id_param(params.get("survivor"), "survivor_id")
        merged_id = _id_param(params.get("merged"), "merged_id")
    except ValidationFailed as exc:
        _place_errors(form, exc)
    if survivor_id is not None and merged_id is not None and not form.errors:
        form = build_merge_form(request, entity, survivor_id, merged_id, survivor_id)
        if form.errors:
            request.response.status_int = 422
    swap_url = None
    if form.ready:
        query = {"entity": entity, "survivor": merged_id, "merged": survivor_id}
        swap_url = request.route_path("web.merge_new", _query=query)
    return _screen_context(
        request,
        form,
        typed={"survivor": params.get("survivor", ""), "merged": params.get("merged", "")},
        swap_url=swap_url,
        queue_url=_queue_url(request, entity=entity),
    )


def _posted_choices(
    post: Mapping[str, str], survivor_id: int, merged_id: int
) -> tuple[dict[str, str], dict[str, str]]:
    """``choice.<field>=<record id>`` -> ``({field: survivor|merged}, {field: record id})``."""
    choices: dict[str, str] = {}
    raw: dict[str, str] = {}
    errors: dict[str, str] = {}
    for key, value in post.items():
        if not key.startswith(CHOICE_PREFIX):
            continue
        name = key[len(CHOICE_PREFIX) :]
        raw[name] = value
        if value == str(survivor_id):
            choices[name] = "survivor"
        elif value == str(merged_id):
            choices[name] = "merged"
        else:
            errors[f"choices.{name}"] = f"must be record {survivor_id} or {merged_id}"
    if errors:
        raise ValidationFailed(errors)
    return choices, raw


def create_merge_view(request: Request):
    """Merge as chosen on the merge screen; errors come back beside their field."""
    post = request.POST
    session = request.dbsession
    entity = _entity_param(post.get("entity"))
    candidate: DuplicateCandidate | None = None
    raw: dict[str, str] = {
        k[len(CHOICE_PREFIX) :]: v for k, v in post.items() if k.startswith(CHOICE_PREFIX)
    }
    survivor_id = merged_id = None
    try:
        candidate_id = _id_param(post.get("candidate_id"), "candidate")
        survivor_id = _id_param(post.get("survivor_id"), "survivor_id")
        merged_id = _id_param(post.get("merged_id"), "merged_id")
        if candidate_id is not None:
            candidate = duplicates.get_candidate(session, candidate_id)
            pair = (candidate.record_a, candidate.record_b)
            if merged_id is None and survivor_id in pair:
                merged_id = pair[1] if survivor_id == pair[0] else pair[0]
        missing = {
            name: "is required"
            for name, value in (("survivor_id", survivor_id), ("merged_id", merged_id))
            if value is None
        }
        if missing:
            raise ValidationFailed(missing)
        choices, raw = _posted_choices(post, survivor_id, merged_id)
        actor = request_actor(request, "ui")
        policy = _policy(request, entity)
        with session.begin_nested():
            if candidate is not None:
                if candidate.entity != entity or merged_id not in pair:
                    raise ValidationFailed({"merged_id": "is not the other record of this pair"})
                done = merge.merge_candidate(
                    session, actor, candidate.id, survivor_id, choices, policy=policy
                )
            else:
                done = merge.merge_records(
                    session, actor, entity, survivor_id, merged_id, choices, policy=policy
                )
    except FORM_ERRORS as exc:
        refuse(request, exc)
        return _refused_merge(request, entity, candidate, survivor_id, merged_id, raw, exc)
    pages = ENTITY_PAGES[entity]
    survivor = pages.get(session, done.survivor_id)
    request.session.flash(
        f"Merged {entity} {done.merged_id} into {pages.label(survivor)}.", "success"
    )
    return HTTPSeeOther(location=request.route_path("web.merge", id=done.id))


def _refused_merge(
    request: Request,
    entity: str,
    candidate: DuplicateCandidate | None,
    survivor_id: int | None,
    merged_id: int | None,
    raw: Mapping[str, str],
    error: PivotalError,
) -> dict[str, Any]:
    if candidate is not None:
        return _candidate_screen(request, candidate, survivor_id, raw, error)
    form = build_merge_form(
        request, entity, survivor_id, merged_id, survivor_id, posted=raw, error=error
    )
    if not form.ready and not form.errors:
        _place_errors(form, error)
    return _screen_context(
        request,
        form,
        typed={
            "survivor": request.POST.get("survivor_id", ""),
            "merged": request.POST.get("merged_id", ""),
        },
        swap_url=None,
        queue_url=_queue_url(request, entity=entity),
    )


# ---------------------------------------------------------------- merge history


@dataclass
class MergeRow:
    merge: Merge
    survivor: RecordCard
    merged: RecordCard
    actor: str | None
    url: str
    taken: list[str]  # fields whose value came from the merged record


def _merge_rows(request: Request, items: list[Merge]) -> list[MergeRow]:
    actors = actor_labels(request.dbsession, {m.actor_id for m in items if m.actor_id})
    cards: dict[tuple[str, int], RecordCard] = {}
    labels = {entity: _field_labels(request, entity) for entity in {m.entity for m in items}}
    for entity in {m.entity for m in items}:
        ids = [i for m in items if m.entity == entity for i in (m.survivor_id, m.merged_id)]
        for record_id, card in record_cards(request, entity, ids).items():
            cards[(entity, record_id)] = card
    return [
        MergeRow(
            merge=m,
            survivor=cards[(m.entity, m.survivor_id)],
            merged=cards[(m.entity, m.merged_id)],
            actor=actors.get(m.actor_id) if m.actor_id else None,
            url=request.route_path("web.merge", id=m.id),
            taken=sorted(
                labels[m.entity].get(name, name)
                for name, side in (m.choices or {}).items()
                if side == "merged"
            ),
        )
        for m in items
    ]


def merges_view(request: Request) -> dict[str, Any]:
    params = request.GET
    entity = params.get("entity") or None
    if entity is not None:
        duplicates.check_entity(entity)
    record_id = _id_param(params.get("record"), "record")
    page = merge.list_merges(
        request.dbsession,
        entity=entity,
        record_id=record_id,
        limit=PAGE_SIZE,
        cursor=params.get("cursor") or None,
    )

    def url(**changes: Any) -> str:
        query = {"entity": entity, "record": record_id, **changes}
        query = {k: v for k, v in query.items() if v not in (None, "")}
        path = request.route_path("web.merges")
        return f"{path}?{urlencode(query)}" if query else path

    return {
        "rows": _merge_rows(request, page.items),
        "entity": entity,
        "record_id": record_id,
        "entities": duplicates.ENTITIES,
        "tab_url": lambda e: url(entity=e, record=None),
        "next_url": url(cursor=page.next_cursor) if page.next_cursor else None,
        "prev_url": url(cursor=page.prev_cursor) if page.prev_cursor else None,
    }


@dataclass
class ChangedField:
    name: str
    label: str
    source: str  # "survivor", "merged" or "combined"
    before: str
    after: str


# Columns a merge changes along with a chosen field.
DERIVED_LABELS = {"email_domain": "Email domain", "name_key": "Company match key"}


def _field_labels(request: Request, entity: str) -> dict[str, str]:
    labels = dict(DERIVED_LABELS)
    labels.update({f.key: f.label for f in _detail_fields(ENTITY_PAGES[entity]).values()})
    for key, definition in custom_field_definitions(request.dbsession, entity).items():
        labels[f"custom_fields.{key}"] = definition.label
    return labels


def merge_detail_context(request: Request, item: Merge) -> dict[str, Any]:
    entity = item.entity
    pages = ENTITY_PAGES[entity]
    moved = dict(item.moved or {})
    labels = _field_labels(request, entity)
    choices = item.choices or {}
    before = item.survivor_before or {}
    after = moved.get("survivor_after") or {}
    changed = [
        ChangedField(
            name,
            labels.get(name, name),
            choices.get(name) or choices.get(merge.DERIVED[entity].get(name, ""), "combined"),
            display_value(before.get(name)),
            display_value(after.get(name)),
        )
        for name in sorted(before, key=lambda n: labels.get(n, n).lower())
    ]
    unchanged = sorted(
        (labels.get(n, n) for n, side in choices.items() if n not in before),
        key=str.lower,
    )
    cards = record_cards(request, entity, [item.survivor_id, item.merged_id])
    moved_contacts = record_cards(request, "contact", moved.get("contacts") or [])
    moved_accounts = record_cards(request, "account", moved.get("accounts") or [])
    revert = moved.get("revert")
    actor_ids = {item.actor_id, (revert or {}).get("actor_id")}
    actors = actor_labels(request.dbsession, {i for i in actor_ids if isinstance(i, int)})
    erased = bool(moved.get("erased"))
    return {
        "merge": item,
        "entity": entity,
        "pages": pages,
        "survivor": cards[item.survivor_id],
        "merged": cards[item.merged_id],
        "changed": changed,
        "unchanged": unchanged,
        "moved_contacts": list(moved_contacts.values()),
        "moved_accounts": list(moved_accounts.values()),
        "identifiers": len(moved.get("identifiers") or []),
        "email_identifier": (moved.get("email_identifier") or {}).get("value"),
        "closed_candidates": _closed_candidates(request, item),
        "revert": revert,
        "revert_by": actors.get((revert or {}).get("actor_id")),
        "actor": actors.get(item.actor_id),
        "created_at": when(item.created_at),
        "reverted_at": when(item.reverted_at),
        "erased": erased,
        "labels": labels,
        "can_revert": item.reverted_at is None
        and not erased
        and _may(request, Permission.DATAQUALITY_MERGE),
        "revert_error": None,
    }


def _closed_candidates(request: Request, item: Merge) -> int:
    """Open pairs of the merged record that the merge closed (its own pair aside)."""
    previous = (item.moved or {}).get("candidates") or {}
    ids = [int(i) for i, status in previous.items() if status == "open"]
    if not ids:
        return 0
    pair = sorted((item.survivor_id, item.merged_id))
    candidates = request.dbsession.scalars(
        select(DuplicateCandidate).where(DuplicateCandidate.id.in_(ids))
    )
    return sum(1 for c in candidates if [c.record_a, c.record_b] != pair)


def merge_detail_view(request: Request) -> dict[str, Any]:
    item = merge.get_merge(request.dbsession, int(request.matchdict["id"]))
    return merge_detail_context(request, item)


def revert_view(request: Request):
    merge_id = int(request.matchdict["id"])
    session = request.dbsession
    try:
        with session.begin_nested():
            report = merge.revert_merge(session, request_actor(request, "ui"), merge_id)
    except FORM_ERRORS as exc:
        refuse(request, exc)
        context = merge_detail_context(request, merge.get_merge(session, merge_id))
        context["revert_error"] = exc.message
        return context
    kept = len(report["kept"])
    message = f"Reverted merge {merge_id}: both records are back."
    if kept:
        fields = "field" if kept == 1 else "fields"
        message += f" {kept} {fields} changed since the merge kept the current value."
    request.session.flash(message, "success")
    return HTTPSeeOther(location=request.route_path("web.merge", id=merge_id))


# ---------------------------------------------------------------- privacy erase


IDENTITY_LABELS = {
    "email": "email addresses",
    "phone": "phone numbers",
    "linkedin": "LinkedIn URLs",
}


def _in_words(items: list[str]) -> str:
    """``["a", "b", "c"]`` -> ``"a, b and c"``."""
    return " and ".join([", ".join(items[:-1]), items[-1]]) if len(items) > 1 else "".join(items)


def _erase_context(
    request: Request, contact_id: int, reason: str = "", errors: Mapping[str, str] | None = None
) -> dict[str, Any]:
    preview = erase.preview_erase(
        request.dbsession,
        contact_id,
        default_region=request.registry.settings["phone.default_region"],
    )
    contact = preview.contact
    return {
        "preview": preview,
        "contact": contact,
        "contact_label": CONTACT_PAGES.label(contact),
        "contact_url": request.route_path("web.contact", id=contact.id),
        "others": [c for c in preview.contacts if c.id != contact.id],
        "identity_labels": _in_words([IDENTITY_LABELS.get(k, k) for k in preview.identity_kinds]),
        "reason": reason,
        "errors": dict(errors or {}),
        "action_url": request.route_path("web.contact_erase", id=contact_id),
        "max_reason": erase.MAX_REASON_LENGTH,
    }


def erase_confirm_view(request: Request) -> dict[str, Any]:
    return _erase_context(request, int(request.matchdict["id"]))


def erase_view(request: Request):
    contact_id = int(request.matchdict["id"])
    reason = request.POST.get("reason", "")
    session = request.dbsession
    secret = erasure_keys(request.registry.settings)
    try:
        with session.begin_nested():
            result = erase.erase_person(
                session,
                request_actor(request, "ui"),
                contact_id,
                reason,
                secret,
                default_region=request.registry.settings["phone.default_region"],
            )
    except FORM_ERRORS as exc:
        refuse(request, exc)
        return _erase_context(request, contact_id, reason, exc.fields or {"reason": exc.message})
    count = len(result.contact_ids)
    kinds = sorted({row.kind for row in result.identities})
    message = f"Erased contact {contact_id}"
    if count > 1:
        message += f" and {count - 1} record{'s' if count > 2 else ''} merged into it"
    message += "."
    if kinds:
        message += " Kept only keyed digests of: " + ", ".join(kinds) + "."
    if result.import_files:
        rows, files = result.import_file_rows, result.import_files
        message += (
            f" Emptied {rows:,} row{'s' if rows != 1 else ''} naming them in "
            f"{files:,} kept import file{'s' if files != 1 else ''}."
        )
    request.session.flash(message, "success")
    return HTTPSeeOther(location=request.route_path("web.contacts"))


# ---------------------------------------------------------------- wiring


def includeme(config: Configurator) -> None:
    add_template_dir(config, Path(__file__).parent / "templates", owner="core")
    routes = (
        ("web.duplicates", "/duplicates"),
        ("web.duplicates_scan", "/duplicates/scan"),
        ("web.duplicates_scan_job", "/duplicates/scan/{id:\\d+}"),
        ("web.duplicate", "/duplicates/{id:\\d+}"),
        ("web.duplicate_dismiss", "/duplicates/{id:\\d+}/dismiss"),
        ("web.merges", "/merges"),
        ("web.merge_new", "/merges/new"),
        ("web.merge", "/merges/{id:\\d+}"),
        ("web.merge_revert", "/merges/{id:\\d+}/revert"),
        ("web.contact_erase", "/contacts/{id:\\d+}/erase"),
    )
    for name, pattern in routes:
        config.add_route(name, pattern)
    read, write = Permission.DATAQUALITY_READ, Permission.DATAQUALITY_MERGE
    screen = "dataquality/merge_screen.jinja2"
    views = (
        ("web.duplicates", "GET", queue_view, read, "dataquality/duplicates_queue.jinja2"),
        ("web.duplicates_scan", "POST", scan_view, write, None),
        (
            "web.duplicates_scan_job",
            "GET",
            scan_status_view,
            read,
            "dataquality/duplicates_scan.jinja2",
        ),
        ("web.duplicate", "GET", candidate_view, read, screen),
        ("web.duplicate_dismiss", "POST", dismiss_view, write, screen),
        ("web.merges", "GET", merges_view, read, "dataquality/merge_list.jinja2"),
        ("web.merges", "POST", create_merge_view, write, screen),
        ("web.merge_new", "GET", new_merge_view, read, screen),
        ("web.merge", "GET", merge_detail_view, read, "dataquality/merge_detail.jinja2"),
        ("web.merge_revert", "POST", revert_view, write, "dataquality/merge_detail.jinja2"),
        (
            "web.contact_erase",
            "GET",
            erase_confirm_view,
            Permission.PRIVACY_ERASE,
            "dataquality/erase_confirm.jinja2",
        ),
        (
            "web.contact_erase",
            "POST",
            erase_view,
            Permission.PRIVACY_ERASE,
            "dataquality/erase_confirm.jinja2",
        ),
    )
    add_views(config, views)
