"""Candidate duplicates: a set-based scan that blocks records in SQL and compares them in
Python only within small blocks, and the review queue a data steward works through.

Contacts pair up on the same name at the same account, a shared phone or mobile number,
or near-identical emails at one domain; accounts on the same company key (``name_key``) or
similar names. Each pair is stored once (``record_a < record_b``) with its reasons and a
score in 0..1; re-running the scan updates pairs instead of adding them again.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

from sqlalchemy import (
    Select,
    and_,
    bindparam,
    distinct,
    exists,
    func,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from pivotal_core.accounts.models import Account
from pivotal_core.api.pagination import Page, SortKey, keyset_page
from pivotal_core.audit.services import Actor
from pivotal_core.contacts.models import Contact
from pivotal_core.dataquality.models import DuplicateCandidate
from pivotal_core.db import utcnow
from pivotal_core.errors import Conflict, NotFound, ValidationFailed
from pivotal_core.jobs import services as jobs
from pivotal_core.jobs.models import Job
from pivotal_core.jobs.queue import registered_task

SCAN_TASK = "dataquality.scan_duplicates"
# Every entity is scanned each night at this hour (UTC; -1: never), at SCAN_MINUTE.
SCAN_HOUR_SETTING = "dataquality.duplicate_scan_hour"
SCAN_MINUTE = 30
ENTITIES = ("contact", "account")
MODELS: dict[str, Any] = {"contact": Contact, "account": Account}
STATUSES = ("open", "dismissed", "merged", "closed")

# What each reason is worth on its own. A pair found for several reasons scores
# 1 - prod(1 - score): two independent weak signals make a stronger one.
SCORES = {
    "similar_email": 0.95,  # same local part once dots and +suffixes are dropped
    "same_name": 0.9,  # accounts: same company key, different (or no) domains
    "same_name_at_account": 0.85,
    "same_phone": 0.8,
    "similar_email_typo": 0.7,  # one edit apart (local parts of 5+ characters)
}
REASON_LABELS = {
    "same_name_at_account": "Same name at the same account",
    "same_phone": "Same phone or mobile number",
    "similar_email": "Near-identical email",
    "same_name": "Same company name",
    "similar_name": "Similar company name",
}
# The reason codes a scan of each entity can give.
ENTITY_REASONS = {
    "contact": ("same_name_at_account", "same_phone", "similar_email"),
    "account": ("same_name", "similar_name"),
}

# Trigram (Jaccard) similarity of two company keys from which a pair is offered. At 0.6,
# plurals and single typos in longer names pass ("wayne enterprises" / "wayne enterprise"
# 0.84, "umbrella" / "umbrela" 0.70) while different companies sharing a first word do not
# ("general motors" / "general mills" 0.45). Names are compared only within blocks of the
# same first three letters of their key, so a typo there is not found.
SIMILAR_NAME_THRESHOLD = 0.6
# A similar name scores its similarity times this (always below an identical key's 0.9).
SIMILAR_NAME_WEIGHT = 0.9
# A phone number shared by more contacts than this is a switchboard, not a person.
MAX_PHONE_GROUP = 10
# Bigger blocks (same name at one account, same near-identical email) are paired with
# their lowest id only, so one common value cannot produce a quadratic number of pairs.
MAX_GROUP = 25
# Edit-distance neighbourhoods shared by more emails than this are role-address families
# (info1@, info2@, ...) and are skipped.
MAX_TYPO_BUCKET = 50
MIN_TYPO_LENGTH = 5


@dataclass
class ScanReport:
    """What one scan of one entity did."""

    entity: str
    found: int = 0  # pairs the data supports now
    created: int = 0  # stored for the first time
    updated: int = 0  # open pairs whose reasons or score changed
    reopened: int = 0  # closed pairs (a record was deleted, then restored) found again
    closed: int = 0  # open pairs whose records are gone or no longer match
    skipped: int = 0  # new pairs left out because of ``limit``

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_entity(entity: str, field: str = "entity") -> str:
    if entity not in ENTITIES:
        raise ValidationFailed({field: f"must be one of {', '.join(ENTITIES)}"})
    return entity


# ---------------------------------------------------------------- the scan


def enqueue_scan(
    session: Session,
    huey: Any,
    entity: str,
    *,
    limit: int | None = None,
    created_by_id: int | None = None,
) -> Job:
    """Queue a scan of ``entity`` as a job (it runs :func:`scan_duplicates`)."""
    check_entity(entity)
    return jobs.enqueue(
        session,
        registered_task(huey, SCAN_TASK),
        SCAN_TASK,
        {"entity": entity, "limit": limit},
        created_by_id=created_by_id,
    )


def nightly_scan_time(settings: Mapping[str, Any]) -> str | None:
    """When the nightly scan runs (``"03:30 UTC"``), or None when it is turned off."""
    hour = int(settings.get(SCAN_HOUR_SETTING, -1))
    return f"{hour:02d}:{SCAN_MINUTE:02d} UTC" if hour >= 0 else None


def scan_every_entity(session: Session, huey: Any) -> list[int]:
    """Queue a scan of each entity that has none queued or running (the nightly scan);
    returns the jobs' ids."""
    busy = {
        (params or {}).get("entity")
        for params in session.scalars(
            select(Job.params).where(Job.kind == SCAN_TASK, Job.status.in_(("queued", "running")))
        )
    }
    return [enqueue_scan(session, huey, entity).id for entity in ENTITIES if entity not in busy]


def find_candidates(session: Session, entity: str, *, limit: int | None = None) -> int:
    """Scan ``entity`` records for duplicates and store the pairs; returns how many pairs
    were stored for the first time. See :func:`scan_duplicates`."""
    return scan_duplicates(session, entity, limit=limit).created


def scan_duplicates(
    session: Session,
    entity: str,
    *,
    limit: int | None = None,
    progress: Callable[..., None] | None = None,
) -> ScanReport:
    """Find every candidate pair of ``entity`` and bring the stored pairs up to date.

    New pairs are stored (at most ``limit`` of them, highest scores first); open pairs get
    their current reasons and score; pairs closed because a record was deleted open again
    when both records are back and still match; open pairs whose records were merged,
    deleted or no longer match are closed. Dismissed and merged pairs are left alone: a
    person decided those. ``progress(done, total, message, force=True)`` hears of each
    step (a job's :class:`~pivotal_core.jobs.services.Progress`).
    """
    check_entity(entity)
    if limit is not None and limit < 0:
        raise ValidationFailed({"limit": "must not be negative"})
    pairs = _PairCollector()
    steps = SCAN_STEPS[entity]
    total = len(steps) + 1
    for done, (label, find) in enumerate(steps):
        if progress is not None:
            progress(done, total, f"Looking for {label}", force=True)
        find(session, pairs)
    if progress is not None:
        progress(len(steps), total, "Storing the pairs found", force=True)
    return _store(session, entity, pairs.scored(), limit)


class _PairCollector:
    def __init__(self) -> None:
        self.reasons: dict[tuple[int, int], dict[str, float]] = defaultdict(dict)

    def add(self, one: int, other: int, reason: str, score: float) -> None:
        if one == other:
            return
        pair = (one, other) if one < other else (other, one)
        found = self.reasons[pair]
        found[reason] = max(score, found.get(reason, 0.0))

    def add_group(self, ids: list[int], reason: str, score: float) -> None:
        ids = sorted(set(ids))
        if len(ids) > MAX_GROUP:
            for other in ids[1:]:
                self.add(ids[0], other, reason, score)
            return
        for one, other in combinations(ids, 2):
            self.add(one, other, reason, score)

    def scored(self) -> dict[tuple[int, int], tuple[str, float]]:
        result: dict[tuple[int, int], tuple[str, float]] = {}
        for pair, reasons in self.reasons.items():
            ordered = sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
            miss = math.prod(1.0 - score for _, score in ordered)
            result[pair] = (",".join(name for name, _ in ordered), round(1.0 - miss, 3))
        return result


def _grouped(rows: Iterable[Any], width: int) -> Iterator[tuple[tuple[Any, ...], list[Any]]]:
    """Consecutive rows sharing their first ``width`` columns (rows arrive ordered by them)."""
    key: tuple[Any, ...] | None = None
    group: list[Any] = []
    for row in rows:
        row_key = tuple(row[:width])
        if row_key != key and group:
            yield key, group  # type: ignore[misc]
            group = []
        key = row_key
        group.append(row)
    if group:
        yield key, group  # type: ignore[misc]


def _contacts_same_name_at_account(session: Session, pairs: _PairCollector) -> None:
    first = func.lower(func.coalesce(Contact.first_name, ""))
    last = func.lower(func.coalesce(Contact.last_name, ""))
    live_named = and_(
        Contact.deleted_at.is_(None),
        Contact.account_id.is_not(None),
        or_(Contact.first_name.is_not(None), Contact.last_name.is_not(None)),
    )
    keys = (
        select(Contact.account_id, first.label("first"), last.label("last"))
        .where(live_named)
        .group_by(Contact.account_id, first, last)
        .having(func.count() > 1)
        .subquery()
    )
    rows = session.execute(
        select(Contact.account_id, first, last, Contact.id)
        .join(
            keys,
            and_(
                Contact.account_id == keys.c.account_id,
                first == keys.c.first,
                last == keys.c.last,
            ),
        )
        .where(live_named)
        .order_by(Contact.account_id, first, last, Contact.id)
    )
    for _, group in _grouped(rows, 3):
        pairs.add_group(
            [row[3] for row in group], "same_name_at_account", SCORES["same_name_at_account"]
        )


def _contacts_same_phone(session: Session, pairs: _PairCollector) -> None:
    live = Contact.deleted_at.is_(None)
    numbers = union_all(
        select(Contact.phone.label("number"), Contact.id.label("id")).where(
            live, Contact.phone.is_not(None)
        ),
        select(Contact.mobile.label("number"), Contact.id.label("id")).where(
            live, Contact.mobile.is_not(None)
        ),
    ).subquery()
    shared = (
        select(numbers.c.number)
        .group_by(numbers.c.number)
        .having(func.count(distinct(numbers.c.id)).between(2, MAX_PHONE_GROUP))
        .subquery()
    )
    rows = session.execute(
        select(numbers.c.number, numbers.c.id)
        .join(shared, shared.c.number == numbers.c.number)
        .distinct()
        .order_by(numbers.c.number, numbers.c.id)
    )
    for _, group in _grouped(rows, 1):
        pairs.add_group([row[1] for row in group], "same_phone", SCORES["same_phone"])


def email_local_key(local: str) -> str:
    """A local part without its +suffix and dots: ``Jane.Doe+news`` -> ``janedoe``."""
    return local.split("+", 1)[0].replace(".", "")


def within_one_edit(one: str, other: str) -> bool:
    """True when the strings differ by at most one insertion, deletion or substitution."""
    if one == other:
        return True
    if abs(len(one) - len(other)) > 1:
        return False
    if len(one) > len(other):
        one, other = other, one
    i = 0
    while i < len(one) and one[i] == other[i]:
        i += 1
    if len(one) == len(other):
        return one[i + 1 :] == other[i + 1 :]
    return one[i:] == other[i + 1 :]


def _one_deletion_variants(text: str) -> set[str]:
    # Two strings within one edit share one of these (the deletion neighbourhood).
    return {text, *(text[:i] + text[i + 1 :] for i in range(len(text)))}


def _contacts_similar_email(session: Session, pairs: _PairCollector) -> None:
    live = and_(Contact.deleted_at.is_(None), Contact.email.is_not(None))
    # Cheap blocking in SQL: only domains with more than one contact are compared at all.
    domains = (
        select(Contact.email_domain)
        .where(live)
        .group_by(Contact.email_domain)
        .having(func.count() > 1)
        .subquery()
    )
    rows = session.execute(
        select(Contact.email_domain, Contact.id, Contact.email, func.lower(Contact.first_name))
        .join(domains, domains.c.email_domain == Contact.email_domain)
        .where(live)
        .order_by(Contact.email_domain, Contact.id)
        .execution_options(yield_per=5000)
    )
    for _, block in _grouped(rows, 1):
        _compare_email_block(block, pairs)


def _compare_email_block(block: list[Any], pairs: _PairCollector) -> None:
    by_key: dict[str, list[int]] = defaultdict(list)
    first_names: dict[int, str | None] = {}
    keys: dict[int, str] = {}
    for _, contact_id, email, first_name in block:
        key = email_local_key(email.rpartition("@")[0])
        by_key[key].append(contact_id)
        keys[contact_id] = key
        first_names[contact_id] = first_name
    for ids in by_key.values():
        if len(ids) > 1:
            pairs.add_group(ids, "similar_email", SCORES["similar_email"])
    # One edit apart: bucket by deletion variants instead of comparing every pair.
    buckets: dict[str, set[str]] = defaultdict(set)
    for key in by_key:
        if len(key) >= MIN_TYPO_LENGTH:
            for variant in _one_deletion_variants(key):
                buckets[variant].add(key)
    checked: set[tuple[str, str]] = set()
    for family in buckets.values():
        if len(family) < 2 or len(family) > MAX_TYPO_BUCKET:
            continue
        for one, other in combinations(sorted(family), 2):
            if (one, other) in checked or not within_one_edit(one, other):
                continue
            checked.add((one, other))
            for a in by_key[one]:
                for b in by_key[other]:
                    # jsmith@ and asmith@ one letter apart, with different first names,
                    # are two people.
                    name_a, name_b = first_names[a], first_names[b]
                    if name_a and name_b and name_a != name_b:
                        continue
                    pairs.add(a, b, "similar_email", SCORES["similar_email_typo"])


def _accounts_same_name(session: Session, pairs: _PairCollector) -> None:
    live_keyed = and_(Account.deleted_at.is_(None), Account.name_key != "")
    keys = (
        select(Account.name_key)
        .where(live_keyed)
        .group_by(Account.name_key)
        .having(func.count() > 1)
        .subquery()
    )
    rows = session.execute(
        select(Account.name_key, Account.id, Account.parent_id)
        .join(keys, keys.c.name_key == Account.name_key)
        .where(live_keyed)
        .order_by(Account.name_key, Account.id)
    )
    for _, group in _grouped(rows, 1):
        # A parent and its subsidiary often share a name; that is a hierarchy, not a duplicate.
        parents = {row[1]: row[2] for row in group}
        ids = sorted(parents)
        if len(ids) > MAX_GROUP:
            pairs.add_group(ids, "same_name", SCORES["same_name"])
            continue
        for one, other in combinations(ids, 2):
            if parents[one] != other and parents[other] != one:
                pairs.add(one, other, "same_name", SCORES["same_name"])


def name_trigrams(key: str) -> frozenset[str]:
    """Trigrams of each word padded as pg_trgm does (two spaces before, one after)."""
    grams: set[str] = set()
    for word in key.split():
        padded = f"  {word} "
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return frozenset(grams)


def name_similarity(one: str, other: str) -> float:
    """Jaccard similarity of the trigram sets of two company keys (0..1)."""
    a, b = name_trigrams(one), name_trigrams(other)
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def _accounts_similar_name(session: Session, pairs: _PairCollector) -> None:
    rows = session.execute(
        select(func.substr(Account.name_key, 1, 3), Account.name_key, Account.id, Account.parent_id)
        .where(Account.deleted_at.is_(None), Account.name_key != "")
        .order_by(Account.name_key, Account.id)
        .execution_options(yield_per=5000)
    )
    for _, block in _grouped(rows, 1):
        _compare_name_block(block, pairs)


def _compare_name_block(block: list[Any], pairs: _PairCollector) -> None:
    """A similarity join with prefix filtering: two sets at Jaccard >= t share a token among
    the first ``|x| - ceil(t|x|) + 1`` of each, ordered rarest first, so only those are
    indexed and only the pairs they bring together are verified."""
    ids_by_key: dict[str, list[int]] = defaultdict(list)
    parents: dict[int, int | None] = {}
    for _, key, account_id, parent_id in block:
        ids_by_key[key].append(account_id)
        parents[account_id] = parent_id
    if len(ids_by_key) < 2:
        return
    grams = {key: name_trigrams(key) for key in ids_by_key}
    frequency = Counter(gram for gs in grams.values() for gram in gs)
    threshold = SIMILAR_NAME_THRESHOLD
    index: dict[str, list[str]] = defaultdict(list)
    for key in sorted(grams, key=lambda k: (len(grams[k]), k)):
        tokens = sorted(grams[key], key=lambda gram: (frequency[gram], gram))
        size = len(tokens)
        prefix = tokens[: size - math.ceil(threshold * size) + 1]
        seen: set[str] = set()
        for gram in prefix:
            for other in index[gram]:
                if other in seen:
                    continue
                seen.add(other)
                # Keys are visited by growing size, so ``other`` is never the larger one.
                if len(grams[other]) < threshold * size:
                    continue
                similarity = len(grams[key] & grams[other]) / len(grams[key] | grams[other])
                if similarity >= threshold:
                    score = round(SIMILAR_NAME_WEIGHT * similarity, 3)
                    for a in ids_by_key[key]:
                        for b in ids_by_key[other]:
                            if parents[a] != b and parents[b] != a:
                                pairs.add(a, b, "similar_name", score)
            index[gram].append(key)


# What a scan of each entity looks for, in order: (what, the finder).
SCAN_STEPS: dict[str, tuple[tuple[str, Callable[[Session, _PairCollector], None]], ...]] = {
    "contact": (
        ("the same name at the same account", _contacts_same_name_at_account),
        ("shared phone numbers", _contacts_same_phone),
        ("near-identical emails", _contacts_similar_email),
    ),
    "account": (
        ("the same company names", _accounts_same_name),
        ("similar company names", _accounts_similar_name),
    ),
}


def _insert_ignoring_existing(session: Session, rows: list[dict[str, Any]]) -> int:
    table = DuplicateCandidate.__table__
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table).on_conflict_do_nothing(index_elements=["entity", "record_a", "record_b"])
    created = 0
    for start in range(0, len(rows), 2000):
        chunk = rows[start : start + 2000]
        session.execute(stmt, chunk)
        created += len(chunk)
    return created


def _store(
    session: Session,
    entity: str,
    found: dict[tuple[int, int], tuple[str, float]],
    limit: int | None,
) -> ScanReport:
    report = ScanReport(entity=entity, found=len(found))
    table = DuplicateCandidate.__table__
    columns = [table.c[name] for name in ("id", "record_a", "record_b", "status", "reason")]
    rows = session.execute(select(*columns, table.c.score).where(table.c.entity == entity))
    existing = {(row.record_a, row.record_b): row for row in rows}
    now = utcnow()
    new_rows: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    for pair, (reason, score) in found.items():
        row = existing.get(pair)
        if row is None:
            new_rows.append(
                {
                    "entity": entity,
                    "record_a": pair[0],
                    "record_b": pair[1],
                    "reason": reason,
                    "score": score,
                    "status": "open",
                    "created_at": now,
                    "updated_at": now,
                }
            )
        elif row.status == "closed":
            changes.append({"_id": row.id, "_status": "open", "_reason": reason, "_score": score})
            report.reopened += 1
        elif row.status == "open" and (row.reason != reason or row.score != score):
            changes.append({"_id": row.id, "_status": "open", "_reason": reason, "_score": score})
            report.updated += 1
    for pair, row in existing.items():
        if row.status == "open" and pair not in found:
            closing = {"_id": row.id, "_status": "closed", "_reason": row.reason}
            changes.append({**closing, "_score": row.score})
            report.closed += 1
    if limit is not None and len(new_rows) > limit:
        new_rows.sort(key=lambda r: (-r["score"], r["record_a"], r["record_b"]))
        report.skipped = len(new_rows) - limit
        new_rows = new_rows[:limit]
    if changes:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("_id"))
            .values(
                status=bindparam("_status"),
                reason=bindparam("_reason"),
                score=bindparam("_score"),
                updated_at=now,
            )
            .execution_options(synchronize_session=False),
            changes,
        )
    report.created = _insert_ignoring_existing(session, new_rows)
    report.closed += close_candidates_of_gone_records(session, entity)
    session.expire_all()
    return report


def close_candidates_of_gone_records(session: Session, entity: str) -> int:
    """Close open pairs of which a record was deleted, merged away or erased."""
    model = MODELS[entity]
    table = DuplicateCandidate.__table__

    def live(column: Any) -> Any:
        return exists(
            select(model.id)
            .where(model.id == column, model.deleted_at.is_(None))
            .execution_options(include_deleted=True)
        )

    result = session.execute(
        update(table)
        .where(
            table.c.entity == entity,
            table.c.status == "open",
            ~and_(live(table.c.record_a), live(table.c.record_b)),
        )
        .values(status="closed", updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


# ---------------------------------------------------------------- the review queue

CANDIDATE_SORT_KEYS = {
    "score": SortKey("score", DuplicateCandidate.score, "number"),
    "id": SortKey("id", DuplicateCandidate.id, "number"),
}


def candidates_statement(
    entity: str,
    status: str = "open",
    *,
    record_id: int | None = None,
    reason: str | None = None,
) -> Select:
    """The pairs of the review queue: of ``entity`` in ``status``, of which ``record_id`` is
    one record, found for ``reason`` (among others)."""
    check_entity(entity)
    if status not in STATUSES:
        raise ValidationFailed({"status": f"must be one of {', '.join(STATUSES)}"})
    stmt = select(DuplicateCandidate).where(
        DuplicateCandidate.entity == entity, DuplicateCandidate.status == status
    )
    if record_id is not None:
        stmt = stmt.where(
            or_(DuplicateCandidate.record_a == record_id, DuplicateCandidate.record_b == record_id)
        )
    if reason is not None:
        if reason not in ENTITY_REASONS[entity]:
            choices = ", ".join(ENTITY_REASONS[entity])
            raise ValidationFailed({"reason": f"must be one of {choices} for {entity}s"})
        # Reasons are stored comma-separated: match whole codes only ("same_name" must
        # not find "same_name_at_account").
        column = DuplicateCandidate.reason
        stmt = stmt.where(
            or_(
                column == reason,
                column.startswith(f"{reason},", autoescape=True),
                column.endswith(f",{reason}", autoescape=True),
                column.contains(f",{reason},", autoescape=True),
            )
        )
    return stmt


def list_candidates(
    session: Session,
    entity: str,
    status: str = "open",
    *,
    limit: int = 50,
    cursor: str | None = None,
    sort: str | None = None,
    record_id: int | None = None,
    reason: str | None = None,
) -> Page:
    """One page of the review queue, best candidates first (keyset paged by score, id);
    see :func:`candidates_statement` for the filters."""
    stmt = candidates_statement(entity, status, record_id=record_id, reason=reason)
    return keyset_page(
        session,
        stmt,
        DuplicateCandidate.id,
        CANDIDATE_SORT_KEYS,
        sort=sort,
        default_sort="-score",
        limit=limit,
        cursor=cursor,
    )


def get_candidate(session: Session, candidate_id: int) -> DuplicateCandidate:
    candidate = session.get(DuplicateCandidate, candidate_id)
    if candidate is None:
        raise NotFound(f"Duplicate candidate {candidate_id} not found")
    return candidate


def dismiss_candidate(session: Session, actor: Actor, candidate_id: int) -> DuplicateCandidate:
    """Mark an open pair as not a duplicate; later scans leave it dismissed."""
    candidate = get_candidate(session, candidate_id)
    if candidate.status != "open":
        raise Conflict(
            f"Duplicate candidate {candidate_id} is {candidate.status}, not open",
            {"status": f"is {candidate.status}; only open candidates can be dismissed"},
        )
    candidate.status = "dismissed"
    candidate.resolved_by_id = actor.user_id
    candidate.updated_at = utcnow()
    session.flush()
    return candidate


def record_summaries(session: Session, entity: str, ids: Iterable[int]) -> dict[int, dict]:
    """Enough of each record for a reviewer to tell them apart (deleted ones included)."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    if entity == "contact":
        contacts = session.scalars(
            select(Contact).where(Contact.id.in_(ids)).execution_options(include_deleted=True)
        )
        return {
            c.id: {
                "id": c.id,
                "name": c.full_name,
                "email": c.email,
                "phone": c.phone,
                "mobile": c.mobile,
                "account_id": c.account_id,
                "title": c.title,
                "deleted": c.deleted_at is not None,
                "merged_into_id": c.merged_into_id,
            }
            for c in contacts
        }
    accounts = session.scalars(
        select(Account).where(Account.id.in_(ids)).execution_options(include_deleted=True)
    )
    return {
        a.id: {
            "id": a.id,
            "name": a.name,
            "domain": a.domain,
            "city": a.city,
            "country": a.country,
            "parent_id": a.parent_id,
            "deleted": a.deleted_at is not None,
            "merged_into_id": a.merged_into_id,
        }
        for a in accounts
    }


def resolve_candidates_of(
    session: Session, actor: Actor, entity: str, merged_id: int, survivor_id: int
) -> dict[int, str]:
    """After a merge: the merged pair becomes ``merged``, other open pairs of the merged
    record ``closed``. Returns ``{candidate id: previous status}`` so a revert can undo it."""
    candidates = session.scalars(
        select(DuplicateCandidate).where(
            DuplicateCandidate.entity == entity,
            or_(DuplicateCandidate.record_a == merged_id, DuplicateCandidate.record_b == merged_id),
            DuplicateCandidate.status.in_(("open", "closed")),
        )
    ).all()
    previous: dict[int, str] = {}
    now = utcnow()
    pair = tuple(sorted((merged_id, survivor_id)))
    for candidate in candidates:
        previous[candidate.id] = candidate.status
        if (candidate.record_a, candidate.record_b) == pair:
            candidate.status = "merged"
            candidate.resolved_by_id = actor.user_id
        else:
            candidate.status = "closed"
        candidate.updated_at = now
    session.flush()
    return previous


def restore_candidate_statuses(session: Session, previous: dict[str, str]) -> None:
    """Undo :func:`resolve_candidates_of` (keys arrive as strings from JSON)."""
    now = utcnow()
    for candidate_id, status in previous.items():
        candidate = session.get(DuplicateCandidate, int(candidate_id))
        if candidate is not None:
            candidate.status = status
            if status in ("open", "closed"):
                candidate.resolved_by_id = None
            candidate.updated_at = now
    session.flush()
