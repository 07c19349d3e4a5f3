"""Contacts list API benchmark (DESIGN.md section 12): a page of 50 contacts must be served
at >= 300 requests/s by 2 worker processes, with p99 <= 100 ms at half that load.

    python -m bench.list_api [--database-url URL]

Needs a loaded database (``python -m bench.generate``). The harness starts gunicorn with 2
sync workers on a free loopback port, creates an admin user, signs in, checks the list
contract, warms up, then measures:

1. throughput: a closed loop of 8 concurrent clients (2 processes x 4 threads) for 3,000
   requests or 20 s, whichever comes first; clients walk 20 pages by ``next_cursor`` in
   one of the orders id, ``last_name``, ``-created_at``, then start over in the next;
2. latency: an open loop at half the measured throughput for 15 s (p50, p95, p99,
   measured from each request's scheduled time).

Baselines from the same run: the same two loads against ``GET /api/v1/health`` (the same
server with no database and no authentication: the ceiling of gunicorn, Pyramid and this
client), and the hand-written SQL of the default page over 2 psycopg connections. Results
are printed and written to ``var/bench/results/list_api.json``. The server is always
stopped, also on Ctrl-C and on errors.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.database import DEFAULT_DATABASE_URL, psycopg_conninfo, read_marker
from bench.load_clients import CONTACTS_PATH, CURSOR_PAGES, PAGE_SIZE, SORT_ORDERS
from bench.phases import (
    NOISE_LIMIT_PERCENT,
    PhaseResult,
    describe,
    percent,
    phase_health_figures,
    run_phase,
    run_reporting_errors,
    say,
)
from bench.report import REPO_ROOT, Figure, format_table, write_results
from bench.server import (
    SERVER_WORKERS,
    AppServer,
    BenchmarkError,
    ensure_bench_user,
    http_get,
    log_in,
    require_contacts,
)

BUDGET_REQUESTS_PER_SECOND = 300.0
BUDGET_P99_MS = 100.0


def check_contract(port: int, token: str) -> None:
    """Each sort order's first page holds PAGE_SIZE items and a cursor that works."""
    for sort in SORT_ORDERS:
        path = f"{CONTACTS_PATH}?limit={PAGE_SIZE}" + (f"&sort={sort}" if sort else "")
        for _ in range(2):
            status, body = http_get(port, path, token)
            if status != 200:
                raise BenchmarkError(f"GET {path} answered {status}: {body[:300]!r}")
            page = json.loads(body)
            if len(page.get("items", ())) != PAGE_SIZE or not page.get("next_cursor"):
                raise BenchmarkError(
                    f"GET {path}: expected {PAGE_SIZE} items and a next_cursor, got "
                    f"{len(page.get('items', ()))} items, next_cursor={page.get('next_cursor')!r}"
                )
            path = f"{path.split('&cursor=')[0]}&cursor={page['next_cursor']}"


@dataclass(frozen=True)
class Options:
    database_url: str = DEFAULT_DATABASE_URL
    requests: int = 3_000
    max_seconds: float = 20.0
    latency_seconds: float = 15.0
    concurrency: int = 8
    client_processes: int = 2
    warmup_seconds: float = 3.0


def run(options: Options) -> tuple[list[Figure], dict[str, Any]]:
    """Run every phase; returns the table's figures and the JSON payload."""
    conninfo = psycopg_conninfo(options.database_url)
    marker = read_marker(options.database_url, "generate")
    require_contacts(conninfo)
    processes = options.client_processes
    threads = max(1, options.concurrency // processes)
    open_threads = max(threads, 8)
    password = secrets.token_urlsafe(18)
    ensure_bench_user(options.database_url, password)
    phases: dict[str, PhaseResult] = {}
    with tempfile.TemporaryDirectory(prefix="pivotal-bench-") as workdir:
        say("starting gunicorn ...")
        with AppServer(options.database_url, Path(workdir)) as server:
            token = log_in(server.port, password)
            check_contract(server.port, token)
            common = {"port": server.port, "token": token, "server": server, "conninfo": conninfo}
            say(f"warm-up: {options.warmup_seconds:.0f} s closed loop")
            run_phase(
                target="contacts",
                mode="closed",
                processes=processes,
                threads=threads,
                seconds=options.warmup_seconds,
                requests=10**9,
                **common,
            )
            for target in ("contacts", "health"):
                phase = run_phase(
                    target=target,
                    mode="closed",
                    processes=processes,
                    threads=threads,
                    seconds=options.max_seconds,
                    requests=options.requests,
                    **common,
                )
                phases[f"{target} throughput"] = phase
                say(f"{target} closed loop: {describe(phase)}")
            if not phases["contacts throughput"].requests_ok:
                raise BenchmarkError(
                    "no list request succeeded: "
                    + "; ".join(phases["contacts throughput"].first_errors)
                )
            rate = phases["contacts throughput"].requests_per_second / 2
            for target in ("contacts", "health"):
                phase = run_phase(
                    target=target,
                    mode="open",
                    processes=processes,
                    threads=open_threads,
                    seconds=options.latency_seconds,
                    rate=rate,
                    **common,
                )
                phases[f"{target} latency"] = phase
                say(f"{target} open loop at {rate:,.0f}/s: {describe(phase)}")
    phases["sql throughput"] = run_phase(
        target="sql",
        mode="closed",
        processes=SERVER_WORKERS,
        threads=1,
        seconds=min(options.max_seconds, 10.0),
        requests=options.requests * 4,
        conninfo=conninfo,
    )
    say(f"raw SQL, {SERVER_WORKERS} connections: {describe(phases['sql throughput'])}")
    figures = build_figures(phases, options)
    payload = {
        "budgets": {"requests_per_second": BUDGET_REQUESTS_PER_SECOND, "p99_ms": BUDGET_P99_MS},
        "options": asdict(options),
        "server": {"workers": SERVER_WORKERS, "worker_class": "sync"},
        "client": {
            "processes": processes,
            "threads_closed": threads,
            "threads_open": open_threads,
            "cursor_pages": CURSOR_PAGES,
            "sort_orders": [s or "id" for s in SORT_ORDERS],
            "page_size": PAGE_SIZE,
        },
        "dataset": marker,
        "phases": {name: asdict(phase) for name, phase in phases.items()},
    }
    return figures, payload


def build_figures(phases: dict[str, PhaseResult], options: Options) -> list[Figure]:
    throughput = phases["contacts throughput"]
    latency = phases["contacts latency"]
    health, health_latency = phases["health throughput"], phases["health latency"]
    sql = phases["sql throughput"]
    rate = latency.target_rate or 0.0
    clients = options.client_processes * max(1, options.concurrency // options.client_processes)
    # The schedule only counts if the client kept it: at least 95% of the target rate.
    kept_rate = latency.requests_per_second >= 0.95 * rate
    return [
        Figure(
            name=f"contacts list, page of {PAGE_SIZE}: throughput ({clients} clients)",
            value=f"{throughput.requests_per_second:,.0f} req/s",
            budget=f">= {BUDGET_REQUESTS_PER_SECOND:.0f} req/s",
            baseline=(
                f"health {health.requests_per_second:,.0f} req/s; "
                f"raw SQL {sql.requests_per_second:,.0f} q/s"
            ),
            passed=throughput.errors == 0
            and throughput.requests_per_second >= BUDGET_REQUESTS_PER_SECOND,
        ),
        Figure(
            name=f"contacts list: p99 at half that load ({rate:,.0f} req/s offered)",
            value=f"{latency.p99_ms:.1f} ms",
            budget=f"<= {BUDGET_P99_MS:.0f} ms",
            baseline=(
                f"health p99 {health_latency.p99_ms:.1f} ms; "
                f"raw SQL p99 {sql.p99_ms:.1f} ms (closed loop)"
            ),
            passed=latency.errors == 0 and kept_rate and latency.p99_ms <= BUDGET_P99_MS,
        ),
        Figure(
            name="contacts list: p50 / p95 at half load",
            value=f"{latency.p50_ms:.1f} / {latency.p95_ms:.1f} ms",
            budget="-",
            baseline=(
                f"health {health_latency.p50_ms:.1f} / {health_latency.p95_ms:.1f} ms; "
                f"raw SQL {sql.p50_ms:.1f} / {sql.p95_ms:.1f} ms"
            ),
            passed=None,
        ),
        Figure(
            name="contacts list: rate achieved at half load",
            value=f"{latency.requests_per_second:,.0f} req/s",
            budget=f">= 95% of {rate:,.0f} offered",
            baseline=f"health {health_latency.requests_per_second:,.0f} req/s",
            passed=kept_rate,
        ),
        Figure(
            name="CPU in the throughput phase: client / gunicorn / postgres / other",
            value=(
                f"{throughput.cpu.client:.0f}% / {percent(throughput.cpu.server)} / "
                f"{throughput.cpu.postgres:.0f}% / {throughput.cpu.other:.0f}%"
            ),
            budget="-",
            baseline=f"{100 * (os.cpu_count() or 1)}% = all cores",
            passed=None,
        ),
        *phase_health_figures(phases),
    ]


def build_parser() -> argparse.ArgumentParser:
    defaults = Options()
    parser = argparse.ArgumentParser(
        prog="python -m bench.list_api", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--database-url", default=defaults.database_url)
    parser.add_argument(
        "--requests",
        type=int,
        default=defaults.requests,
        help="closed-loop request budget per target (default %(default)s)",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=defaults.max_seconds,
        help="closed-loop time limit per target (default %(default)s)",
    )
    parser.add_argument(
        "--latency-seconds",
        type=float,
        default=defaults.latency_seconds,
        help="open-loop duration per target (default %(default)s)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=defaults.concurrency,
        help="closed-loop clients, split over the client processes (default %(default)s)",
    )
    parser.add_argument("--client-processes", type=int, default=defaults.client_processes)
    parser.add_argument("--warmup-seconds", type=float, default=defaults.warmup_seconds)
    return parser


def execute(options: Options) -> int:
    """Run, print the table, write the JSON; 0 when every budget holds, else 1."""
    outcome = run_reporting_errors(run, options, "interrupted; the server was stopped")
    if isinstance(outcome, int):
        return outcome
    figures, payload = outcome
    print(format_table("Contacts list API (DESIGN.md section 12)", figures))
    noisy = [
        name
        for name, phase in payload["phases"].items()
        if phase["cpu"]["other"] > NOISE_LIMIT_PERCENT
    ]
    if noisy:
        print(
            f"\nwarning: other programs used over {NOISE_LIMIT_PERCENT:.0f}% CPU during "
            f"{', '.join(noisy)}; the figures understate this code. Run on a quiet machine."
        )
    path = write_results("list_api", payload, figures)
    print(f"\nresults: {path.relative_to(REPO_ROOT)}")
    return 0 if all(f.passed is not False for f in figures) else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return execute(Options(**vars(args)))


if __name__ == "__main__":
    sys.exit(main())
