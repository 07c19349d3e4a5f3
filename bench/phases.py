"""Load phases of the HTTP benchmarks: client processes started together, their results
merged into latency percentiles and a rate, and where the CPU went meanwhile (our clients,
gunicorn, the PostgreSQL backends of the benchmark database, everything else).

Also: waiting for a quiet machine before measuring, and the progress lines on stderr.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from queue import Empty
from typing import Any

import psutil
import psycopg
from psycopg.conninfo import conninfo_to_dict

from bench.load_clients import BodyCheck, LoadSpec, ProcessResult, run_client_process
from bench.report import Figure, percentile
from bench.server import AppServer, BenchmarkError

# Other programs using more CPU than this (percent of one core) during a phase make the
# figures unreliable; the run says so.
NOISE_LIMIT_PERCENT = 20.0


@dataclass
class CpuShares:
    """Percent of one core used during a phase (2 cores: up to 200% in all)."""

    client: float
    server: float | None  # gunicorn master and workers; None without a server
    # The backends connected to the benchmark database, and the postgres processes that
    # ended during the phase: parallel query workers, which the backends start per query.
    postgres: float
    other: float  # everything else on the machine


@dataclass
class PhaseResult:
    """One load phase, merged over all client threads."""

    target: str
    mode: str
    seconds: float
    requests_ok: int
    errors: int
    requests_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    target_rate: float | None
    cpu: CpuShares
    first_errors: list[str]


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:  # it ended: its time is lost, the figures say "at least"
            continue
        total += times.user + times.system
    return total


def _busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (all cores)."""
    t = psutil.cpu_times()
    return (
        t.user
        + t.nice
        + t.system
        + getattr(t, "irq", 0.0)
        + getattr(t, "softirq", 0.0)
        + getattr(t, "steal", 0.0)
    )


_POSTGRES_NAMES = {"postgres", "postmaster"}


def _postmasters() -> list[psutil.Process]:
    """The PostgreSQL servers' main processes (a postgres whose parent is not one)."""
    found = []
    for process in psutil.process_iter(["name", "ppid"]):
        if process.info["name"] not in _POSTGRES_NAMES:
            continue
        try:
            parent = psutil.Process(process.info["ppid"]).name()
        except psutil.Error:
            parent = ""
        if parent not in _POSTGRES_NAMES:
            found.append(process)
    return found


def _reaped_seconds(processes: list[psutil.Process]) -> float:
    """CPU seconds of the children these processes have reaped: for the postmaster, its
    backends and parallel query workers that have ended."""
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.children_user + times.children_system
    return total


class _ParallelWorkerWatch:
    """Whether PostgreSQL ran parallel query workers for the benchmark database: polls
    ``pg_stat_activity`` ten times a second on a connection of its own, in a thread."""

    QUERY = (
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE backend_type = 'parallel worker' AND datname = current_database()"
    )

    def __init__(self, conninfo: str, interval: float = 0.1) -> None:
        self.seen = False
        self.interval = interval
        self._stop = threading.Event()
        self._conn = psycopg.connect(conninfo, autocommit=True)
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                row = self._conn.execute(self.QUERY).fetchone()
                if row and row[0]:
                    self.seen = True
        except psycopg.Error:
            pass  # closed under us: the phase is over

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._conn.close()


class CpuMeter:
    """Where the CPU went during a phase: our client processes (they report their own
    time), gunicorn, PostgreSQL for the benchmark database, everything else.

    PostgreSQL's share is the CPU of the backends connected to the benchmark database and,
    when the database ran parallel query workers during the phase (``count(*)`` over many
    rows, a filter that scans the table), of the postgres processes that ended meanwhile:
    a worker lives for one query, and the postmaster collects its time when it ends. A
    backend of another database ending during such a phase is counted there too; without
    parallel workers that time counts as other programs'. Call :meth:`close` when done.
    """

    def __init__(self, server: AppServer | None, dbname: str, conninfo: str) -> None:
        self.watch = _ParallelWorkerWatch(conninfo)  # before the scan: its backend is ours
        self.server_processes = server.processes() if server else []
        self.postgres_processes = [
            process
            for process in psutil.process_iter(["name", "cmdline"])
            if process.info["name"] in _POSTGRES_NAMES
            and f" {dbname} " in " ".join(process.info["cmdline"] or ())
        ]
        self.postmasters = _postmasters()
        self.wall = time.monotonic()
        self.server = _cpu_seconds(self.server_processes)
        self.postgres = _cpu_seconds(self.postgres_processes)
        self.reaped = _reaped_seconds(self.postmasters)
        self.busy = _busy_seconds()

    def shares(self, client_seconds: float) -> CpuShares:
        wall = time.monotonic() - self.wall
        server = _cpu_seconds(self.server_processes) - self.server
        postgres = _cpu_seconds(self.postgres_processes) - self.postgres
        reaped = _reaped_seconds(self.postmasters) - self.reaped
        if self.watch.seen:
            postgres += reaped
        other = _busy_seconds() - self.busy - client_seconds - server - postgres
        return CpuShares(
            client=100 * client_seconds / wall,
            server=100 * server / wall if self.server_processes else None,
            postgres=100 * postgres / wall,
            other=100 * max(other, 0.0) / wall,
        )

    def close(self) -> None:
        self.watch.close()


def run_phase(
    *,
    target: str,
    mode: str,
    processes: int,
    threads: int,
    seconds: float,
    requests: int = 0,
    rate: float = 0.0,
    conninfo: str,
    port: int = 0,
    token: str | None = None,
    server: AppServer | None = None,
    path: str = "",
    headers: tuple[tuple[str, str], ...] = (),
    check: BodyCheck | None = None,
    queries: tuple[tuple[str, tuple[Any, ...]], ...] = (),
    query_rows: int | None = None,
) -> PhaseResult:
    """Run one load in ``processes`` client processes of ``threads`` threads each.

    ``conninfo`` names the benchmark database: the SQL clients query it, and the CPU of
    its backends is measured. ``path``, ``headers`` and ``check`` are for target "page",
    ``queries`` and ``query_rows`` for target "queries" (see ``bench.load_clients``).
    """
    dbname = conninfo_to_dict(conninfo).get("dbname", "")
    context = multiprocessing.get_context("spawn")
    ready, go, measured = context.Semaphore(0), context.Event(), context.Event()
    queue = context.Queue()
    specs = [
        LoadSpec(
            target=target,
            mode=mode,
            threads=threads,
            first_thread=p * threads,
            total_threads=processes * threads,
            seconds=seconds,
            requests=requests,
            rate=rate,
            port=port,
            token=token,
            conninfo=conninfo,
            path=path,
            headers=headers,
            check=check,
            queries=queries,
            query_rows=query_rows,
        )
        for p in range(processes)
    ]
    children = [
        context.Process(
            target=run_client_process, args=(spec, ready, go, measured, queue), daemon=True
        )
        for spec in specs
    ]
    try:
        for child in children:
            child.start()
        _wait_until_ready(children, ready, queue, target)
        meter = CpuMeter(server, dbname, conninfo)
        try:
            go.set()
            try:
                results: list[ProcessResult] = [queue.get(timeout=seconds + 60) for _ in children]
            except Empty:
                raise BenchmarkError(
                    f"the {target} client processes did not report within {seconds + 60:.0f} s"
                ) from None
            cpu = meter.shares(sum(r.cpu_seconds for r in results))
        finally:
            meter.close()
        measured.set()
        for child in children:
            child.join(timeout=10)
    finally:
        for child in children:
            if child.is_alive():
                child.terminate()
                child.join(timeout=5)
    failures = [r.failure for r in results if r.failure]
    failures += [t.failure for r in results for t in r.threads if t.failure]
    if failures:
        raise BenchmarkError(f"a {target} client process failed:\n{failures[0]}")
    threads_done = [t for r in results for t in r.threads]
    latencies = sorted(x for t in threads_done for x in t.latencies)
    errors = [e for t in threads_done for e in t.errors]
    started = min((t.started for t in threads_done if t.started), default=0.0)
    finished = max((t.finished for t in threads_done), default=0.0)
    window = max(finished - started, 1e-9)
    return PhaseResult(
        target=target,
        mode=mode,
        seconds=round(window, 3),
        requests_ok=len(latencies),
        errors=len(errors),
        requests_per_second=len(latencies) / window,
        p50_ms=1000 * percentile(latencies, 0.50),
        p95_ms=1000 * percentile(latencies, 0.95),
        p99_ms=1000 * percentile(latencies, 0.99),
        max_ms=1000 * (latencies[-1] if latencies else float("nan")),
        target_rate=rate if mode == "open" else None,
        cpu=cpu,
        first_errors=errors[:5],
    )


def _wait_until_ready(
    children: list[Any], ready: Any, queue: Any, target: str, timeout: float = 60.0
) -> None:
    """Wait for every client process to have its connections open, or for one to die."""
    deadline = time.monotonic() + timeout
    waiting = len(children)
    while waiting:
        if ready.acquire(timeout=0.2):
            waiting -= 1
            continue
        if any(child.exitcode is not None for child in children):
            try:
                failure = queue.get(timeout=1).failure
            except Empty:
                failure = None
            raise BenchmarkError(
                f"a {target} client process died before starting:\n"
                f"{failure or '(no report; see the traceback above)'}"
            )
        if time.monotonic() > deadline:
            raise BenchmarkError(f"the {target} client processes were not ready in {timeout} s")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def describe(phase: PhaseResult) -> str:
    cpu = f"client {phase.cpu.client:.0f}%"
    if phase.cpu.server is not None:
        cpu += f", gunicorn {phase.cpu.server:.0f}%"
    cpu += f", postgres {phase.cpu.postgres:.0f}%, other {phase.cpu.other:.0f}%"
    return (
        f"{phase.requests_ok} ok, {phase.errors} errors in {phase.seconds:.1f} s: "
        f"{phase.requests_per_second:,.0f}/s, p50 {phase.p50_ms:.1f} ms, "
        f"p99 {phase.p99_ms:.1f} ms; CPU {cpu} (of {100 * (os.cpu_count() or 1)}%)"
    )


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}%"


class QuietWaiter:
    """Waits for other programs to leave the cores alone before measuring, within one time
    budget for the whole run (``budget`` seconds of waiting in all).

    Before the benchmark starts anything, the 1-minute load average must fall below
    ``max_load``. Between phases the load average still remembers the benchmark's own
    last minute, so the machine's CPU use is sampled instead (our processes are idle
    then): below NOISE_LIMIT_PERCENT of one core counts as quiet.
    """

    def __init__(self, max_load: float, budget: float, sample: float = 2.0) -> None:
        self.max_load = max_load
        self.left = budget
        self.sample = sample
        self.waited = 0.0

    def _wait(self, busy: Any, quiet: Any, describe_it: Any) -> float:
        value = busy()
        if quiet(value) or self.left <= 0:
            return value
        say(f"{describe_it(value)}: waiting up to {self.left:.0f} s for a quiet machine")
        started = time.monotonic()
        while time.monotonic() - started < self.left:
            time.sleep(min(5.0, max(0.0, self.left - (time.monotonic() - started))))
            value = busy()
            if quiet(value):
                break
        spent = time.monotonic() - started
        self.left = max(0.0, self.left - spent)
        self.waited += spent
        if quiet(value):
            say(f"{describe_it(value)}: measuring")
        else:
            say(
                f"{describe_it(value)}, no waiting time left (the CPU shares will say how "
                "much other programs took)"
            )
        return value

    def before_start(self) -> float:
        """The 1-minute load average once quiet (or when the budget is spent)."""
        return self._wait(
            lambda: os.getloadavg()[0],
            lambda load: load < self.max_load,
            lambda load: f"load average {load:.2f} (quiet: < {self.max_load:g})",
        )

    def between_phases(self) -> bool:
        """Whether the machine is quiet now (CPU use over a short sample below
        NOISE_LIMIT_PERCENT of one core), after waiting for it if need be."""
        cores = os.cpu_count() or 1
        busy = self._wait(
            lambda: cores * psutil.cpu_percent(interval=self.sample),
            lambda busy: busy < NOISE_LIMIT_PERCENT,
            lambda busy: (
                f"other programs use {busy:.0f}% CPU (quiet: < {NOISE_LIMIT_PERCENT:.0f}%)"
            ),
        )
        return busy < NOISE_LIMIT_PERCENT


def noise_figure(worst_percent: float, where: str) -> Figure:
    """The figure every harness shows: how much CPU other programs took at worst."""
    return Figure(
        name="CPU used by other programs (worst run)",
        value=f"{worst_percent:.0f}% ({where})",
        budget=f"< {NOISE_LIMIT_PERCENT:.0f}% for trustworthy figures",
        baseline="-",
        passed=None,
    )


def phase_health_figures(phases: dict[str, PhaseResult]) -> list[Figure]:
    """The last two figures of a harness that runs named phases: other programs' CPU at
    the noisiest phase (:func:`noise_figure`) and the requests that failed in all."""
    noisiest = max(phases, key=lambda name: phases[name].cpu.other)
    return [
        noise_figure(phases[noisiest].cpu.other, noisiest),
        Figure(
            name="failed requests (all phases)",
            value=str(sum(p.errors for p in phases.values())),
            budget="0",
            baseline="-",
            passed=all(p.errors == 0 for p in phases.values()),
        ),
    ]


def run_reporting_errors(run: Callable[[Any], Any], options: Any, stopped: str) -> Any:
    """``run(options)``, or the exit status after printing why it could not run (1), or
    ``stopped`` on Ctrl-C (130)."""
    from bench.generate import LoadError

    try:
        return run(options)
    except (BenchmarkError, LoadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except psycopg.Error as error:
        print(f"error: the benchmark database: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(stopped, file=sys.stderr)
        return 130
