"""Load benchmark accounts and contacts into PostgreSQL with COPY, fast and deterministically.

    python -m bench.generate --database-url URL --contacts 1000000 --accounts 100000 \\
        --seed 42 [--reset]

The rows are what the CRM holds *after* normalization: lower-case unique e-mails (mostly
``first.last@<account domain>``), E.164 phones valid for libphonenumber, proper-case names,
alpha-2 countries, JSONB arrays and objects, UTC timestamps over the three years before the
anchor day (today, unless ``--anchor`` names one). The same seed, sizes and anchor give the
same rows. The whole load is one transaction; afterwards the tables are vacuumed and
analysed and a ``bench_meta`` row records what was loaded.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg

from bench import vocab
from bench.database import (
    DEFAULT_DATABASE_URL,
    core_tables_exist,
    create_schema,
    drop_schema,
    engine_for,
    ensure_database,
    psycopg_conninfo,
    read_marker,
    write_marker,
)

# Bump when the generated rows change shape, so that old markers no longer match.
GENERATOR_VERSION = 1
MARKER_KEY = "generate"
HISTORY_DAYS = 3 * 365
CHUNK_ROWS = 5_000
PROGRESS_EVERY = 50_000
NULL = "\\N"

ACCOUNT_COLUMNS = (
    "id",
    "name",
    "name_key",
    "domain",
    "secondary_domains",
    "parent_id",
    "industry",
    "employee_count",
    "annual_revenue",
    "phone",
    "linkedin_url",
    "description",
    "street",
    "city",
    "region",
    "postal_code",
    "country",
    "technologies",
    "tags",
    "custom_fields",
    "field_provenance",
    "created_at",
    "updated_at",
    "deleted_at",
)
CONTACT_COLUMNS = (
    "id",
    "account_id",
    "first_name",
    "last_name",
    "email",
    "email_domain",
    "phone",
    "mobile",
    "title",
    "seniority",
    "department",
    "linkedin_url",
    "city",
    "region",
    "postal_code",
    "country",
    "timezone",
    "tags",
    "custom_fields",
    "field_provenance",
    "created_at",
    "updated_at",
    "deleted_at",
)
LOADED_TABLES = ("accounts", "contacts")


class History:
    """Timestamps in the ``days`` before ``anchor``, as COPY text, without datetime objects."""

    def __init__(self, anchor: date, days: int = HISTORY_DAYS) -> None:
        start = anchor - timedelta(days=days)
        self.seconds = days * 86_400
        self._days = [(start + timedelta(days=d)).isoformat() for d in range(days + 1)]

    def text(self, offset: int) -> str:
        day, second = divmod(offset, 86_400)
        hour, second = divmod(second, 3_600)
        minute, second = divmod(second, 60)
        return f"{self._days[day]} {hour:02d}:{minute:02d}:{second:02d}+00"


@dataclass
class AccountDirectory:
    """What contact rows need from the accounts: domain, city and e-mail convention."""

    domains: list[str] = field(default_factory=list)
    cities: list[int] = field(default_factory=list)
    email_patterns: list[str] = field(default_factory=list)


def _json_array(items: list[str]) -> str:
    return "[" + ",".join(f'"{item}"' for item in items) + "]"


def _pick_some(rng: random.Random, items: tuple[str, ...], at_least: tuple[float, ...]) -> str:
    """A JSON array of distinct items; ``at_least[k]`` is the chance of more than k items."""
    x = rng.random()
    count = sum(1 for chance in at_least if x < chance)
    return _json_array(rng.sample(items, count)) if count else "[]"


def _lifetime(r: Callable[[], float], history: History) -> tuple[str, str, str]:
    """created_at, updated_at and deleted_at (about 0.5% set) as COPY text."""
    created = int(r() * history.seconds)
    updated = created + int(r() * (history.seconds - created))
    deleted = history.text(updated) if r() < 0.005 else NULL
    return history.text(created), history.text(updated), deleted


def account_chunks(
    count: int, seed: int, history: History, directory: AccountDirectory
) -> Iterator[tuple[int, str]]:
    """COPY text for ``count`` accounts, in chunks of (rows, text); fills ``directory``."""
    rng = random.Random(seed)
    r = rng.random
    cities, city_table = vocab.CITIES, vocab.CITY_TABLE
    industries, patterns = vocab.INDUSTRIES, vocab.EMAIL_PATTERNS
    lines: list[str] = []
    for index in range(count):
        account_id = index + 1
        company = vocab.company_for_index(index, seed)
        name = company.name(int(r() * 12), separator=" " if r() < 0.85 else "", comma=r() < 0.2)
        country = vocab.TLD_COUNTRIES.get(company.domain.split(".", 1)[1])
        if country is not None:
            local = vocab.CITIES_BY_COUNTRY[country]
            city_index = local[int(r() * len(local))]
        else:
            city_index = city_table[int(r() * len(city_table))]
        city = cities[city_index]
        directory.domains.append(company.domain)
        directory.cities.append(city_index)
        directory.email_patterns.append(patterns[int(r() * len(patterns))])

        industry = industries[int(r() * len(industries))]
        employees = int(10 ** (r() * 4.7)) + 1
        revenue = str(employees * (80 + int(r() * 220)) * 1000) if r() < 0.9 else NULL
        parent = str(int(r() * index) + 1) if index and r() < 0.10 else NULL
        label = company.domain.split(".", 1)[0]
        description = (
            f"{name} is {'an' if industry[0] in 'AEIOU' else 'a'} {industry.lower()} company"
            f" based in {city.name}."
            if r() < 0.6
            else NULL
        )
        street = f"{int(r() * 999) + 1} {vocab.STREET_NAMES[int(r() * len(vocab.STREET_NAMES))]}"
        technologies = _pick_some(rng, vocab.TECHNOLOGIES, (0.8, 0.6, 0.4, 0.25, 0.1))
        tags = _pick_some(rng, vocab.TAGS, (0.5, 0.2))
        created, updated, deleted = _lifetime(r, history)
        lines.append(
            f"{account_id}\t{name}\t{vocab.name_key(name)}\t{company.domain}\t[]\t{parent}\t"
            f"{industry}\t{employees}\t{revenue}\t{vocab.landline(city, r)}\t"
            f"https://www.linkedin.com/company/{label}\t{description}\t{street}\t{city.name}\t"
            f"{city.region or NULL}\t{vocab.postal_code(city.postal_code, r)}\t{city.country}\t"
            f"{technologies}\t{tags}\t{{}}\t{{}}\t{created}\t{updated}\t{deleted}\n"
        )
        if len(lines) == CHUNK_ROWS:
            yield len(lines), "".join(lines)
            lines.clear()
    if lines:
        yield len(lines), "".join(lines)


def contact_chunks(
    count: int, seed: int, history: History, directory: AccountDirectory
) -> Iterator[tuple[int, str]]:
    """COPY text for ``count`` contacts spread over the accounts of ``directory``.

    Contacts per account are skewed: the account at quantile q of the (shuffled) order is
    drawn with density 1 / (2 sqrt(q)), so the largest of 100,000 accounts gets about 0.3%
    of all contacts and the smallest about half the mean. E-mails stay unique
    without remembering them: the n-th contact of an account gets the first name at
    ``(n + offset) % len(FIRST_NAMES)`` and, from the second lap on, a lap number suffix;
    free-mail addresses carry the contact id.
    """
    rng = random.Random(seed * 1_000_003 + 1)
    r = rng.random
    first_names, last_names = vocab.FIRST_NAMES, vocab.LAST_NAMES
    first_keys, last_keys = vocab.FIRST_KEYS, vocab.LAST_KEYS
    n_first, n_last = len(first_names), len(last_names)
    cities, city_table = vocab.CITIES, vocab.CITY_TABLE
    departments, seniorities = vocab.DEPARTMENTS, vocab.SENIORITIES
    seniority_table, titles = vocab.SENIORITY_TABLE, vocab.TITLES
    freemail = vocab.FREEMAIL_DOMAINS
    n_accounts = len(directory.domains)
    placement = list(range(n_accounts))
    rng.shuffle(placement)  # the biggest accounts are anywhere in the id range
    slots = [0] * n_accounts
    first_offsets = [int(r() * n_first) for _ in range(n_accounts)]
    lines: list[str] = []
    for index in range(count):
        contact_id = index + 1
        if n_accounts and r() < 0.95:
            x = r()
            account = placement[int(n_accounts * x * x)]
            slot = slots[account]
            slots[account] = slot + 1
            first_index = (slot + first_offsets[account]) % n_first
            lap_suffix = str(slot // n_first) if slot >= n_first else ""
            account_text = str(account + 1)
        else:
            account = -1
            lap_suffix = ""
            first_index = int(r() * n_first)
            account_text = NULL
        last_index = int(r() * n_last)
        first_key, last_key = first_keys[first_index], last_keys[last_index]

        x = r()
        if x < 0.01:
            email = email_domain = NULL
        elif account >= 0 and x < 0.86:
            email_domain = directory.domains[account]
            local = directory.email_patterns[account].format(f=first_key, l=last_key)
            email = f"{local}{lap_suffix}@{email_domain}"
        else:
            email_domain = freemail[int(r() * len(freemail))]
            email = f"{first_key}.{last_key}{contact_id}@{email_domain}"

        if account >= 0 and r() < 0.75:
            city = cities[directory.cities[account]]
        else:
            city = cities[city_table[int(r() * len(city_table))]]
        phone = vocab.landline(city, r) if r() < 0.7 else NULL
        mobile = vocab.mobile(city, r) if r() < 0.4 else NULL
        department = departments[int(r() * len(departments))]
        seniority = seniorities[seniority_table[int(r() * len(seniority_table))]]
        choices = titles[department, seniority]
        title = choices[int(r() * len(choices))]
        linkedin = (
            f"https://www.linkedin.com/in/{first_key}-{last_key}-{contact_id:x}"
            if r() < 0.6
            else NULL
        )
        tags = _pick_some(rng, vocab.TAGS, (0.5, 0.2, 0.05))
        created, updated, deleted = _lifetime(r, history)
        lines.append(
            f"{contact_id}\t{account_text}\t{first_names[first_index]}\t"
            f"{last_names[last_index]}\t{email}\t{email_domain}\t{phone}\t{mobile}\t{title}\t"
            f"{seniority}\t{department if r() < 0.95 else NULL}\t{linkedin}\t{city.name}\t"
            f"{city.region or NULL}\t{vocab.postal_code(city.postal_code, r)}\t{city.country}\t"
            f"{city.timezone}\t{tags}\t{{}}\t{{}}\t{created}\t{updated}\t{deleted}\n"
        )
        if len(lines) == CHUNK_ROWS:
            yield len(lines), "".join(lines)
            lines.clear()
    if lines:
        yield len(lines), "".join(lines)


class Progress:
    """A progress line on stderr, redrawn every PROGRESS_EVERY rows."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total = label, total
        self.started = time.perf_counter()
        self._next = PROGRESS_EVERY
        self._redraw = sys.stderr.isatty()

    def update(self, done: int) -> None:
        if done < self._next and done < self.total:
            return
        self._next = done + PROGRESS_EVERY
        elapsed = time.perf_counter() - self.started
        rate = done / elapsed if elapsed else 0.0
        percent = 100.0 * done / self.total if self.total else 100.0
        end = "\r" if self._redraw and done < self.total else "\n"
        sys.stderr.write(
            f"  {self.label}: {done:>11,}/{self.total:,} ({percent:5.1f}%)"
            f" {rate:>9,.0f} rows/s{end}"
        )
        sys.stderr.flush()


def copy_rows(
    cursor: psycopg.Cursor[Any],
    table: str,
    columns: tuple[str, ...],
    chunks: Iterator[tuple[int, str]],
    total: int,
    freeze: bool,
) -> None:
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    if freeze:
        statement += " WITH (FREEZE)"
    progress = Progress(table, total)
    done = 0
    with cursor.copy(statement) as copy:
        for rows, text in chunks:
            copy.write(text)
            done += rows
            progress.update(done)
    if not total:
        progress.update(0)


@dataclass
class DeferredStructures:
    """Secondary indexes and foreign keys dropped for the load, with their definitions."""

    indexes: list[tuple[str, str]] = field(default_factory=list)
    foreign_keys: list[tuple[str, str, str]] = field(default_factory=list)


def defer_structures(cursor: psycopg.Cursor[Any], tables: tuple[str, ...]) -> DeferredStructures:
    """Drop the secondary indexes of ``tables`` and the foreign keys from or to them.

    Definitions come from the catalogue, so this follows whatever created the schema
    (``create_all`` or Alembic). Primary keys and constraint-backed indexes stay.
    """
    deferred = DeferredStructures()
    cursor.execute(
        """
        SELECT ic.relname, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        JOIN pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_class t ON t.oid = i.indrelid
        WHERE t.relname = ANY(%s) AND t.relnamespace = 'public'::regnamespace
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        ORDER BY t.relname, ic.relname
        """,
        (list(tables),),
    )
    deferred.indexes = [(name, definition) for name, definition in cursor.fetchall()]
    cursor.execute(
        """
        SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
        FROM pg_constraint c
        WHERE c.contype = 'f'
          AND (c.conrelid = ANY(%s::regclass[]) OR c.confrelid = ANY(%s::regclass[]))
        ORDER BY 1, 2
        """,
        (list(tables), list(tables)),
    )
    deferred.foreign_keys = [(table, name, definition) for table, name, definition in cursor]
    for table, name, _ in deferred.foreign_keys:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in deferred.indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    return deferred


def restore_structures(cursor: psycopg.Cursor[Any], deferred: DeferredStructures) -> None:
    for name, definition in deferred.indexes:
        started = time.perf_counter()
        cursor.execute(definition)
        sys.stderr.write(f"  index {name}: {time.perf_counter() - started:.1f} s\n")
    for table, name, definition in deferred.foreign_keys:
        cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


@dataclass
class LoadReport:
    accounts: int
    contacts: int
    seed: int
    anchor: str
    index_mode: str
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return self.accounts + self.contacts

    def marker(self) -> dict[str, Any]:
        return {
            "generator_version": GENERATOR_VERSION,
            "accounts": self.accounts,
            "contacts": self.contacts,
            "seed": self.seed,
            "anchor": self.anchor,
        }


class LoadError(RuntimeError):
    """The database is not in a state the generator can load into; the message says why."""


def load(
    database_url: str,
    *,
    accounts: int,
    contacts: int,
    seed: int,
    anchor: date,
    reset: bool = False,
    create_missing_schema: bool = False,
    index_mode: str = "rebuild",
) -> LoadReport:
    """Load the data set in one transaction, then VACUUM ANALYZE the two tables.

    ``index_mode`` "rebuild" drops secondary indexes and foreign keys before COPY and
    recreates them after; "keep" leaves them in place during COPY.
    """
    vocab.check_vocabulary()
    if (reset or create_missing_schema) and ensure_database(database_url):
        sys.stderr.write(f"created the database of {database_url}\n")
    report = LoadReport(accounts, contacts, seed, anchor.isoformat(), index_mode)
    history = History(anchor)
    directory = AccountDirectory()
    started = time.perf_counter()
    engine = engine_for(database_url)
    try:
        with engine.connect() as conn:
            created = False
            if reset:
                drop_schema(conn)
                create_schema(conn)
                created = True
            elif not core_tables_exist(conn):
                if not create_missing_schema:
                    raise LoadError(
                        "the Pivotal tables do not exist: run `pivotal db upgrade` or pass "
                        "--create-schema"
                    )
                create_schema(conn)
                created = True
            report.timings["schema"] = time.perf_counter() - started
            pg: psycopg.Connection[Any] = conn.connection.driver_connection
            with pg.cursor() as cursor:
                cursor.execute(
                    "SELECT EXISTS (SELECT 1 FROM accounts) OR EXISTS (SELECT 1 FROM contacts)"
                )
                if cursor.fetchone() != (False,):
                    raise LoadError(
                        "accounts or contacts already hold rows; pass --reset to drop and "
                        "recreate the tables"
                    )
                cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
                step = time.perf_counter()
                deferred = (
                    defer_structures(cursor, LOADED_TABLES)
                    if index_mode == "rebuild"
                    else DeferredStructures()
                )
                report.timings["drop indexes and foreign keys"] = time.perf_counter() - step
                # Tables created in this transaction take COPY FREEZE: rows land frozen and
                # all-visible, so no later VACUUM has to rewrite every page.
                step = time.perf_counter()
                copy_rows(
                    cursor,
                    "accounts",
                    ACCOUNT_COLUMNS,
                    account_chunks(accounts, seed, history, directory),
                    accounts,
                    created,
                )
                report.timings["copy accounts"] = time.perf_counter() - step
                step = time.perf_counter()
                copy_rows(
                    cursor,
                    "contacts",
                    CONTACT_COLUMNS,
                    contact_chunks(contacts, seed, history, directory),
                    contacts,
                    created,
                )
                report.timings["copy contacts"] = time.perf_counter() - step
                step = time.perf_counter()
                restore_structures(cursor, deferred)
                report.timings["indexes and foreign keys"] = time.perf_counter() - step
                for table in LOADED_TABLES:
                    cursor.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                        f" coalesce(max(id), 1), max(id) IS NOT NULL) FROM {table}"
                    )
                write_marker(pg, MARKER_KEY, report.marker())
            step = time.perf_counter()
            conn.commit()
            report.timings["commit"] = time.perf_counter() - step
    finally:
        engine.dispose()
    step = time.perf_counter()
    with psycopg.connect(psycopg_conninfo(database_url), autocommit=True) as pg:
        pg.execute("VACUUM (ANALYZE) accounts, contacts")
    report.timings["vacuum analyze"] = time.perf_counter() - step
    report.timings["total"] = time.perf_counter() - started
    return report


def is_loaded(database_url: str, *, accounts: int, contacts: int, seed: int) -> bool:
    """Whether this data set (of any anchor day) is loaded and still has its row counts."""
    marker = read_marker(database_url, MARKER_KEY)
    expected = {
        "generator_version": GENERATOR_VERSION,
        "accounts": accounts,
        "contacts": contacts,
        "seed": seed,
    }
    if marker is None or any(marker.get(key) != value for key, value in expected.items()):
        return False
    with psycopg.connect(psycopg_conninfo(database_url)) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM accounts), (SELECT count(*) FROM contacts)"
        ).fetchone()
    return row == (accounts, contacts)


def print_report(report: LoadReport) -> None:
    total = report.timings["total"]
    copy_time = report.timings["copy accounts"] + report.timings["copy contacts"]
    print(
        f"Loaded {report.accounts:,} accounts and {report.contacts:,} contacts "
        f"(seed {report.seed}, anchor {report.anchor}, indexes: {report.index_mode})"
    )
    for step, seconds in report.timings.items():
        print(f"  {step:<30} {seconds:8.2f} s")
    print(
        f"  COPY rate: {report.rows / copy_time:,.0f} rows/s; "
        f"end to end: {report.rows / total:,.0f} rows/s"
    )


def today_utc() -> date:
    return datetime.now(UTC).date()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.generate", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--anchor",
        type=date.fromisoformat,
        default=None,
        help="the last day of the three-year history (default: today, UTC)",
    )
    parser.add_argument(
        "--create-schema",
        action="store_true",
        help="create the database and tables (metadata.create_all) when they are missing",
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="drop the Pivotal tables and create them anew before loading",
    )
    parser.add_argument(
        "--index-mode",
        choices=("rebuild", "keep"),
        default="rebuild",
        help="drop secondary indexes and foreign keys during COPY and "
        "rebuild them after (default), or keep them",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.contacts < 0 or args.accounts < 0:
        print("error: --contacts and --accounts must not be negative", file=sys.stderr)
        return 2
    try:
        report = load(
            args.database_url,
            accounts=args.accounts,
            contacts=args.contacts,
            seed=args.seed,
            anchor=args.anchor or today_utc(),
            reset=args.reset,
            create_missing_schema=args.create_schema,
            index_mode=args.index_mode,
        )
    except LoadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
