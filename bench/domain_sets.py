"""Domain set benchmark (DESIGN.md section 12): a 100,000-domain set matched against
100,000 accounts in <= 5 s end to end, on PostgreSQL.

    python -m bench.domain_sets [--database-url URL] [--domains 100000] [--runs 3]

Data: the benchmark database of ``bench.run_all`` (100,000 accounts, 1,000,000 contacts,
seed 42; loaded with ``bench.generate`` when ``bench_meta`` says it is missing). Inside
one transaction that is rolled back at the end (the shared data set is left as it was),
one account in ten gets a secondary domain, then a CSV file of ``--domains`` entries is
written: 40% account domains as they are, 10% in URL, ``www.``, subdomain, port, upper
case and e-mail forms, 10% secondary domains (half as URLs), 25% domains no account
has, 5% invalid entries (IP addresses, ``localhost``, public suffixes, text) and 10%
repeats of earlier entries in another form, shuffled.

Each run (in a savepoint, rolled back; normalization caches cleared first, so every run
normalizes cold) is the service path end to end: ``read_domain_file`` (store the upload,
find its format and domain column, read the entries) and ``create_domain_set`` (normalize,
classify invalid and repeated entries, COPY the items, match with two UPDATE ... FROM
statements against primary and secondary domains, counts, suggestions for the first
1,000 unmatched domains). The counts are checked against what the generator made.

Baselines from the same run: the hand-written SQL join of the same (already normalized)
distinct domains against ``accounts`` (COPY into a temporary table, one join on the primary
domain, one on the secondary domains) and the Python normalization of the raw entries
alone. CPU of this process, its PostgreSQL backend and other programs is measured per run.
Results: ``var/bench/results/domain_sets.json``.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import text
from sqlalchemy.orm import Session

from bench import generate
from bench.database import DEFAULT_DATABASE_URL, engine_for, read_marker
from bench.dataset import load_dataset
from bench.phases import QuietWaiter, say
from bench.report import Figure, format_table, write_results

BUDGET_SECONDS = 5.0
SHARES = {  # of the entries
    "primary": 0.40,
    "primary_forms": 0.10,
    "secondary": 0.10,
    "unmatched": 0.25,
    "invalid": 0.05,
    "duplicates": 0.10,
}
INVALID = (
    "not a domain",
    "localhost",
    "192.168.{i}.{j}",
    "co.uk",
    "http://",
    "foo..bar.com",
    "-bad-.com",
    "mailto:",
    "n/a",
    "www",
    "x.y",
)
FORMS = (
    "https://www.{d}/about",
    "http://shop.{d}",
    "{D}",
    "www.{d}:443",
    "info@{d}",
    " {d}/contact ",
    "HTTPS://WWW.{D}/",
    "//eu.{d}",
)


@dataclass(frozen=True)
class Options:
    database_url: str = DEFAULT_DATABASE_URL
    domains: int = 100_000
    runs: int = 3
    seed: int = 42
    accounts: int = 100_000
    contacts: int = 1_000_000
    force_generate: bool = False
    quiet_load: float = 1.0
    quiet_wait: float = 180.0


@dataclass
class Expected:
    entries: int = 0
    matched: int = 0
    unmatched: int = 0
    invalid: int = 0
    duplicates: int = 0
    accounts: int = 0
    distinct_domains: list[str] = field(default_factory=list)


@dataclass
class Run:
    seconds: float
    phases: dict[str, float]
    counts: dict[str, int]
    cpu: dict[str, float]


# ---------------------------------------------------------------------------
# The data
# ---------------------------------------------------------------------------


def build_entries(
    accounts: list[tuple[int, str]], options: Options
) -> tuple[list[str], dict[int, str], Expected]:
    """``(entries, {account id: secondary domain}, expected counts)``."""
    rng = random.Random(options.seed)
    n = options.domains
    sizes = {name: int(share * n) for name, share in SHARES.items()}
    sizes["primary"] += n - sum(sizes.values())
    picked = rng.sample(accounts, sizes["primary"] + sizes["primary_forms"] + sizes["secondary"])
    primary = picked[: sizes["primary"]]
    forms = picked[sizes["primary"] : sizes["primary"] + sizes["primary_forms"]]
    with_secondary = picked[sizes["primary"] + sizes["primary_forms"] :]
    secondaries = {}
    for account_id, domain in with_secondary:
        label, _, suffix = domain.partition(".")
        secondaries[account_id] = f"{label}-group.{suffix}"
    valid: list[tuple[str, str]] = []  # (entry, normalized domain)
    for _, domain in primary:
        valid.append((domain, domain))
    for number, (_, domain) in enumerate(forms):
        form = FORMS[number % len(FORMS)]
        valid.append((form.format(d=domain, D=domain.upper()), domain))
    for number, domain in enumerate(list(secondaries.values())[: sizes["secondary"]]):
        valid.append((f"https://{domain}/contact" if number % 2 else domain, domain))
    unmatched = []
    for number in range(sizes["unmatched"]):
        if number % 5 == 0:  # looks like a real account's name: suggestions have work
            _, domain = accounts[rng.randrange(len(accounts))]
            label, _, suffix = domain.partition(".")
            candidate = f"{label}{number}hq.{suffix}"
        else:
            candidate = f"prospect-{number}-{rng.randrange(10**6)}.com"
        unmatched.append((candidate, candidate))
    entries = [entry for entry, _ in valid + unmatched]
    invalid = [
        INVALID[k % len(INVALID)].format(i=k % 250, j=k % 7) for k in range(sizes["invalid"])
    ]
    pool = valid + unmatched
    repeats = []
    for number in range(sizes["duplicates"]):
        _, domain = pool[rng.randrange(len(pool))]
        repeats.append(FORMS[number % len(FORMS)].format(d=domain, D=domain.upper()))
    entries = entries + invalid + repeats
    rng.shuffle(entries)
    matched = len(valid)
    expected = Expected(
        entries=len(entries),
        matched=matched,
        unmatched=len(unmatched),
        invalid=len(invalid),
        duplicates=len(repeats),
        accounts=matched,
        distinct_domains=sorted({domain for _, domain in pool}),
    )
    return entries, secondaries, expected


def write_csv(path: Path, entries: list[str]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Company", "Website", "Owner"])
        for number, entry in enumerate(entries):
            writer.writerow([f"Company {number}", entry, "ann" if number % 2 else "bo"])


def add_secondaries(session: Session, secondaries: dict[int, str]) -> None:
    ids = list(secondaries)
    session.execute(
        text(
            "UPDATE accounts AS a SET secondary_domains = jsonb_build_array(u.s) "
            "FROM unnest(CAST(:ids AS bigint[]), CAST(:domains AS text[])) AS u(id, s) "
            "WHERE a.id = u.id"
        ),
        {"ids": ids, "domains": [secondaries[i] for i in ids]},
    )


# ---------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------


class CpuMeter:
    """CPU seconds of this process, its PostgreSQL backend and the whole machine."""

    def __init__(self, backend_pid: int) -> None:
        self.me = psutil.Process()
        try:
            self.backend: psutil.Process | None = psutil.Process(backend_pid)
        except psutil.Error:  # a server on another machine: not measurable here
            self.backend = None

    def _read(self) -> tuple[float, float, float]:
        mine = sum(self.me.cpu_times()[:2])
        backend = sum(self.backend.cpu_times()[:2]) if self.backend else 0.0
        times = psutil.cpu_times()
        busy = (
            times.user
            + times.nice
            + times.system
            + getattr(times, "irq", 0.0)
            + getattr(times, "softirq", 0.0)
        )
        return mine, backend, busy

    def __enter__(self) -> CpuMeter:
        self.start = self._read()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        end = self._read()
        wall = time.perf_counter() - self.started
        mine, backend, busy = (b - a for a, b in zip(self.start, end, strict=True))
        self.shares = {
            "python": 100 * mine / wall,
            "postgres": 100 * backend / wall,
            "other": max(0.0, 100 * (busy - mine - backend) / wall),
        }


def clear_normalization_caches() -> None:
    from pivotal_core import normalize

    for cached in (
        normalize._normalize_domain_cached,
        normalize._ascii_host,
        normalize._registrable,
    ):
        cached.cache_clear()


def service_run(session: Session, path: Path, settings: dict[str, Any], meter: CpuMeter) -> Run:
    from pivotal_core.audience import domain_sets
    from pivotal_core.audit.services import Actor

    clear_normalization_caches()
    phases: dict[str, float] = {}
    savepoint = session.begin_nested()
    try:
        with meter:
            started = time.perf_counter()
            with path.open("rb") as stream:
                upload = domain_sets.read_domain_file(settings, stream, path.name)
            phases["upload: store, sniff, read"] = time.perf_counter() - started
            domain_set = domain_sets.create_domain_set(
                session,
                Actor.system("bench"),
                None,
                {"name": "bench"},
                settings=settings,
                upload=upload,
                timings=phases,
            )
            session.flush()
            seconds = time.perf_counter() - started
        report = domain_sets.DomainSetReport.of(domain_set)
        counts = {k: v for k, v in vars(report).items()}
    finally:
        savepoint.rollback()
    return Run(seconds, phases, counts, dict(meter.shares))


def sql_baseline(
    session: Session, expected: Expected, meter: CpuMeter
) -> tuple[float, dict[str, int]]:
    """COPY the normalized distinct domains into a temporary table and join them."""
    savepoint = session.begin_nested()
    try:
        with meter:
            started = time.perf_counter()
            session.execute(
                text("CREATE TEMPORARY TABLE bench_domains (domain text) ON COMMIT DROP")
            )
            driver = session.connection().connection.driver_connection
            with (
                driver.cursor() as cursor,
                cursor.copy("COPY bench_domains (domain) FROM STDIN") as copy,
            ):
                for domain in expected.distinct_domains:
                    copy.write_row((domain,))
            primary = session.execute(
                text(
                    "SELECT count(*) FROM bench_domains AS t JOIN accounts AS a "
                    "ON a.domain = t.domain AND a.deleted_at IS NULL"
                )
            ).scalar_one()
            secondary = session.execute(
                text(
                    "SELECT count(DISTINCT t.domain) FROM bench_domains AS t JOIN ("
                    " SELECT d, a.id FROM accounts AS a"
                    " CROSS JOIN LATERAL jsonb_array_elements_text(a.secondary_domains) AS d"
                    " WHERE a.deleted_at IS NULL) AS s ON s.d = t.domain"
                )
            ).scalar_one()
            seconds = time.perf_counter() - started
    finally:
        savepoint.rollback()
    return seconds, {"primary": primary, "secondary": secondary}


def normalize_baseline(entries: list[str]) -> float:
    from pivotal_core.normalize import NormalizationError, normalize_domain

    clear_normalization_caches()
    started = time.perf_counter()
    for entry in entries:
        try:
            normalize_domain(entry)
        except NormalizationError:
            pass
    return time.perf_counter() - started


# ---------------------------------------------------------------------------
# The harness
# ---------------------------------------------------------------------------


def current_domain_set_tables(engine: Any) -> None:
    """Make the (empty) domain set tables anew from the models: a data set loaded before
    they changed has every column ``schema_gaps`` checks, but not their keys and indexes."""
    from pivotal_core.audience.models import DomainSet, DomainSetItem, DomainSetSuggestion

    tables = [DomainSetSuggestion.__table__, DomainSetItem.__table__, DomainSet.__table__]
    with engine.begin() as conn:
        if conn.execute(text("SELECT EXISTS (SELECT 1 FROM domain_sets)")).scalar_one():
            return  # someone keeps sets here: leave them
        for table in tables:
            conn.execute(text(f"DROP TABLE IF EXISTS {table.name} CASCADE"))
        for table in reversed(tables):
            table.create(conn)


def run(options: Options) -> tuple[list[Figure], dict[str, Any]]:
    load_dataset(options)
    waiter = QuietWaiter(options.quiet_load, options.quiet_wait)
    load_before = waiter.before_start()
    engine = engine_for(options.database_url)
    current_domain_set_tables(engine)
    runs: list[Run] = []
    try:
        with (
            Session(engine) as session,
            tempfile.TemporaryDirectory(prefix="pivotal-bench-") as work,
        ):
            accounts = [
                (row.id, row.domain)
                for row in session.execute(
                    text(
                        "SELECT id, domain FROM accounts WHERE deleted_at IS NULL "
                        "AND domain IS NOT NULL ORDER BY id"
                    )
                )
            ]
            if len(accounts) < options.domains * 0.6:
                raise SystemExit(f"only {len(accounts):,} accounts: load the data set first")
            entries, secondaries, expected = build_entries(accounts, options)
            path = Path(work) / "abm-targets.csv"
            write_csv(path, entries)
            say(f"{len(entries):,} entries written to {path.name} ({path.stat().st_size:,} bytes)")
            add_secondaries(session, secondaries)
            session.flush()
            settings = {"dataquality.imports_dir": str(Path(work) / "imports")}
            backend_pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
            meter = CpuMeter(backend_pid)
            # One untimed pass warms PostgreSQL's buffers and the Python imports.
            service_run(session, path, settings, meter)
            for number in range(options.runs):
                if number:
                    waiter.between_phases()
                result = service_run(session, path, settings, meter)
                runs.append(result)
                say(
                    f"run {number + 1}: {result.seconds:.2f} s "
                    + ", ".join(f"{k} {v:.2f} s" for k, v in result.phases.items())
                    + f"; CPU python {result.cpu['python']:.0f}%, postgres "
                    f"{result.cpu['postgres']:.0f}%, other {result.cpu['other']:.0f}%"
                )
            sql_seconds, sql_counts = sql_baseline(session, expected, meter)
            sql_cpu = dict(meter.shares)
            normalize_seconds = normalize_baseline(entries)
            session.rollback()  # the secondary domains go: the shared data set is unchanged
    finally:
        engine.dispose()
    load_after = os.getloadavg()[0]
    figures, checks = build_figures(
        runs, expected, sql_seconds, sql_counts, sql_cpu, normalize_seconds, load_before, load_after
    )
    payload = {
        "budget_seconds": BUDGET_SECONDS,
        "options": asdict(options),
        "expected": {k: v for k, v in asdict(expected).items() if k != "distinct_domains"},
        "runs": [asdict(r) for r in runs],
        "baselines": {
            "sql_join_seconds": sql_seconds,
            "sql_counts": sql_counts,
            "sql_cpu": sql_cpu,
            "normalize_seconds": normalize_seconds,
        },
        "checks": checks,
        "load_average": {"before": load_before, "after": load_after},
        "dataset": read_marker(options.database_url, "generate"),
    }
    return figures, payload


def build_figures(
    runs: list[Run],
    expected: Expected,
    sql_seconds: float,
    sql_counts: dict[str, int],
    sql_cpu: dict[str, float],
    normalize_seconds: float,
    load_before: float,
    load_after: float,
) -> tuple[list[Figure], dict[str, bool]]:
    median = statistics.median(r.seconds for r in runs)
    best, worst = min(r.seconds for r in runs), max(r.seconds for r in runs)
    want = {
        "entries": expected.entries,
        "matched": expected.matched,
        "unmatched": expected.unmatched,
        "invalid": expected.invalid,
        "duplicates": expected.duplicates,
        "accounts": expected.accounts,
    }
    checks = {
        "counts as generated": all(r.counts == want for r in runs),
        "SQL join finds the same matches": sql_counts["primary"] + sql_counts["secondary"]
        == expected.matched,
    }
    phases = {
        name: statistics.median(r.phases.get(name, 0.0) for r in runs) for name in runs[0].phases
    }
    other = max(r.cpu["other"] for r in runs)
    figures = [
        Figure(
            name=f"match a {expected.entries:,}-domain set, end to end (median of {len(runs)})",
            value=f"{median:.2f} s",
            budget=f"<= {BUDGET_SECONDS:.0f} s",
            baseline=f"SQL join of the normalized domains {sql_seconds:.2f} s; "
            f"normalizing alone {normalize_seconds:.2f} s",
            passed=median <= BUDGET_SECONDS and all(checks.values()),
        ),
        Figure(
            name="  fastest / slowest run",
            value=f"{best:.2f} / {worst:.2f} s",
            budget="-",
            baseline="-",
            passed=None,
        ),
        *(
            Figure(
                name=f"  {name}", value=f"{seconds:.2f} s", budget="-", baseline="-", passed=None
            )
            for name, seconds in phases.items()
        ),
        Figure(
            name="counts (matched / unmatched / invalid / duplicates)",
            value=" / ".join(
                f"{runs[-1].counts[k]:,}" for k in ("matched", "unmatched", "invalid", "duplicates")
            ),
            budget="as generated",
            baseline=" / ".join(
                f"{want[k]:,}" for k in ("matched", "unmatched", "invalid", "duplicates")
            ),
            passed=all(checks.values()),
        ),
        Figure(
            name="CPU during a run: python / postgres / other (worst run)",
            value=f"{statistics.median(r.cpu['python'] for r in runs):.0f}% / "
            f"{statistics.median(r.cpu['postgres'] for r in runs):.0f}% / {other:.0f}%",
            budget="other < 20% for trustworthy figures",
            baseline=f"SQL join: python {sql_cpu['python']:.0f}%, "
            f"postgres {sql_cpu['postgres']:.0f}%",
            passed=None,
        ),
        Figure(
            name="load average (1 min) before / after",
            value=f"{load_before:.2f} / {load_after:.2f}",
            budget="-",
            baseline=f"{os.cpu_count()} cores",
            passed=None,
        ),
    ]
    return figures, checks


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.domain_sets", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    parser.add_argument("--domains", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--force-generate", action="store_true")
    parser.add_argument(
        "--quiet-load",
        type=float,
        default=1.0,
        help="wait (up to --quiet-wait s) for the 1-minute load average "
        "to fall below this before measuring",
    )
    parser.add_argument("--quiet-wait", type=float, default=180.0)
    return parser


def execute(options: Options) -> int:
    try:
        figures, payload = run(options)
    except generate.LoadError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    title = (
        f"Domain sets: {payload['expected']['entries']:,} domains against "
        f"{options.accounts:,} accounts (PostgreSQL)"
    )
    print(format_table(title, figures))
    path = write_results("domain_sets", payload, figures)
    print(f"\nresults: {path}")
    return 0 if all(f.passed is not False for f in figures) else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return execute(
        Options(
            database_url=args.database_url,
            domains=args.domains,
            runs=args.runs,
            force_generate=args.force_generate,
            quiet_load=args.quiet_load,
            quiet_wait=args.quiet_wait,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
