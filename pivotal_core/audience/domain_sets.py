"""Domain sets: an uploaded list of company domains (an ABM target list) normalized,
checked for invalid and repeated entries, matched against the accounts' primary and
secondary domains in a few set-based statements, with likely accounts suggested for the
domains no account has; missing accounts are created through the import engine (audited,
undoable from Imports) and the result becomes an account list or a list of the contacts
at the matched accounts.

Entries are normalized as account domains are (:func:`pivotal_core.normalize.normalize_domain`:
URLs, ``www.`` and other subdomains, ports and paths dropped, IDN to punycode, the
registrable domain kept), so ``https://shop.Example.co.uk/about`` matches the account of
``example.co.uk``. The match rate is matched / (matched + unmatched): the share of the
distinct valid domains that an account has; invalid entries and repeats do not count.

Sets of more than :data:`INLINE_ENTRIES` entries are processed by a job with progress.
"""

from __future__ import annotations

import io
import json
import math
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

import idna
from sqlalchemy import Select, any_, bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from pivotal_core.accounts import services as account_services
from pivotal_core.accounts.models import Account
from pivotal_core.audience import services as audiences
from pivotal_core.audience.models import (
    ENTITY_TYPES,
    VISIBILITY_SCOPES,
    AudienceList,
    DomainSet,
    DomainSetItem,
    DomainSetSuggestion,
)
from pivotal_core.audience.services import Viewer
from pivotal_core.audit.models import AuditEvent
from pivotal_core.audit.services import Actor, record_changes
from pivotal_core.contacts.models import Contact
from pivotal_core.dataquality.duplicates import name_trigrams
from pivotal_core.dataquality.files import FileFormat, FileProblem, read_rows, row_problems
from pivotal_core.dataquality.rows import PreparedRow
from pivotal_core.dataquality.storage import store_upload
from pivotal_core.db import utcnow
from pivotal_core.errors import (
    Conflict,
    NotFound,
    PayloadTooLarge,
    Unprocessable,
    ValidationFailed,
)
from pivotal_core.jobs import services as jobs
from pivotal_core.jobs.queue import register_task, registered_task
from pivotal_core.normalize import NormalizationError, company_match_key, normalize_domain

__all__ = [
    "MAX_ENTRIES",
    "DomainSetReport",
    "create_domain_set",
    "create_missing_accounts",
    "domain_set_to_list",
    "get_domain_set",
    "match_domain_set",
    "match_to_account",
    "process_domain_set",
    "read_domain_file",
    "rematch_domain_set",
    "suggest_accounts",
]

MAX_ENTRIES = 100_000
# Larger sets are processed (and their missing accounts created) by a job.
INLINE_ENTRIES = 2_000
MAX_RAW = 500
SQLITE_IN_CHUNK = 5_000
# Unmatched domains looked at for suggestions per run: comparing names is Python work,
# so each run is bounded; "suggest more" continues after the last line looked at.
SUGGESTION_BATCH = 1_000
# A new set starts with suggestions for its first unmatched domains only (the page shows
# twenty at a time): comparing names costs more than matching the whole set.
FIRST_SUGGESTIONS = 250
SUGGESTIONS_PER_DOMAIN = 3
# Trigram similarity of the domain's label and the account's company key from which an
# account is suggested ("acmewidgets" / "Acme Widgets" is 1.0 once spaces are dropped).
SUGGESTION_THRESHOLD = 0.5
# Column headers (lower case, "_" and "-" as spaces) taken for the domain column, best first.
DOMAIN_COLUMNS = (
    "domain",
    "domains",
    "company domain",
    "domain name",
    "website",
    "company website",
    "website url",
    "web site",
    "url",
    "homepage",
    "home page",
    "site",
    "web",
)
DOMAIN_WORDS = ("domain", "website", "url")
PROCESS_TASK = "audience.process_domain_set"
CREATE_ACCOUNTS_TASK = "audience.domain_set_create_accounts"
# The import source of accounts created from domain sets (provenance "import:domain-set").
ACCOUNT_SOURCE = "domain-set"
AUDIT_ENTITY = "domain_set"

# Domain sets share the visibility and ownership rules of saved filters, segments and
# lists (``audience.services.get_shared`` / ``check_can_change``): see its ``KINDS``.


# ---------------------------------------------------------------------------
# Reading entries
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One non-blank entry: its line (a file's row number, or position in a JSON list)."""

    line: int
    raw: str
    problem: str | None = None


def _header_key(header: str) -> str:
    return " ".join(header.strip().lower().replace("_", " ").replace("-", " ").split())


def _looks_like_domain(text: str) -> bool:
    try:
        return normalize_domain(text) is not None
    except NormalizationError:
        return False


def choose_column(fmt: FileFormat, column: str | None) -> tuple[str, bool]:
    """``(header of the domain column, headerless)``: the column named, else the one whose
    header says domain or website, else the only one. A one-column file whose first line
    is a domain has no header (a plain list, one domain per line)."""
    headers = fmt.headers
    if column is not None:
        wanted = _header_key(column)
        for header in headers:
            if _header_key(header) == wanted:
                return header, False
        raise Unprocessable(
            f"The file has no column {column!r}",
            {"column": f"is not a column of the file; its columns are {', '.join(headers)}"},
        )
    keys = {_header_key(h): h for h in reversed(headers)}
    for name in DOMAIN_COLUMNS:
        if name in keys:
            return keys[name], False
    if len(headers) == 1:
        return headers[0], _looks_like_domain(headers[0])
    for header in headers:
        if any(word in _header_key(header) for word in DOMAIN_WORDS):
            return header, False
    raise Unprocessable(
        "Which column holds the domains?",
        {"column": f"name the column of the domains: one of {', '.join(headers)}"},
    )


def file_entries(
    path: str | Path, fmt: FileFormat, column: str, headerless: bool
) -> Iterator[Entry]:
    """The non-blank cells of the domain column, with their row numbers."""
    if headerless:
        yield Entry(fmt.header_row, fmt.headers[0])
    for number, cells in read_rows(path, fmt):
        value = cells.get(column, "")
        problems = row_problems(cells)
        problem = problems.get(column) or (problems.get("row") if not value.strip() else None)
        if value.strip() or problem:
            yield Entry(number, value, problem)


def list_entries(domains: Sequence[Any]) -> list[Entry]:
    """Entries of a JSON list: the line is the position in the list (from 1)."""
    entries = []
    for position, value in enumerate(domains, 1):
        if not isinstance(value, str):
            entries.append(Entry(position, json.dumps(value)[:MAX_RAW], "must be a string"))
        elif value.strip():
            entries.append(Entry(position, value))
    return entries


def _counted(entries: Iterable[Entry], field: str) -> list[Entry]:
    """All entries, refusing none or more than :data:`MAX_ENTRIES` (naming ``field``)."""
    kept: list[Entry] = []
    for entry in entries:
        kept.append(entry)
        if len(kept) > MAX_ENTRIES:
            message = f"holds more than {MAX_ENTRIES:,} domains; split it into several sets"
            raise PayloadTooLarge(
                f"A domain set has at most {MAX_ENTRIES:,} domains", {field: message}
            )
    if not kept:
        raise Unprocessable("There are no domains to match", {field: "holds no domains"})
    return kept


@dataclass
class DomainFile:
    """An uploaded file of domains, kept in the imports folder, and how to read it."""

    filename: str
    path: str
    format: FileFormat
    column: str
    headerless: bool
    entries: list[Entry]

    def source(self) -> dict[str, Any]:
        return {
            "kind": "file",
            "filename": self.filename,
            "path": self.path,
            "format": self.format.as_dict(),
            "column": self.column,
            "headerless": self.headerless,
        }


class _KeptHead:
    """Reads through a stream, keeping its first bytes: a file of a single line (one
    domain) is refused by the import files' sniffing as "a header but no data"."""

    def __init__(self, stream: BinaryIO, keep: int = 64 * 1024) -> None:
        self.stream, self.keep = stream, keep
        self.head = b""
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        if len(self.head) < self.keep:
            self.head += chunk[: self.keep - len(self.head)]
        self.size += len(chunk)
        return chunk

    def single_domain(self) -> str | None:
        """The one line of a short UTF-8 file when it is a domain, else None."""
        if self.size > self.keep:
            return None
        try:
            lines = [line for line in self.head.decode("utf-8-sig").splitlines() if line.strip()]
        except UnicodeDecodeError:
            return None
        return lines[0] if len(lines) == 1 and _looks_like_domain(lines[0]) else None


def read_domain_file(
    settings: Mapping[str, Any], stream: BinaryIO, filename: str, column: str | None = None
) -> DomainFile:
    """Keep an uploaded CSV, XLSX or text file and read its domains.

    Refused (naming the field ``file``, or ``column``): a file over the upload limit (413),
    an empty, binary or unreadable one (422), one without domains (422) or with more than
    :data:`MAX_ENTRIES` (413), a column it does not have (422).
    """
    from pivotal_core.dataquality.uploads import store_import_file

    kept = _KeptHead(stream)
    try:
        stored = store_import_file(settings, kept, filename)
    except FileProblem:
        line = kept.single_domain()
        if line is None:
            raise
        # Matched at once (one entry), so nothing needs to be kept for a job.
        fmt = FileFormat(kind="csv", headers=[line], encoding="utf-8", delimiter=",")
        return DomainFile(Path(filename).name, "", fmt, line, True, [Entry(1, line)])
    chosen, headerless = choose_column(stored.format, column)
    entries = _counted(file_entries(stored.stored_path, stored.format, chosen, headerless), "file")
    return DomainFile(
        stored.filename, stored.stored_path, stored.format, chosen, headerless, entries
    )


def stored_entries(source: Mapping[str, Any]) -> Iterator[Entry]:
    """The entries of a set's kept source (a file, or a JSON list kept for the job)."""
    path = source.get("path") or ""
    if not Path(path).exists():
        raise FileProblem("The uploaded domains are no longer kept; upload them again.")
    if source.get("kind") == "json":
        yield from list_entries(json.loads(Path(path).read_text(encoding="utf-8")))
        return
    fmt = FileFormat.from_dict(source["format"])
    yield from file_entries(path, fmt, source["column"], bool(source.get("headerless")))


# ---------------------------------------------------------------------------
# Creating a set
# ---------------------------------------------------------------------------

SET_FIELDS = ("name", "description", "entity_type", "visibility_scope")


def _checked_values(values: Mapping[str, Any], creating: bool) -> dict[str, Any]:
    checked = {k: values[k] for k in SET_FIELDS if k in values}
    errors = {}
    name = checked.get("name")
    if (creating or "name" in checked) and (not isinstance(name, str) or not name.strip()):
        errors["name"] = "is required"
    elif name is not None and len(name) > 200:
        errors["name"] = "must be at most 200 characters"
    if checked.get("entity_type", "account") not in ENTITY_TYPES:
        errors["entityType"] = f"must be one of {', '.join(ENTITY_TYPES)}"
    if checked.get("visibility_scope", "private") not in VISIBILITY_SCOPES:
        errors["visibilityScope"] = f"must be one of {', '.join(VISIBILITY_SCOPES)}"
    if errors:
        raise ValidationFailed(errors)
    if name is not None:
        checked["name"] = name.strip()
    return checked


def create_domain_set(
    session: Session,
    actor: Actor,
    viewer: Viewer | None,
    values: Mapping[str, Any],
    *,
    settings: Mapping[str, Any],
    domains: Sequence[Any] | None = None,
    upload: DomainFile | None = None,
    huey: Any = None,
    timings: dict[str, float] | None = None,
) -> DomainSet:
    """A new set from a JSON list of ``domains`` or an ``upload`` (:func:`read_domain_file`).

    Up to :data:`INLINE_ENTRIES` entries (or without ``huey``) it is matched at once
    (``timings`` as :func:`process_domain_set`); larger sets are matched by a job
    (``status`` "queued", ``job_id``).
    """
    checked = _checked_values(values, creating=True)
    if (domains is None) == (upload is None):
        raise ValidationFailed({"domains": "give either a list of domains or a file"})
    if upload is not None:
        entries, source = upload.entries, upload.source()
    else:
        entries = _counted(list_entries(domains), "domains")
        source = {"kind": "json", "filename": None, "path": None}
    domain_set = DomainSet(
        **{"entity_type": "account", "visibility_scope": "private", **checked},
        owner_id=viewer.user_id if viewer else actor.user_id,
        status="queued",
        source_file=source,
        entry_count=len(entries),
    )
    session.add(domain_set)
    session.flush()
    record_changes(
        session,
        actor,
        AUDIT_ENTITY,
        domain_set.id,
        "create",
        {
            **{name: (None, getattr(domain_set, name)) for name in SET_FIELDS},
            "entries": (None, len(entries)),
        },
    )
    if huey is None or len(entries) <= INLINE_ENTRIES:
        process_domain_set(session, domain_set, entries=entries, timings=timings)
        return domain_set
    if upload is None:
        # The job reads the list back from the imports folder, like an uploaded file.
        payload = json.dumps(list(domains)).encode("utf-8")
        path, _ = store_upload(dict(settings), io.BytesIO(payload), "domains.json")
        domain_set.source_file = {**source, "path": path}
    job = jobs.enqueue(
        session,
        registered_task(huey, PROCESS_TASK),
        PROCESS_TASK,
        {"domain_set_id": domain_set.id},
        created_by_id=actor.user_id,
        total=len(entries),
    )
    domain_set.job_id = job.id
    session.flush()
    return domain_set


# ---------------------------------------------------------------------------
# Processing: normalize, classify, store, match, suggest
# ---------------------------------------------------------------------------

# Control characters (a NUL cannot even be stored) are shown as the replacement character.
_UNPRINTABLE = dict.fromkeys([*range(0x20), *range(0x7F, 0xA0)], "\ufffd")
ITEM_COLUMNS = (
    "domain_set_id",
    "line_number",
    "raw",
    "domain",
    "status",
    "reason",
    "duplicate_of",
    "account_id",
    "matched_via",
)


def classify(set_id: int, entries: Iterable[Entry]) -> Iterator[tuple[Any, ...]]:
    """Item rows (in :data:`ITEM_COLUMNS` order, not matched yet): each entry normalized;
    a repeated domain is a duplicate of its first line; one that cannot be a domain is
    invalid."""
    first: dict[str, int] = {}
    for entry in entries:
        raw = entry.raw if entry.raw.isprintable() else entry.raw.translate(_UNPRINTABLE)
        raw = raw if len(raw) <= MAX_RAW else raw[: MAX_RAW - 1] + "…"
        domain = reason = duplicate_of = None
        if entry.problem:
            status, reason = "invalid", entry.problem[:200]
        else:
            try:
                domain = normalize_domain(entry.raw)
            except NormalizationError as exc:
                status, reason = "invalid", exc.message
            else:
                if domain is None:
                    continue
                if domain in first:
                    status, duplicate_of = "duplicate", first[domain]
                else:
                    status = "unmatched"
                    first[domain] = entry.line
        yield (set_id, entry.line, raw, domain, status, reason, duplicate_of, None, None)


def _insert_items(session: Session, rows: Iterable[tuple[Any, ...]]) -> int:
    """Write item rows: COPY on PostgreSQL, executemany on SQLite; returns how many."""
    if session.get_bind().dialect.name == "postgresql":
        driver = session.connection().connection.driver_connection
        count = 0
        statement = f"COPY domain_set_items ({', '.join(ITEM_COLUMNS)}) FROM STDIN"
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count
    records = [dict(zip(ITEM_COLUMNS, row, strict=True)) for row in rows]
    if records:
        session.execute(DomainSetItem.__table__.insert(), records)
    return len(records)


def process_domain_set(
    session: Session,
    domain_set: DomainSet,
    progress: Any = None,
    *,
    entries: Iterable[Entry] | None = None,
    timings: dict[str, float] | None = None,
) -> DomainSet:
    """Read (``entries``, else the kept source), classify, match, store and suggest.

    The items are matched before they are written (:func:`domain_owners`: one query for
    the primary domains, one pass over the secondary ones), so each row is written once,
    with one COPY on PostgreSQL. ``timings``, when given, receives the seconds each step
    took (for benchmarks)."""
    clock = _Clock(timings)
    set_id = domain_set.id
    domain_set.status = "processing"
    domain_set.error = None
    session.flush()
    items, suggestions = DomainSetItem.__table__, DomainSetSuggestion.__table__
    session.execute(delete(suggestions).where(suggestions.c.domain_set_id == set_id))
    session.execute(delete(items).where(items.c.domain_set_id == set_id))
    total = domain_set.entry_count or None

    def read() -> Iterator[Entry]:
        for done, entry in enumerate(
            stored_entries(domain_set.source_file) if entries is None else entries, 1
        ):
            if progress is not None and done % 10_000 == 0:
                progress(done, total, f"{done:,} domains read")
            yield entry

    rows = list(classify(set_id, read()))
    clock.lap("read and normalize")
    if progress is not None:
        progress(len(rows), len(rows), "Matching against accounts", force=True)
    owners = domain_owners(session, [row[3] for row in rows if row[4] == "unmatched"])
    clock.lap("match")

    def matched() -> Iterator[tuple[Any, ...]]:
        for row in rows:
            owner = owners.get(row[3]) if row[4] == "unmatched" else None
            yield (*row[:4], "matched", *row[5:7], *owner) if owner else row

    domain_set.entry_count = _insert_items(session, matched())
    clock.lap("store")
    refresh_counts(session, domain_set)
    clock.lap("count")
    if progress is not None:
        progress(domain_set.entry_count, domain_set.entry_count, "Suggesting accounts", force=True)
    suggest_accounts(session, domain_set, FIRST_SUGGESTIONS)
    clock.lap("suggest")
    domain_set.status = "ready"
    session.flush()
    return domain_set


class _Clock:
    """Seconds per step into ``timings`` (nothing when it is None)."""

    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        if self.timings is not None:
            self.timings[name] = self.timings.get(name, 0.0) + now - self.last
        self.last = now


def _any(session: Session, column: Any, values: list[str]) -> Iterator[Any]:
    """Conditions "``column`` is one of ``values``": one ``= ANY(array)`` on PostgreSQL,
    ``IN`` lists within SQLite's limit of bound parameters."""
    if session.get_bind().dialect.name == "postgresql":
        yield column == any_(bindparam(None, values, type_=ARRAY(column.type)))
        return
    for start in range(0, len(values), SQLITE_IN_CHUNK):
        yield column.in_(values[start : start + SQLITE_IN_CHUNK])


def domain_owners(session: Session, domains: Iterable[str]) -> dict[str, tuple[int, str]]:
    """``{domain: (account id, "primary" | "secondary")}`` for the live accounts owning
    ``domains``: their primary domain first, else a secondary one (the lowest account id
    when several list it). Set-based as the import engine matches accounts: one query for
    the primary domains (chunked on SQLite), one pass over all secondary domains."""
    wanted = sorted(set(domains))
    accounts = Account.__table__
    owners: dict[str, tuple[int, str]] = {}
    for condition in _any(session, accounts.c.domain, wanted):
        rows = session.execute(
            select(accounts.c.domain, accounts.c.id).where(
                accounts.c.deleted_at.is_(None), condition
            )
        )
        owners.update((domain, (account_id, "primary")) for domain, account_id in rows)
    if len(owners) < len(wanted):
        for domain, account_id in session.execute(secondary_domain_owners(session)):
            if domain not in owners:
                owners[domain] = (account_id, "secondary")
        owners = {domain: owners[domain] for domain in wanted if domain in owners}
    return owners


def secondary_domain_owners(session: Session) -> Select:
    """``(domain, account_id)`` of every secondary domain of a live account (the lowest id
    when several accounts list one domain), from the JSON lists: ``jsonb_array_elements_text``
    on PostgreSQL, ``json_each`` on SQLite, as the import engine reads them."""
    accounts = Account.__table__
    if session.get_bind().dialect.name == "postgresql":
        elements = func.jsonb_array_elements_text(accounts.c.secondary_domains)
    else:
        elements = func.json_each(accounts.c.secondary_domains)
    values = elements.table_valued("value").alias("secondary")
    return (
        select(values.c.value.label("domain"), func.min(accounts.c.id).label("account_id"))
        .select_from(accounts.join(values, values.c.value.isnot(None)))
        .where(accounts.c.deleted_at.is_(None))
        .group_by(values.c.value)
    )


def _match(session: Session, set_id: int, via: str, accounts_from: Select | None = None) -> int:
    """Match the set's unmatched items whose domain an account has (only the accounts
    ``accounts_from`` selects, when given); returns how many."""
    items = DomainSetItem.__table__
    accounts = Account.__table__
    wanted = [items.c.domain_set_id == set_id, items.c.status == "unmatched"]
    owned = [accounts.c.domain == items.c.domain, accounts.c.deleted_at.is_(None)]
    if accounts_from is not None:
        owned.append(accounts.c.id.in_(accounts_from))
    matched = session.execute(
        update(items)
        .where(*wanted, *owned)
        .values(status="matched", account_id=accounts.c.id, matched_via=via)
    ).rowcount
    if via == "primary":
        owners = secondary_domain_owners(session).subquery("owners")
        matched += session.execute(
            update(items)
            .where(*wanted, owners.c.domain == items.c.domain)
            .values(status="matched", account_id=owners.c.account_id, matched_via="secondary")
        ).rowcount
    return matched


def match_domain_set(session: Session, domain_set: DomainSet) -> int:
    """Match the set's unmatched items again against accounts' primary, then secondary
    domains (two UPDATE ... FROM statements, whatever the set's size; a new set is
    matched before its items are written); returns how many matched."""
    matched = _match(session, domain_set.id, "primary")
    refresh_counts(session, domain_set)
    return matched


def refresh_counts(session: Session, domain_set: DomainSet) -> DomainSet:
    items = DomainSetItem.__table__
    of_set = items.c.domain_set_id == domain_set.id
    counts = dict(
        session.execute(
            select(items.c.status, func.count()).where(of_set).group_by(items.c.status)
        ).all()
    )
    domain_set.matched_count = counts.get("matched", 0)
    domain_set.unmatched_count = counts.get("unmatched", 0)
    domain_set.invalid_count = counts.get("invalid", 0)
    domain_set.duplicate_count = counts.get("duplicate", 0)
    domain_set.account_count = session.scalar(
        select(func.count(func.distinct(items.c.account_id))).where(
            of_set, items.c.status == "matched"
        )
    )
    domain_set.matched_at = utcnow()
    session.flush()
    return domain_set


@dataclass(frozen=True)
class DomainSetReport:
    """The match report of a set: counts and the match rate (None before any valid domain)."""

    entries: int
    matched: int
    unmatched: int
    invalid: int
    duplicates: int
    accounts: int

    @property
    def match_rate(self) -> float | None:
        valid = self.matched + self.unmatched
        return round(self.matched / valid, 4) if valid else None

    @classmethod
    def of(cls, domain_set: DomainSet) -> DomainSetReport:
        return cls(
            entries=domain_set.entry_count or 0,
            matched=domain_set.matched_count or 0,
            unmatched=domain_set.unmatched_count or 0,
            invalid=domain_set.invalid_count or 0,
            duplicates=domain_set.duplicate_count or 0,
            accounts=domain_set.account_count or 0,
        )


# ---------------------------------------------------------------------------
# Suggestions for unmatched domains
# ---------------------------------------------------------------------------


def label_key(domain: str) -> str | None:
    """The company key of a registrable domain's own label (``acme-widgets.co.uk`` ->
    ``acme widgets``; punycode labels decoded first)."""
    label = domain.split(".", 1)[0]
    if label.startswith("xn--"):
        try:
            label = idna.decode(label)
        except (idna.IDNAError, UnicodeError, ValueError):
            pass
    return company_match_key(label)


def _compact_key(domain: str) -> str | None:
    """The label's company key without spaces: a domain label seldom has them
    (``acme-widgets.com`` and ``acmewidgets.com`` both ``acmewidgets``, as "Acme Widgets")."""
    key = label_key(domain)
    return key.replace(" ", "") if key else None


class _NameIndex:
    """Company keys (spaces dropped) of the accounts sharing a domain's first three
    letters, with an inverted index of their trigrams (``duplicates.name_trigrams``).

    A similarity join with prefix filtering, as the duplicate scan does: an account whose
    trigrams have Jaccard similarity >= t with a domain's shares one of the domain's
    ``|Q| - ceil(t|Q|) + 1`` rarest trigrams, so only those trigrams' accounts are
    compared, however large a block of common first letters is.
    """

    def __init__(self, rows: Iterable[tuple[int, str]]) -> None:
        self.grams: dict[int, frozenset[str]] = {}
        self.postings: dict[str, list[int]] = defaultdict(list)
        self.prefix: dict[int, str] = {}
        for account_id, name_key in rows:
            compact = name_key.replace(" ", "")
            grams = name_trigrams(compact)
            self.grams[account_id] = grams
            self.prefix[account_id] = compact[:3]
            for gram in grams:
                self.postings[gram].append(account_id)

    def similar(self, compact: str, threshold: float) -> list[tuple[float, int]]:
        """``(score, account id)`` at ``threshold`` or more, best first."""
        query = name_trigrams(compact)
        size = len(query)
        if not size:
            return []
        rarest = sorted(query, key=lambda gram: (len(self.postings.get(gram, ())), gram))
        seen: set[int] = set()
        found = []
        for gram in rarest[: size - math.ceil(threshold * size) + 1]:
            for account_id in self.postings.get(gram, ()):
                if account_id in seen:
                    continue
                seen.add(account_id)
                grams = self.grams[account_id]
                if self.prefix[account_id] != compact[:3] or not (
                    threshold * size <= len(grams) <= size / threshold
                ):
                    continue
                score = len(query & grams) / len(query | grams)
                if score >= threshold:
                    found.append((round(score, 3), account_id))
        return sorted(found, key=lambda pair: (-pair[0], pair[1]))


def suggest_accounts(
    session: Session, domain_set: DomainSet, limit: int = SUGGESTION_BATCH
) -> dict[str, int]:
    """Suggest accounts for the next ``limit`` unmatched domains (after ``suggested_through``).

    A domain's label is compared with the company keys of the live accounts whose key
    starts with the same three letters (spaces dropped), as the duplicate scan blocks
    names, so a typo in the first letters is not found; one run is bounded by ``limit``.
    """
    items = DomainSetItem.__table__
    rows = session.execute(
        select(items.c.line_number, items.c.domain)
        .where(
            items.c.domain_set_id == domain_set.id,
            items.c.status == "unmatched",
            items.c.line_number > (domain_set.suggested_through or 0),
        )
        .order_by(items.c.line_number)
        .limit(limit)
    ).all()
    if not rows:
        return {"examined": 0, "suggested": 0}
    keys = {line: key for line, domain in rows if (key := _compact_key(domain))}
    prefixes = sorted({key[:3] for key in keys.values()})
    accounts = Account.__table__
    compact = func.substr(func.replace(accounts.c.name_key, " ", ""), 1, 3)
    index = _NameIndex(
        session.execute(
            select(accounts.c.id, accounts.c.name_key).where(
                accounts.c.deleted_at.is_(None), accounts.c.name_key != "", compact.in_(prefixes)
            )
        ).all()
        if prefixes
        else ()
    )
    suggestions = [
        {
            "domain_set_id": domain_set.id,
            "line_number": line,
            "account_id": account_id,
            "score": score,
        }
        for line, key in keys.items()
        for score, account_id in index.similar(key, SUGGESTION_THRESHOLD)[:SUGGESTIONS_PER_DOMAIN]
    ]
    if suggestions:
        session.execute(DomainSetSuggestion.__table__.insert(), suggestions)
    domain_set.suggested_through = rows[-1][0]
    session.flush()
    return {"examined": len(rows), "suggested": len({s["line_number"] for s in suggestions})}


def suggestions_page(
    session: Session, domain_set: DomainSet, after: int | None, limit: int
) -> list[tuple[DomainSetItem, list[tuple[Account, float]]]]:
    """Unmatched items that have suggestions, by line after ``after``, each with its
    suggested accounts, best first."""
    have = select(DomainSetSuggestion.line_number).where(
        DomainSetSuggestion.domain_set_id == domain_set.id
    )
    stmt = select(DomainSetItem).where(
        DomainSetItem.domain_set_id == domain_set.id,
        DomainSetItem.status == "unmatched",
        DomainSetItem.line_number.in_(have),
    )
    if after is not None:
        stmt = stmt.where(DomainSetItem.line_number > after)
    found = list(session.scalars(stmt.order_by(DomainSetItem.line_number).limit(limit)))
    if not found:
        return []
    rows = session.execute(
        select(DomainSetSuggestion.line_number, Account, DomainSetSuggestion.score)
        .join(Account, Account.id == DomainSetSuggestion.account_id)
        .where(
            DomainSetSuggestion.domain_set_id == domain_set.id,
            DomainSetSuggestion.line_number.in_([item.line_number for item in found]),
        )
        .order_by(DomainSetSuggestion.score.desc(), Account.id)
    )
    by_line: dict[int, list[tuple[Account, float]]] = defaultdict(list)
    for line, account, score in rows:
        by_line[line].append((account, score))
    return [(item, by_line[item.line_number]) for item in found if by_line[item.line_number]]


# ---------------------------------------------------------------------------
# Reading sets and items
# ---------------------------------------------------------------------------


def get_domain_set(
    session: Session, set_id: int, viewer: Viewer | None, *, include_deleted: bool = False
) -> DomainSet:
    """The set ``set_id`` if ``viewer`` may see it (another user's private one is a 404)."""
    return audiences.get_shared(session, DomainSet, set_id, viewer, include_deleted=include_deleted)


def domain_sets_query(
    viewer: Viewer | None, entity_type: str | None, q: str | None, *, deleted: bool = False
) -> Select:
    return audiences.shared_query(DomainSet, viewer, entity_type, q, deleted=deleted)


def item_page(
    session: Session, domain_set: DomainSet, status: str | None, after: int | None, limit: int
) -> list[DomainSetItem]:
    """Items by line after ``after`` (keyset), of one status when given."""
    stmt = select(DomainSetItem).where(DomainSetItem.domain_set_id == domain_set.id)
    if status:
        stmt = stmt.where(DomainSetItem.status == status)
    if after is not None:
        stmt = stmt.where(DomainSetItem.line_number > after)
    return list(session.scalars(stmt.order_by(DomainSetItem.line_number).limit(limit)))


def matched_accounts(session: Session, items: Iterable[DomainSetItem]) -> dict[int, Account]:
    ids = {item.account_id for item in items if item.account_id is not None}
    if not ids:
        return {}
    stmt = select(Account).where(Account.id.in_(ids)).execution_options(include_deleted=True)
    return {account.id: account for account in session.scalars(stmt)}


# ---------------------------------------------------------------------------
# Changing a set
# ---------------------------------------------------------------------------


def _ready(domain_set: DomainSet) -> None:
    if domain_set.status != "ready":
        raise Conflict(
            f"Domain set {domain_set.id} is {domain_set.status}; wait until it is matched",
            {"status": domain_set.status},
        )


def _audit(session: Session, actor: Actor, domain_set: DomainSet, changes: Mapping) -> None:
    record_changes(session, actor, AUDIT_ENTITY, domain_set.id, "update", changes)


def check_ready_to_change(domain_set: DomainSet, viewer: Viewer | None) -> None:
    """``viewer`` may change the set, and it has been matched (not queued or failed)."""
    audiences.check_can_change(domain_set, viewer)
    _ready(domain_set)


def update_domain_set(
    session: Session, actor: Actor, viewer: Viewer | None, domain_set: DomainSet, values: Mapping
) -> DomainSet:
    checked = _checked_values(values, creating=False)
    audiences.check_can_change(domain_set, viewer, "visibility_scope" in checked)
    audiences.apply_shared_changes(session, actor, domain_set, checked, SET_FIELDS, "update")
    return domain_set


def delete_domain_set(
    session: Session, actor: Actor, viewer: Viewer | None, domain_set: DomainSet
) -> None:
    audiences.check_can_change(domain_set, viewer)
    audiences.soft_delete_shared(session, actor, domain_set)


def restore_domain_set(
    session: Session, actor: Actor, viewer: Viewer | None, domain_set: DomainSet
) -> None:
    """Bring back a soft-deleted set, its entries and matches as they were."""
    audiences.restore_shared(session, actor, viewer, domain_set)


def _item(session: Session, domain_set: DomainSet, line: int) -> DomainSetItem:
    item = session.get(DomainSetItem, (domain_set.id, line))
    if item is None:
        raise NotFound(f"Domain set {domain_set.id} has no line {line}")
    return item


def match_to_account(
    session: Session,
    actor: Actor,
    viewer: Viewer | None,
    domain_set: DomainSet,
    line: int,
    account_id: int,
    *,
    add_domain: bool = False,
) -> DomainSetItem:
    """Match an unmatched domain to an account a person chose (a suggestion, say);
    ``add_domain`` also records the domain as one of the account's secondary domains
    (through the accounts service: audited, refused if another account has it)."""
    check_ready_to_change(domain_set, viewer)
    item = _item(session, domain_set, line)
    if item.status != "unmatched":
        raise Conflict(
            f"Line {line} is {item.status}; only an unmatched domain can be matched by hand",
            {"lineNumber": f"is {item.status}"},
        )
    try:
        account = account_services.get_account(session, account_id)
    except NotFound:
        raise ValidationFailed({"accountId": f"no account with id {account_id}"}) from None
    if add_domain and item.domain not in (account.domain, *(account.secondary_domains or [])):
        account_services.update_account(
            session,
            actor,
            account,
            {"secondary_domains": [*(account.secondary_domains or []), item.domain]},
        )
    item.status, item.account_id, item.matched_via = "matched", account.id, "manual"
    session.flush()
    refresh_counts(session, domain_set)
    _audit(
        session,
        actor,
        domain_set,
        {f"line {line}": ("unmatched", {"account_id": account.id, "domain": item.domain})},
    )
    return item


def rematch_domain_set(
    session: Session, actor: Actor, viewer: Viewer | None, domain_set: DomainSet
) -> DomainSet:
    """Match again against the accounts as they are now: matches by domain are redone;
    a match chosen by hand stays while its account is live. Suggestions start over."""
    check_ready_to_change(domain_set, viewer)
    items, accounts = DomainSetItem.__table__, Account.__table__
    live = select(accounts.c.id).where(accounts.c.deleted_at.is_(None))
    of_set = items.c.domain_set_id == domain_set.id
    session.execute(
        update(items)
        .where(
            of_set,
            items.c.status == "matched",
            (items.c.matched_via != "manual")
            | items.c.account_id.is_(None)
            | items.c.account_id.not_in(live.scalar_subquery()),
        )
        .values(status="unmatched", account_id=None, matched_via=None)
    )
    before = domain_set.matched_count
    match_domain_set(session, domain_set)
    suggestions = DomainSetSuggestion.__table__
    session.execute(delete(suggestions).where(suggestions.c.domain_set_id == domain_set.id))
    domain_set.suggested_through = 0
    suggest_accounts(session, domain_set, FIRST_SUGGESTIONS)
    _audit(session, actor, domain_set, {"matched": (before, domain_set.matched_count)})
    return domain_set


def _unmatched(
    session: Session, domain_set: DomainSet, lines: Sequence[int] | None
) -> list[tuple[int, str, str]]:
    items = DomainSetItem.__table__
    stmt = select(items.c.line_number, items.c.domain, items.c.raw).where(
        items.c.domain_set_id == domain_set.id, items.c.status == "unmatched"
    )
    if lines is not None:
        stmt = stmt.where(items.c.line_number.in_(sorted(set(lines))))
    return [tuple(row) for row in session.execute(stmt.order_by(items.c.line_number))]


def create_missing_accounts(
    session: Session,
    actor: Actor,
    viewer: Viewer | None,
    domain_set: DomainSet,
    *,
    settings: Mapping[str, Any],
    lines: Sequence[int] | None = None,
    huey: Any = None,
) -> dict[str, Any]:
    """Create an account for each unmatched domain (or those of ``lines``), named by its
    domain, through the import engine: one import batch from the source "domain-set"
    (audited, with provenance, undoable from Imports). More than :data:`INLINE_ENTRIES`
    domains go to a job when ``huey`` is given. Returns ``{"domains", "created",
    "matched", "importBatchId"}`` or ``{"domains", "jobId"}``."""
    _ready(domain_set)
    wanted = _unmatched(session, domain_set, lines)
    if lines is not None and len(wanted) < len(set(lines)):
        found = {line for line, _, _ in wanted}
        missing = [line for line in sorted(set(lines)) if line not in found][:20]
        raise ValidationFailed(
            {"lineNumbers": f"not unmatched domains of this set: {', '.join(map(str, missing))}"}
        )
    if not wanted:
        return {"domains": 0, "created": 0, "matched": 0, "importBatchId": None}
    if huey is not None and len(wanted) > INLINE_ENTRIES:
        job = jobs.enqueue(
            session,
            registered_task(huey, CREATE_ACCOUNTS_TASK),
            CREATE_ACCOUNTS_TASK,
            {
                "domain_set_id": domain_set.id,
                "actor_id": actor.user_id,
                "lines": list(lines) if lines else None,
            },
            created_by_id=actor.user_id,
            total=len(wanted),
        )
        return {"domains": len(wanted), "jobId": job.id}
    return _create_accounts(session, actor, domain_set, wanted, settings)


def _create_accounts(
    session: Session,
    actor: Actor,
    domain_set: DomainSet,
    wanted: list[tuple[int, str, str]],
    settings: Mapping[str, Any],
    progress: Any = None,
) -> dict[str, Any]:
    from pivotal_core.dataquality.services import create_batch, run_batch

    batch = create_batch(
        session,
        actor,
        entity="account",
        source=ACCOUNT_SOURCE,
        filename=f"domain set {domain_set.id} - {domain_set.name}"[:255],
        stored_path=domain_set.source_file.get("path") or "",
        file_sha256="",
        file_format={"kind": "domain_set", "headers": ["domain"]},
        mapping={"domain": "domain"},
    )
    rows = [
        PreparedRow(number=line, values={"name": domain, "domain": domain}, raw={"domain": raw})
        for line, domain, raw in wanted
    ]
    importer = replace(actor, source=f"import:{ACCOUNT_SOURCE}", batch_id=batch.id)
    counts = run_batch(session, batch, rows, progress, settings=dict(settings), actor=importer)
    # The accounts the batch created; a domain the engine gave to an existing account
    # (an account named like it without a domain) matches as usual after them.
    created = select(AuditEvent.entity_id).where(
        AuditEvent.batch_id == batch.id,
        AuditEvent.entity == "account",
        AuditEvent.action == "create",
    )
    matched = _match(session, domain_set.id, "created", created)
    matched += _match(session, domain_set.id, "primary")
    domain_set.accounts_batch_id = batch.id
    refresh_counts(session, domain_set)
    _audit(
        session,
        actor,
        domain_set,
        {"accounts_batch_id": (None, batch.id), "accounts_created": (None, counts.created)},
    )
    return {
        "domains": len(wanted),
        "created": counts.created,
        "matched": matched,
        "importBatchId": batch.id,
    }


def domain_set_to_list(
    session: Session,
    actor: Actor,
    viewer: Viewer | None,
    domain_set: DomainSet,
    values: Mapping[str, Any],
) -> AudienceList:
    """A static list of the matched accounts (``entity_type`` "account") or of the live
    contacts at them ("contact"), filled with one INSERT ... SELECT; ``sourceType``
    "domain_set" and ``sourceRef`` ``{"domainSetId": ...}``."""
    _ready(domain_set)
    entity = values.get("entity_type") or domain_set.entity_type
    now = utcnow()
    noun = "accounts" if entity == "account" else "contacts"
    list_values = {
        "name": values.get("name") or f"{domain_set.name} ({noun}, {now:%Y-%m-%d %H:%M} UTC)",
        "description": values.get("description"),
        "entity_type": entity,
        "source_type": "domain_set",
        "source_ref": {"domainSetId": domain_set.id},
        "snapshot_ts": now,
        "tags": values.get("tags") or [],
        "visibility_scope": values.get("visibility_scope") or "private",
    }
    audience_list = audiences.create_list(session, actor, viewer, list_values)
    items = DomainSetItem.__table__
    matched = select(items.c.account_id).where(
        items.c.domain_set_id == domain_set.id,
        items.c.status == "matched",
        items.c.account_id.isnot(None),
    )
    if entity == "account":
        ids = select(Account.id).where(Account.id.in_(matched), Account.deleted_at.is_(None))
    else:
        ids = select(Contact.id).where(
            Contact.account_id.in_(matched), Contact.deleted_at.is_(None)
        )
    added = audiences.insert_members(session, audience_list, ids, now)
    audiences.audit_members(session, actor, audience_list, "added", added, "domain_set")
    return audience_list


# ---------------------------------------------------------------------------
# Jobs
# ---------------------------------------------------------------------------


def _set_for_job(session: Session, set_id: int) -> DomainSet | None:
    return session.scalar(
        select(DomainSet).where(DomainSet.id == set_id).execution_options(include_deleted=True)
    )


def _mark_failed(session: Session, set_id: int, exc: Exception) -> None:
    """Say on the set why its job failed: in a transaction of its own, since the job's
    own is rolled back (the job is retried, and its last failure stays on the set)."""
    manager = session.info["transaction_manager"]
    manager.abort()
    manager.begin()
    session.execute(
        update(DomainSet.__table__)
        .where(DomainSet.__table__.c.id == set_id)
        .values(status="failed", error=f"{type(exc).__name__}: {exc}"[:2000], updated_at=utcnow())
    )
    manager.commit()
    manager.begin()


def register_tasks(huey: Any) -> None:
    from pivotal_core.jobs.queue import task_context

    def process(session: Session, progress: Any, domain_set_id: int) -> dict[str, Any]:
        domain_set = _set_for_job(session, domain_set_id)
        if domain_set is None or domain_set.deleted_at is not None:
            return {"skipped": "the domain set was deleted"}
        if domain_set.status != "ready":
            try:
                process_domain_set(session, domain_set, progress)
            except Exception as exc:
                _mark_failed(session, domain_set_id, exc)
                raise
        report = DomainSetReport.of(domain_set)
        return {**vars(report), "match_rate": report.match_rate}

    def create_accounts(
        session: Session,
        progress: Any,
        domain_set_id: int,
        actor_id: int | None,
        lines: list[int] | None,
    ) -> dict[str, Any]:
        domain_set = _set_for_job(session, domain_set_id)
        if domain_set is None or domain_set.deleted_at is not None:
            return {"skipped": "the domain set was deleted"}
        actor = Actor(user_id=actor_id, source="job", job_id=progress.job_id)
        wanted = _unmatched(session, domain_set, lines)
        settings = task_context(huey).settings
        return _create_accounts(session, actor, domain_set, wanted, settings, progress)

    register_task(huey, PROCESS_TASK, process)
    register_task(huey, CREATE_ACCOUNTS_TASK, create_accounts)
