"""Segment count benchmark (DESIGN.md section 12): the live count of an 8-rule nested
and/or filter over contact and account fields, on 1,000,000 contacts over 100,000
accounts, takes p50 <= 300 ms and at most 1.5 times the same count written by hand in SQL.

    python -m bench.segment_count [--database-url URL] [--runs N] [--no-generate]

The filter (``DEFINITION``): contacts in US, GB, DE or CA, of seniority vp, director or
manager, whose title contains "sales" OR whose account is in the software industry, at an
account of 50 to 5,000 employees, created within the last 730 days, tagged customer,
prospect or abm-tier-1, and NOT in the legal department: 8 rules in an AND holding an OR
and a NOT.

Measured, interleaved run by run so that each sees the same machine:

- **service**: ``audience.services.count_matching`` in a new session, as a request does:
  the field registry is read, the definition validated and compiled, the count run;
- **SQL**: the same count written by hand (``HAND_SQL``) over a psycopg connection: the
  baseline the budget's ratio is taken against;
- **preview**: ``audience.services.preview`` (the count and the first 20 ids);
- **HTTP**: ``POST /api/v1/segments/preview`` to the application built in this process
  (WebTest, bearer token): routing, validation, JSON and the preview.

All four must give the same count. Before measuring it waits for a quiet machine (1-minute
load average below 1, at most 5 minutes) and measures again, up to twice, when other
programs took over 20% of a core meanwhile. ``EXPLAIN (ANALYZE, BUFFERS)`` of the compiled
count and of the hand-written one go into ``var/bench/results/segment_count.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil
import psycopg
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from bench.database import engine_for, psycopg_conninfo, read_marker
from bench.dataset import DatasetOptions, add_dataset_arguments, prepare_dataset
from bench.list_page import _without_pivotal_environment
from bench.phases import (
    NOISE_LIMIT_PERCENT,
    CpuMeter,
    CpuShares,
    QuietWaiter,
    noise_figure,
    run_reporting_errors,
    say,
)
from bench.report import Figure, finish, format_table, percentile
from bench.server import BENCH_EMAIL, BenchmarkError, app_settings, ensure_bench_user

BUDGET_P50_MS = 300.0
BUDGET_RATIO = 1.5
SAMPLE_SIZE = 20
DAYS = 730
COUNTRIES = ["US", "GB", "DE", "CA"]
SENIORITIES = ["vp", "director", "manager"]
TAGS = ["customer", "prospect", "abm-tier-1"]

DEFINITION: dict[str, Any] = {
    "op": "and",
    "rules": [
        {"field": "contact.country", "operator": "in", "value": COUNTRIES},
        {"field": "contact.seniority", "operator": "in", "value": SENIORITIES},
        {
            "op": "or",
            "rules": [
                {"field": "contact.title", "operator": "contains", "value": "sales"},
                {"field": "account.industry", "operator": "equals", "value": "Software"},
            ],
        },
        {"field": "account.employee_count", "operator": "between", "value": [50, 5000]},
        {"field": "contact.created_at", "operator": "within_last_days", "value": DAYS},
        {"field": "contact.tags", "operator": "has_any", "value": TAGS},
        {
            "op": "not",
            "rules": [{"field": "contact.department", "operator": "equals", "value": "Legal"}],
        },
    ],
}

# What a person would write for the same question, with the DSL's meaning: text compared
# case-insensitively, and "not (department is Legal)" keeping contacts without one.
HAND_SQL = """
SELECT count(*)
FROM contacts c
LEFT JOIN accounts a ON a.id = c.account_id AND a.deleted_at IS NULL
WHERE c.deleted_at IS NULL
  AND c.country = ANY(%(countries)s)
  AND c.seniority = ANY(%(seniorities)s)
  AND (lower(c.title) LIKE '%%sales%%' OR lower(a.industry) = 'software')
  AND a.employee_count BETWEEN 50 AND 5000
  AND c.created_at >= %(since)s AND c.created_at <= %(now)s
  AND c.tags ?| %(tags)s
  AND (c.department IS NULL OR lower(c.department) <> 'legal')
"""


def hand_params(now: dt.datetime) -> dict[str, Any]:
    return {
        "countries": COUNTRIES,
        "seniorities": SENIORITIES,
        "tags": TAGS,
        "since": now - dt.timedelta(days=DAYS),
        "now": now,
    }


@dataclass(frozen=True)
class Options(DatasetOptions):
    runs: int = 40
    warmup: int = 3
    http: bool = True
    quiet_load: float = 1.0
    quiet_wait: float = 300.0
    retries: int = 2


@dataclass
class Series:
    """One target's timings (ms) and the counts it answered."""

    times: list[float] = field(default_factory=list)
    counts: set[int] = field(default_factory=set)

    def ms(self, fraction: float) -> float:
        return percentile(sorted(self.times), fraction)


class Targets:
    """The four ways to the count, each a callable returning it."""

    def __init__(self, options: Options) -> None:
        self.engine = engine_for(options.database_url)
        self.sessions = sessionmaker(bind=self.engine)
        self.conninfo = psycopg_conninfo(options.database_url)
        self.connection = psycopg.connect(self.conninfo, autocommit=True)
        self.client: Any = None
        self.token = ""
        if options.http:
            self._sign_in(options.database_url)

    def _sign_in(self, database_url: str) -> None:
        import webtest

        import pivotal_core

        password = secrets.token_urlsafe(18)
        ensure_bench_user(database_url, password)
        with _without_pivotal_environment():
            app = pivotal_core.main({}, **app_settings(database_url))
        self.client = webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "127.0.0.1"})
        answer = self.client.post_json(
            "/api/v1/auth/login", {"email": BENCH_EMAIL, "password": password}
        )
        self.token = answer.json["access_token"]

    # Each in a transaction that commits, as a request's does: psycopg forgets the
    # statements it prepared in a transaction that rolls back, and would then never reach
    # PostgreSQL's generic plans the application meets after a few runs.
    def service(self) -> int:
        from pivotal_core.audience.services import count_matching

        with self.sessions.begin() as session:
            return count_matching(session, "contact", DEFINITION)

    def preview(self) -> int:
        from pivotal_core.audience.services import preview

        with self.sessions.begin() as session:
            result = preview(session, "contact", DEFINITION, None, SAMPLE_SIZE)
        if len(result["sample_ids"]) != min(SAMPLE_SIZE, result["count"]):
            raise BenchmarkError(f"preview: {len(result['sample_ids'])} sample ids")
        return result["count"]

    def sql(self) -> int:
        now = dt.datetime.now(dt.UTC)
        # A one-off statement, as typed in psql: planned for its values every time.
        return self.connection.execute(HAND_SQL, hand_params(now), prepare=False).fetchone()[0]

    def http(self) -> int:
        answer = self.client.post_json(
            "/api/v1/segments/preview",
            {"entityType": "contact", "definition": DEFINITION, "sampleSize": SAMPLE_SIZE},
            headers={"Authorization": f"Bearer {self.token}"},
            expect_errors=True,
        )
        if answer.status_int != 200:
            raise BenchmarkError(f"POST /api/v1/segments/preview: {answer.status} {answer.text}")
        return answer.json["count"]

    def callables(self) -> dict[str, Callable[[], int]]:
        found = {"service": self.service, "SQL": self.sql, "preview": self.preview}
        if self.client is not None:
            found["HTTP"] = self.http
        return found

    def check(self) -> int:
        """The compiled count and the hand-written one agree, at the same moment."""
        from pivotal_core.audience.services import count_matching

        now = dt.datetime.now(dt.UTC)
        with self.sessions() as session:
            compiled = count_matching(session, "contact", DEFINITION, now=now)
        hand = self.connection.execute(HAND_SQL, hand_params(now)).fetchone()[0]
        if compiled != hand:
            raise BenchmarkError(f"the service counts {compiled:,}, the hand-written SQL {hand:,}")
        if compiled == 0:
            raise BenchmarkError("the filter matches no contact: nothing would be measured")
        return compiled

    def plans(self) -> dict[str, list[str]]:
        """EXPLAIN (ANALYZE, BUFFERS) of the compiled count and of the hand-written one."""
        from pivotal_core.audience.filters import compile_filter

        with self.sessions() as session:
            stmt = compile_filter(session, "contact", DEFINITION)
            counted = select(func.count()).select_from(stmt.subquery())
            compiled = counted.compile(
                dialect=self.engine.dialect, compile_kwargs={"render_postcompile": True}
            )
            rows = session.connection().exec_driver_sql(
                f"EXPLAIN (ANALYZE, BUFFERS) {compiled}", compiled.params
            )
            mine = [row[0] for row in rows]
        hand = self.connection.execute(
            f"EXPLAIN (ANALYZE, BUFFERS) {HAND_SQL}", hand_params(dt.datetime.now(dt.UTC))
        )
        return {"service": mine, "SQL": [row[0] for row in hand], "compiled_sql": [str(compiled)]}

    def close(self) -> None:
        self.connection.close()
        self.engine.dispose()


def _own_cpu() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


def measure_round(targets: Targets, runs: int, dbname: str) -> tuple[dict[str, Series], CpuShares]:
    """``runs`` rounds; each round runs every target once, starting with another each time."""
    calls = targets.callables()
    names = list(calls)
    series = {name: Series() for name in names}
    meter = CpuMeter(None, dbname, targets.conninfo)
    own = _own_cpu()
    try:
        for n in range(runs):
            for name in names[n % len(names) :] + names[: n % len(names)]:
                started = time.perf_counter()
                counted = calls[name]()
                series[name].times.append(1000 * (time.perf_counter() - started))
                series[name].counts.add(counted)
        shares = meter.shares(_own_cpu() - own)
    finally:
        meter.close()
    return series, shares


def run(options: Options) -> tuple[list[Figure], dict[str, Any]]:
    prepare_dataset(options)
    dbname = conninfo_to_dict(psycopg_conninfo(options.database_url))["dbname"]
    quiet = QuietWaiter(options.quiet_load, options.quiet_wait)
    targets = Targets(options)
    try:
        expected = targets.check()
        say(f"the filter matches {expected:,} contacts (service and hand-written SQL agree)")
        load_before = quiet.before_start()
        say(f"warm-up: {options.warmup} rounds")
        measure_round(targets, options.warmup, dbname)
        repeated: list[float] = []
        for attempt in range(options.retries + 1):
            say(f"measuring: {options.runs} rounds of {', '.join(targets.callables())}")
            series, shares = measure_round(targets, options.runs, dbname)
            if shares.other <= NOISE_LIMIT_PERCENT or attempt == options.retries:
                break
            say(f"other programs took {shares.other:.0f}% CPU")
            if not quiet.between_phases():
                break
            repeated.append(round(shares.other, 1))
            say("measuring again")
        plans = targets.plans()
    finally:
        targets.close()
    wrong = {name: sorted(s.counts) for name, s in series.items() if s.counts != {expected}}
    if wrong:
        raise BenchmarkError(f"counts other than {expected:,}: {wrong}")
    figures = build_figures(series, shares, expected)
    payload = {
        "budgets": {"p50_ms": BUDGET_P50_MS, "ratio_to_sql": BUDGET_RATIO},
        "options": asdict(options),
        "definition": DEFINITION,
        "hand_sql": HAND_SQL.strip(),
        "count": expected,
        "dataset": read_marker(options.database_url, "generate"),
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "waited_for_quiet_seconds": round(quiet.waited, 1),
        "repeated_for_noise": repeated,
        "cpu": asdict(shares),
        "timings_ms": {name: [round(t, 2) for t in s.times] for name, s in series.items()},
        "plans": plans,
    }
    return figures, payload


def build_figures(series: dict[str, Series], shares: CpuShares, expected: int) -> list[Figure]:
    service, sql = series["service"], series["SQL"]
    ratio = service.ms(0.5) / sql.ms(0.5)
    figures = [
        Figure(
            name="segment count, 8 rules (service: compile + count): p50",
            value=f"{service.ms(0.5):.1f} ms",
            budget=f"<= {BUDGET_P50_MS:.0f} ms",
            baseline=f"hand-written SQL p50 {sql.ms(0.5):.1f} ms",
            passed=service.ms(0.5) <= BUDGET_P50_MS,
        ),
        Figure(
            name="service p50 / hand-written SQL p50",
            value=f"{ratio:.2f}x",
            budget=f"<= {BUDGET_RATIO:g}x",
            baseline=f"SQL p50 {sql.ms(0.5):.1f} ms",
            passed=ratio <= BUDGET_RATIO,
        ),
        Figure(
            name="service p95",
            value=f"{service.ms(0.95):.1f} ms",
            budget="-",
            baseline=f"hand-written SQL p95 {sql.ms(0.95):.1f} ms",
            passed=None,
        ),
    ]
    if "preview" in series:
        figures.append(
            Figure(
                name=f"preview (count + {SAMPLE_SIZE} sample ids), service: p50 / p95",
                value=f"{series['preview'].ms(0.5):.1f} / {series['preview'].ms(0.95):.1f} ms",
                budget="-",
                baseline=f"SQL {sql.ms(0.5):.1f} / {sql.ms(0.95):.1f} ms",
                passed=None,
            )
        )
    if "HTTP" in series:
        figures.append(
            Figure(
                name="POST /api/v1/segments/preview in-process: p50 / p95",
                value=f"{series['HTTP'].ms(0.5):.1f} / {series['HTTP'].ms(0.95):.1f} ms",
                budget="-",
                baseline=f"SQL {sql.ms(0.5):.1f} / {sql.ms(0.95):.1f} ms",
                passed=None,
            )
        )
    figures += [
        Figure(
            name="contacts matched (every target)",
            value=f"{expected:,}",
            budget="all equal",
            baseline="hand-written SQL",
            passed=True,
        ),
        Figure(
            name="CPU: this process / postgres",
            value=f"{shares.client:.0f}% / {shares.postgres:.0f}%",
            budget="-",
            baseline=f"{100 * (os.cpu_count() or 1)}% = all cores",
            passed=None,
        ),
        noise_figure(shares.other, "the measured rounds"),
    ]
    return figures


def plan_outline(lines: list[str]) -> Iterator[str]:
    """The plan's nodes without their details: what a reader compares first."""
    for line in lines:
        text = line.strip().removeprefix("->").strip()
        if text and not text.startswith(("Buffers", "Planning", "Execution")) and "(cost" in text:
            yield " " * (len(line) - len(line.lstrip())) + text.split("  (cost")[0]


def build_parser() -> argparse.ArgumentParser:
    defaults = Options()
    parser = argparse.ArgumentParser(
        prog="python -m bench.segment_count", description=__doc__.split("\n\n")[0]
    )
    add_dataset_arguments(parser, defaults)
    parser.add_argument(
        "--runs",
        type=int,
        default=defaults.runs,
        help="measured rounds; each times every target once (default %(default)s)",
    )
    parser.add_argument("--warmup", type=int, default=defaults.warmup)
    parser.add_argument(
        "--no-http",
        dest="http",
        action="store_false",
        help="leave out POST /api/v1/segments/preview",
    )
    parser.add_argument("--quiet-load", type=float, default=defaults.quiet_load)
    parser.add_argument("--quiet-wait", type=float, default=defaults.quiet_wait)
    parser.add_argument("--retries", type=int, default=defaults.retries)
    return parser


def execute(options: Options) -> int:
    """Run, print the table and the plans' outlines, write the JSON; 0 when the budgets
    hold, else 1."""
    outcome = run_reporting_errors(run, options, "interrupted")
    if isinstance(outcome, int):
        return outcome
    figures, payload = outcome
    print(
        format_table(
            "Segment count, 8 rules over contacts and accounts (DESIGN.md section 12)", figures
        )
    )
    for name, lines in payload["plans"].items():
        if name != "compiled_sql":
            print(f"\nplan of the {name} count:\n" + "\n".join(plan_outline(lines)))
    if payload["cpu"]["other"] > NOISE_LIMIT_PERCENT:
        print(
            f"\nwarning: other programs used {payload['cpu']['other']:.0f}% CPU while "
            "measuring; the figures understate this code. Run on a quiet machine."
        )
    return finish("segment_count", payload, figures)


def main(argv: list[str] | None = None) -> int:
    return execute(Options(**vars(build_parser().parse_args(argv))))


if __name__ == "__main__":
    sys.exit(main())
