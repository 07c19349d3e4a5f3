"""List export benchmark (DESIGN.md section 12): a list of 1,000,000 contacts exported as
CSV streams at >= 100,000 rows/s, with the server's memory flat from 100k to 1M rows.

    python -m bench.list_export [--database-url URL] [--runs 3] [--no-generate]

Data: the benchmark database of ``bench.run_all`` (1,000,000 contacts over 100,000
accounts, seed 42; loaded with ``bench.generate`` when ``bench_meta`` says it is missing).
The harness makes a static list holding every live contact (one INSERT ... SELECT into
``list_members``) and deletes it again at the end, so the shared data set is left as it
was. Then, run after run, each of the three in turn on the same machine state:

1. **COPY** (baseline): ``COPY (SELECT <the same 21 columns> FROM contacts JOIN
   list_members ... LEFT JOIN accounts ... ORDER BY id) TO STDOUT (FORMAT csv)`` written
   by hand and read over psycopg: what PostgreSQL alone takes to write these rows.
2. **service**: ``audience.exports.export_selection`` of the list in this process (the
   application built as gunicorn builds it), its body read to the end: the export
   without HTTP.
3. **HTTP**: ``POST /api/v1/lists/{id}/export`` to gunicorn (``bench/server.py``, 2 sync
   workers, bearer token), the streamed response read to its end over one connection.

Every target must give the list's row count (the client counts lines) and the same
header; the service and HTTP outputs must match byte for byte in their first rows.

Memory: during each HTTP run a thread samples the RSS of every gunicorn process twenty
times a second; the figures are the serving worker's peak RSS up to the moment the
client has read 100,000 rows, and up to the end (1,000,000 rows). The same is done for
this process during the service runs. Flat means the peak grows by less than
``FLAT_GROWTH`` between the two points (a body gathered in memory would grow by the
file's size, about 270 MB).

Before measuring it waits for a quiet machine (1-minute load average below
``--quiet-load``, at most ``--quiet-wait`` seconds) and reports the load average and the
CPU other programs used during each target. Results: ``var/bench/results/list_export.json``.
"""

from __future__ import annotations

import argparse
import http.client
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg
from psycopg.conninfo import conninfo_to_dict

from bench.database import psycopg_conninfo, read_marker
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
from bench.report import Figure, finish, format_table
from bench.server import (
    AppServer,
    BenchmarkError,
    app_settings,
    ensure_bench_user,
    http_get,
    log_in,
)

BUDGET_ROWS_PER_SECOND = 100_000
FLAT_GROWTH = 0.10  # of the peak RSS at 100k rows
MEMORY_MARK = 100_000  # rows
LIST_NAME = "bench.list_export: every live contact"
READ_SIZE = 256 * 1024

# The columns of the default contact export, written by hand (values as stored: tags as
# JSON, timestamps in PostgreSQL's text form, no formula check).
COPY_SQL = """
COPY (
  SELECT c.id, c.first_name, c.last_name, c.email, c.account_id, a.name, c.title,
         c.seniority, c.department, c.phone, c.mobile, c.linkedin_url, c.city, c.region,
         c.postal_code, c.country, c.timezone, c.tags, c.created_at, c.updated_at,
         c.deleted_at
  FROM contacts c
  JOIN list_members m ON m.record_id = c.id AND m.list_id = {list_id}
  LEFT JOIN accounts a ON a.id = c.account_id AND a.deleted_at IS NULL
  WHERE c.deleted_at IS NULL
  ORDER BY c.id
) TO STDOUT (FORMAT csv, HEADER)
"""


@dataclass(frozen=True)
class Options(DatasetOptions):
    runs: int = 3
    quiet_load: float = 1.0
    quiet_wait: float = 300.0


@dataclass
class Run:
    """One export read to its end."""

    target: str
    rows: int
    bytes: int
    seconds: float
    cpu: CpuShares
    rss_at_mark_mb: float | None = None
    rss_at_end_mb: float | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


@dataclass
class RssWatch:
    """The largest RSS of ``processes`` (one process's, not their sum), sampled in a
    thread; :meth:`mark` notes the peak so far."""

    processes: Callable[[], list[psutil.Process]]
    interval: float = 0.05
    peak: int = 0
    marked: int | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _sample(self) -> None:
        for process in self.processes():
            try:
                self.peak = max(self.peak, process.memory_info().rss)
            except psutil.Error:
                continue

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> RssWatch:
        self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def mark(self) -> None:
        self._sample()
        self.marked = self.peak

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._sample()


def megabytes(value: int | None) -> float | None:
    return None if value is None else round(value / 2**20, 1)


# --------------------------------------------------------------------------- the list


def make_list(conninfo: str) -> tuple[int, int]:
    """A global static contact list of every live contact; its id and size."""
    with psycopg.connect(conninfo) as conn:
        drop_lists(conn)
        list_id = conn.execute(
            """
            INSERT INTO lists (name, entity_type, visibility_scope, source_type, tags,
                               member_count, created_at, updated_at)
            VALUES (%s, 'contact', 'global', 'selection', '[]', 0, now(), now())
            RETURNING id
            """,
            (LIST_NAME,),
        ).fetchone()[0]
        size = conn.execute(
            """
            INSERT INTO list_members (list_id, record_id, added_at)
            SELECT %s, id, now() FROM contacts WHERE deleted_at IS NULL
            """,
            (list_id,),
        ).rowcount
        conn.execute("UPDATE lists SET member_count = %s WHERE id = %s", (size, list_id))
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("ANALYZE list_members")
    return list_id, size


def drop_lists(conn: psycopg.Connection[Any]) -> None:
    """The benchmark's list, left by an interrupted run too."""
    ids = [row[0] for row in conn.execute("SELECT id FROM lists WHERE name = %s", (LIST_NAME,))]
    if ids:
        conn.execute("DELETE FROM list_members WHERE list_id = ANY(%s)", (ids,))
        conn.execute("DELETE FROM lists WHERE id = ANY(%s)", (ids,))


# --------------------------------------------------------------------------- targets


def count_lines(chunks: Iterator[bytes | memoryview], mark: Callable[[], None]) -> tuple[int, int]:
    """Lines and bytes of a streamed CSV (no value holds a line break); ``mark`` is called
    once MEMORY_MARK rows (and the header) have gone by."""
    lines = size = 0
    marked = False
    for chunk in chunks:
        lines += bytes(chunk).count(b"\n") if isinstance(chunk, memoryview) else chunk.count(b"\n")
        size += len(chunk)
        if not marked and lines > MEMORY_MARK:
            mark()
            marked = True
    return lines - 1, size  # less the header


def copy_baseline(conn: psycopg.Connection[Any], list_id: int) -> tuple[int, int]:
    """The hand-written COPY, on a connection opened before the CPU meter starts (a
    backend started during a phase would count as another program's)."""
    with conn.cursor() as cursor, cursor.copy(COPY_SQL.format(list_id=int(list_id))) as copy:
        return count_lines(iter(copy), lambda: None)


def warm_up_http(port: int, token: str, list_id: int) -> bytes:
    """One export, and while it keeps one worker busy, requests that the other worker
    serves: both workers then hold their database connection before measuring."""
    result: list[bytes] = []
    export = threading.Thread(
        target=lambda: result.append(http_export(port, token, list_id, lambda: None)[2])
    )
    export.start()
    time.sleep(0.5)
    for _ in range(3):
        http_get(port, f"/api/v1/lists/{list_id}", token)
    export.join()
    if not result:
        raise BenchmarkError("the warm-up export failed (see the server's log)")
    return result[0]


class Service:
    """The export through the service, in this process."""

    def __init__(self, database_url: str, list_id: int) -> None:
        from pivotal_core.app import make_app

        with _without_pivotal_environment():
            self.app = make_app({}, app_settings(database_url))
        self.list_id = list_id
        self.head: bytes = b""

    def run(self, mark: Callable[[], None]) -> tuple[int, int]:
        from pivotal_core.audience import bulk, exports
        from pivotal_core.audience.models import AudienceList
        from pivotal_core.authnz.permissions import Permission

        registry = self.app.registry
        factory = registry["dbsession_factory"]
        with factory() as session:
            item = session.get(AudienceList, self.list_id)
            export = exports.export_selection(
                session,
                bulk.record_type(registry, "contact"),
                bulk.Selection.members_of(item),
                viewer=None,
                permissions=frozenset({Permission.CONTACTS_READ}),
                filename=item.name,
            )
        head = bytearray()

        def chunks() -> Iterator[bytes]:
            for chunk in export.body(factory):
                if len(head) < 4096:
                    head.extend(chunk[:4096])
                yield chunk

        rows, size = count_lines(chunks(), mark)
        self.head = bytes(head[:4096])
        return rows, size


def http_export(
    port: int, token: str, list_id: int, mark: Callable[[], None]
) -> tuple[int, int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(
            "POST",
            f"/api/v1/lists/{list_id}/export",
            body=b"{}",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        if response.status != 200:
            raise BenchmarkError(f"the export answered {response.status}: {response.read(500)!r}")
        disposition = response.getheader("Content-Disposition", "")
        if not disposition.startswith("attachment;"):
            raise BenchmarkError(f"no attachment: Content-Disposition {disposition!r}")
        head = b""

        def chunks() -> Iterator[bytes]:
            nonlocal head
            while chunk := response.read1(READ_SIZE):
                if len(head) < 4096:
                    head = (head + chunk)[:4096]
                yield chunk

        rows, size = count_lines(chunks(), mark)
        return rows, size, head
    finally:
        conn.close()


def _own_cpu() -> float:
    times = psutil.Process().cpu_times()
    return times.user + times.system


def measured(
    target: str,
    dbname: str,
    conninfo: str,
    server: AppServer | None,
    body: Callable[[], tuple[int, int]],
    watch: RssWatch | None,
) -> Run:
    meter = CpuMeter(server, dbname, conninfo)
    own = _own_cpu()
    try:
        started = time.perf_counter()
        rows, size = body()
        seconds = time.perf_counter() - started
        shares = meter.shares(_own_cpu() - own)
    finally:
        meter.close()
    run = Run(target, rows, size, seconds, shares)
    if watch is not None:
        run.rss_at_mark_mb = megabytes(watch.marked)
        run.rss_at_end_mb = megabytes(watch.peak)
    return run


# --------------------------------------------------------------------------- the run


def run(options: Options) -> tuple[list[Figure], dict[str, Any]]:
    prepare_dataset(options)
    conninfo = psycopg_conninfo(options.database_url)
    dbname = conninfo_to_dict(conninfo)["dbname"]
    say("making the list of every live contact ...")
    list_id, size = make_list(conninfo)
    say(f"list {list_id}: {size:,} contacts")
    runs: list[Run] = []
    quiet = QuietWaiter(options.quiet_load, options.quiet_wait)
    password = secrets.token_urlsafe(18)
    ensure_bench_user(options.database_url, password)
    copy_conn = psycopg.connect(conninfo)
    try:
        service = Service(options.database_url, list_id)
        with tempfile.TemporaryDirectory(prefix="pivotal-bench-") as workdir:
            say("starting gunicorn ...")
            with AppServer(options.database_url, Path(workdir)) as server:
                token = log_in(server.port, password)
                say("warm-up: one export of each (not measured)")
                copy_baseline(copy_conn, list_id)
                service.run(lambda: None)
                http_head = warm_up_http(server.port, token, list_id)
                if http_head.split(b"\n")[:50] != service.head.split(b"\n")[:50]:
                    raise BenchmarkError(
                        "the HTTP export and the service's differ in their first rows"
                    )
                load_before = quiet.before_start()
                for n in range(options.runs):
                    say(f"run {n + 1} of {options.runs}")
                    runs.append(
                        measured(
                            "COPY",
                            dbname,
                            conninfo,
                            None,
                            lambda: copy_baseline(copy_conn, list_id),
                            None,
                        )
                    )
                    with RssWatch(lambda: [psutil.Process()]) as watch:
                        runs.append(
                            measured(
                                "service",
                                dbname,
                                conninfo,
                                None,
                                lambda w=watch: service.run(w.mark),
                                watch,
                            )
                        )
                    with RssWatch(server.processes) as watch:
                        runs.append(
                            measured(
                                "HTTP",
                                dbname,
                                conninfo,
                                server,
                                lambda w=watch: http_export(server.port, token, list_id, w.mark)[
                                    :2
                                ],
                                watch,
                            )
                        )
                    for item in runs[-3:]:
                        memory = (
                            f"; peak RSS {item.rss_at_mark_mb} MB at 100k rows, "
                            f"{item.rss_at_end_mb} MB at the end"
                            if item.rss_at_end_mb
                            else ""
                        )
                        say(
                            f"  {item.target:8} {item.rows:,} rows in {item.seconds:.2f} s: "
                            f"{item.rows_per_second:,.0f} rows/s; CPU other "
                            f"{item.cpu.other:.0f}%{memory}"
                        )
    finally:
        copy_conn.close()
        with psycopg.connect(conninfo) as conn:
            drop_lists(conn)
    wrong = [r for r in runs if r.rows != size]
    if wrong:
        raise BenchmarkError(
            "exports with another row count than the list's "
            f"{size:,}: " + ", ".join(f"{r.target} {r.rows:,}" for r in wrong)
        )
    figures = build_figures(runs)
    payload = {
        "budgets": {"rows_per_second": BUDGET_ROWS_PER_SECOND, "flat_growth": FLAT_GROWTH},
        "options": asdict(options),
        "list_size": size,
        "copy_sql": COPY_SQL.strip(),
        "dataset": read_marker(options.database_url, "generate"),
        "load_average_before": round(load_before, 2),
        "load_average_after": round(os.getloadavg()[0], 2),
        "waited_for_quiet_seconds": round(quiet.waited, 1),
        "runs": [asdict(r) | {"rows_per_second": round(r.rows_per_second)} for r in runs],
    }
    return figures, payload


def _median(runs: list[Run], target: str) -> float:
    return statistics.median(r.rows_per_second for r in runs if r.target == target)


def build_figures(runs: list[Run]) -> list[Figure]:
    copy, service, http = (_median(runs, t) for t in ("COPY", "service", "HTTP"))
    http_runs = [r for r in runs if r.target == "HTTP"]
    service_runs = [r for r in runs if r.target == "service"]

    def memory(items: list[Run]) -> tuple[str, bool]:
        worst = max(items, key=lambda r: (r.rss_at_end_mb or 0) - (r.rss_at_mark_mb or 0))
        mark, end = worst.rss_at_mark_mb or 0.0, worst.rss_at_end_mb or 0.0
        return f"{mark:.0f} MB / {end:.0f} MB", end - mark <= FLAT_GROWTH * mark

    http_memory, http_flat = memory(http_runs)
    service_memory, service_flat = memory(service_runs)
    busiest = max(runs, key=lambda r: r.cpu.other)
    rows = runs[0].rows
    return [
        Figure(
            name=f"list of {rows:,} contacts as CSV over HTTP (median of {len(http_runs)})",
            value=f"{http:,.0f} rows/s",
            budget=f">= {BUDGET_ROWS_PER_SECOND:,} rows/s",
            baseline=f"COPY {copy:,.0f} rows/s",
            passed=http >= BUDGET_ROWS_PER_SECOND,
        ),
        Figure(
            name="the same export through the service, in-process",
            value=f"{service:,.0f} rows/s",
            budget="-",
            baseline=f"COPY {copy:,.0f} rows/s",
            passed=None,
        ),
        Figure(
            name="gunicorn worker peak RSS at 100k rows / at the end",
            value=http_memory,
            budget=f"flat: grows < {FLAT_GROWTH:.0%}",
            baseline="a body in memory would add ~270 MB",
            passed=http_flat,
        ),
        Figure(
            name="service process peak RSS at 100k rows / at the end",
            value=service_memory,
            budget=f"flat: grows < {FLAT_GROWTH:.0%}",
            baseline="-",
            passed=service_flat,
        ),
        Figure(
            name="CPU during HTTP: client / gunicorn / postgres / other",
            value=" / ".join(
                f"{statistics.median(getattr(r.cpu, part) or 0 for r in http_runs):.0f}%"
                for part in ("client", "server", "postgres", "other")
            ),
            budget="-",
            baseline=f"{100 * (os.cpu_count() or 1)}% = all cores",
            passed=None,
        ),
        noise_figure(busiest.cpu.other, busiest.target),
    ]


def build_parser() -> argparse.ArgumentParser:
    defaults = Options()
    parser = argparse.ArgumentParser(
        prog="python -m bench.list_export", description=__doc__.split("\n\n")[0]
    )
    add_dataset_arguments(parser, defaults)
    parser.add_argument(
        "--runs",
        type=int,
        default=defaults.runs,
        help="measured runs of each target (default %(default)s)",
    )
    parser.add_argument("--quiet-load", type=float, default=defaults.quiet_load)
    parser.add_argument("--quiet-wait", type=float, default=defaults.quiet_wait)
    return parser


def execute(options: Options) -> int:
    """Run, print the table, write the JSON; 0 when the budgets hold, else 1."""
    outcome = run_reporting_errors(
        run, options, "interrupted; the server was stopped and the list deleted"
    )
    if isinstance(outcome, int):
        return outcome
    figures, payload = outcome
    print(format_table("List export, 1M contacts as CSV (DESIGN.md section 12)", figures))
    print(
        f"\nload average {payload['load_average_before']} before, "
        f"{payload['load_average_after']} after"
    )
    noisy = [r for r in payload["runs"] if r["cpu"]["other"] > NOISE_LIMIT_PERCENT]
    if noisy:
        print(
            f"\nwarning: other programs used over {NOISE_LIMIT_PERCENT:.0f}% CPU in "
            f"{len(noisy)} of {len(payload['runs'])} runs; the figures understate this "
            "code. Run on a quiet machine."
        )
    return finish("list_export", payload, figures)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return execute(Options(**vars(args)))


if __name__ == "__main__":
    sys.exit(main())
