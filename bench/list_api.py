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
import http.client
import json
import multiprocessing
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from queue import Empty
from typing import Any

import bcrypt
import psutil
import psycopg
from psycopg.conninfo import conninfo_to_dict

from bench.database import DEFAULT_DATABASE_URL, psycopg_conninfo, read_marker
from bench.load_clients import (
    CONTACTS_PATH,
    CURSOR_PAGES,
    HEALTH_PATH,
    PAGE_SIZE,
    SORT_ORDERS,
    LoadSpec,
    ProcessResult,
    run_client_process,
)
from bench.report import REPO_ROOT, Figure, format_table, percentile, write_results

BUDGET_REQUESTS_PER_SECOND = 300.0
BUDGET_P99_MS = 100.0
SERVER_WORKERS = 2
BENCH_EMAIL = "bench@example.com"
STARTUP_TIMEOUT = 60.0
# Other programs using more CPU than this (percent of one core) during a phase make the
# figures unreliable; the run says so.
NOISE_LIMIT_PERCENT = 20.0


class BenchmarkError(RuntimeError):
    """The benchmark cannot run or the server broke its contract; the message says why."""


# --------------------------------------------------------------------------- the server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _paste_app_line() -> str:
    """``egg:pivotal-core`` when the package is installed, else the same factory by name."""
    from importlib.metadata import entry_points

    installed = any(
        ep.dist is not None and ep.dist.name == "pivotal-core"
        for ep in entry_points(group="paste.app_factory")
    )
    return "egg:pivotal-core" if installed else "call:pivotal_core:main"


def write_ini(path: Path, database_url: str) -> None:
    path.write_text(
        "[app:main]\n"
        f"use = {_paste_app_line()}\n"
        f"sqlalchemy.url = {psycopg_conninfo(database_url)}\n"
        "huey.url = memory://\n"
        "huey.immediate = true\n"
        f"auth.secret = {secrets.token_hex(32)}\n"
        "auth.bcrypt_rounds = 4\n"
        "auth.access_ttl = 3600\n"
        "pivotal.plugins =\n",
        encoding="utf-8",
    )


def _gunicorn_supports(setting: str) -> bool:
    from gunicorn.config import KNOWN_SETTINGS

    return any(known.name == setting for known in KNOWN_SETTINGS)


class AppServer:
    """gunicorn with SERVER_WORKERS sync workers on 127.0.0.1, stopped on leaving the block.

    PIVOTAL_* variables are removed from the server's environment: they would override the
    .ini (another database, say) behind the benchmark's back.
    """

    def __init__(self, database_url: str, workdir: Path) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.port = _free_port()
        self.ini = workdir / "bench.ini"
        self.log = workdir / "gunicorn.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> AppServer:
        write_ini(self.ini, self.database_url)
        command = [
            sys.executable, "-m", "gunicorn",
            "--workers", str(SERVER_WORKERS),
            "--worker-class", "sync",
            "--bind", f"127.0.0.1:{self.port}",
            "--paste", str(self.ini),
        ]
        if _gunicorn_supports("control_socket_disable"):
            command.insert(3, "--no-control-socket")
        env = {key: value for key, value in os.environ.items() if not key.startswith("PIVOTAL_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        with self.log.open("wb") as log:
            # A session of its own: Ctrl-C reaches us, and we stop the server in order.
            self.process = subprocess.Popen(
                command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_until_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchmarkError(
                    f"gunicorn exited with status {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                status, _ = http_get(self.port, HEALTH_PATH, timeout=2.0)
            except OSError:
                status = 0
            if status == 200:
                return
            time.sleep(0.2)
        raise BenchmarkError(
            f"GET {HEALTH_PATH} did not answer 200 within {STARTUP_TIMEOUT:.0f} s:\n"
            f"{self.log_tail()}"
        )

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def processes(self) -> list[psutil.Process]:
        """The master and its workers."""
        if self.process is None or self.process.poll() is not None:
            return []
        master = psutil.Process(self.process.pid)
        return [master, *master.children(recursive=True)]

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)  # gunicorn's graceful shutdown
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the group we created for it
            process.wait(timeout=5)


# --------------------------------------------------------------------------- HTTP helpers


def http_get(
    port: int, path: str, token: str | None = None, timeout: float = 10.0
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def ensure_bench_user(database_url: str, password: str) -> None:
    """Create (or reset) the admin user the benchmark signs in as, directly in SQL."""
    password_hash = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
    with psycopg.connect(psycopg_conninfo(database_url)) as conn:
        conn.execute(
            """
            INSERT INTO users (email, full_name, role, password_hash, token_version,
                               is_active, preferences, created_at, updated_at)
            VALUES (%s, 'Benchmark', 'admin', %s, 1, true, '{}', now(), now())
            ON CONFLICT (email) DO UPDATE
            SET password_hash = EXCLUDED.password_hash, role = 'admin', is_active = true,
                updated_at = now()
            """,
            (BENCH_EMAIL, password_hash),
        )


def log_in(port: int, password: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(
            "POST", "/api/v1/auth/login",
            body=json.dumps({"email": BENCH_EMAIL, "password": password}),
            headers={"Content-Type": "application/json"},
        )
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise BenchmarkError(f"login answered {response.status}: {body[:300]!r}")
    return json.loads(body)["access_token"]


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


# --------------------------------------------------------------------------- load phases


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
    return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0) \
        + getattr(t, "steal", 0.0)


@dataclass
class CpuShares:
    """Percent of one core used during a phase (2 cores: up to 200% in all)."""

    client: float
    server: float | None  # gunicorn master and workers; None without a server
    postgres: float  # the backends connected to the benchmark database
    other: float  # everything else on the machine


class CpuMeter:
    """Where the CPU went during a phase: our client processes (they report their own
    time), gunicorn, the PostgreSQL backends of the benchmark database, everything else.

    """

    def __init__(self, server: AppServer | None, dbname: str) -> None:
        self.server_processes = server.processes() if server else []
        self.postgres_processes = [
            process for process in psutil.process_iter(["name", "cmdline"])
            if process.info["name"] in {"postgres", "postmaster"}
            and f" {dbname} " in " ".join(process.info["cmdline"] or ())
        ]
        self.wall = time.monotonic()
        self.server = _cpu_seconds(self.server_processes)
        self.postgres = _cpu_seconds(self.postgres_processes)
        self.busy = _busy_seconds()

    def shares(self, client_seconds: float) -> CpuShares:
        wall = time.monotonic() - self.wall
        server = _cpu_seconds(self.server_processes) - self.server
        postgres = _cpu_seconds(self.postgres_processes) - self.postgres
        other = _busy_seconds() - self.busy - client_seconds - server - postgres
        return CpuShares(
            client=100 * client_seconds / wall,
            server=100 * server / wall if self.server_processes else None,
            postgres=100 * postgres / wall,
            other=100 * max(other, 0.0) / wall,
        )


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
) -> PhaseResult:
    """Run one load in ``processes`` client processes of ``threads`` threads each.

    ``conninfo`` names the benchmark database: the SQL clients query it, and the CPU of
    its backends is measured.
    """
    dbname = conninfo_to_dict(conninfo).get("dbname", "")
    context = multiprocessing.get_context("spawn")
    ready, go, measured = context.Semaphore(0), context.Event(), context.Event()
    queue = context.Queue()
    specs = [
        LoadSpec(target=target, mode=mode, threads=threads, first_thread=p * threads,
                 total_threads=processes * threads, seconds=seconds, requests=requests,
                 rate=rate, port=port, token=token, conninfo=conninfo)
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
        meter = CpuMeter(server, dbname)
        go.set()
        try:
            results: list[ProcessResult] = [
                queue.get(timeout=seconds + 60) for _ in children
            ]
        except Empty:
            raise BenchmarkError(
                f"the {target} client processes did not report within {seconds + 60:.0f} s"
            ) from None
        cpu = meter.shares(sum(r.cpu_seconds for r in results))
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


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _describe(phase: PhaseResult) -> str:
    cpu = f"client {phase.cpu.client:.0f}%"
    if phase.cpu.server is not None:
        cpu += f", gunicorn {phase.cpu.server:.0f}%"
    cpu += f", postgres {phase.cpu.postgres:.0f}%, other {phase.cpu.other:.0f}%"
    return (
        f"{phase.requests_ok} ok, {phase.errors} errors in {phase.seconds:.1f} s: "
        f"{phase.requests_per_second:,.0f}/s, p50 {phase.p50_ms:.1f} ms, "
        f"p99 {phase.p99_ms:.1f} ms; CPU {cpu} (of {100 * (os.cpu_count() or 1)}%)"
    )


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
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT count(*) FROM (SELECT 1 FROM contacts LIMIT 1000) s").fetchone()
    if not row or row[0] < 1000:
        raise BenchmarkError(
            "the contacts table holds fewer than 1,000 rows: load data first with "
            "`python -m bench.generate --create-schema`"
        )
    processes = options.client_processes
    threads = max(1, options.concurrency // processes)
    open_threads = max(threads, 8)
    password = secrets.token_urlsafe(18)
    ensure_bench_user(options.database_url, password)
    phases: dict[str, PhaseResult] = {}
    with tempfile.TemporaryDirectory(prefix="pivotal-bench-") as workdir:
        _say("starting gunicorn ...")
        with AppServer(options.database_url, Path(workdir)) as server:
            token = log_in(server.port, password)
            check_contract(server.port, token)
            common = {"port": server.port, "token": token, "server": server,
                      "conninfo": conninfo}
            _say(f"warm-up: {options.warmup_seconds:.0f} s closed loop")
            run_phase(target="contacts", mode="closed", processes=processes, threads=threads,
                      seconds=options.warmup_seconds, requests=10**9, **common)
            for target in ("contacts", "health"):
                phase = run_phase(target=target, mode="closed", processes=processes,
                                  threads=threads, seconds=options.max_seconds,
                                  requests=options.requests, **common)
                phases[f"{target} throughput"] = phase
                _say(f"{target} closed loop: {_describe(phase)}")
            if not phases["contacts throughput"].requests_ok:
                raise BenchmarkError(
                    "no list request succeeded: "
                    + "; ".join(phases["contacts throughput"].first_errors)
                )
            rate = phases["contacts throughput"].requests_per_second / 2
            for target in ("contacts", "health"):
                phase = run_phase(target=target, mode="open", processes=processes,
                                  threads=open_threads, seconds=options.latency_seconds,
                                  rate=rate, **common)
                phases[f"{target} latency"] = phase
                _say(f"{target} open loop at {rate:,.0f}/s: {_describe(phase)}")
    phases["sql throughput"] = run_phase(
        target="sql", mode="closed", processes=SERVER_WORKERS, threads=1,
        seconds=min(options.max_seconds, 10.0), requests=options.requests * 4,
        conninfo=conninfo,
    )
    _say(f"raw SQL, {SERVER_WORKERS} connections: {_describe(phases['sql throughput'])}")
    figures = build_figures(phases, options)
    payload = {
        "budgets": {"requests_per_second": BUDGET_REQUESTS_PER_SECOND, "p99_ms": BUDGET_P99_MS},
        "options": asdict(options),
        "server": {"workers": SERVER_WORKERS, "worker_class": "sync"},
        "client": {"processes": processes, "threads_closed": threads,
                   "threads_open": open_threads, "cursor_pages": CURSOR_PAGES,
                   "sort_orders": [s or "id" for s in SORT_ORDERS], "page_size": PAGE_SIZE},
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
    busiest_other = max(phase.cpu.other for phase in phases.values())
    # The schedule only counts if the client kept it: at least 95% of the target rate.
    kept_rate = latency.requests_per_second >= 0.95 * rate
    return [
        Figure(
            name=f"contacts list, page of {PAGE_SIZE}: throughput ({clients} clients)",
            value=f"{throughput.requests_per_second:,.0f} req/s",
            budget=f">= {BUDGET_REQUESTS_PER_SECOND:.0f} req/s",
            baseline=(f"health {health.requests_per_second:,.0f} req/s; "
                      f"raw SQL {sql.requests_per_second:,.0f} q/s"),
            passed=throughput.errors == 0
            and throughput.requests_per_second >= BUDGET_REQUESTS_PER_SECOND,
        ),
        Figure(
            name=f"contacts list: p99 at half that load ({rate:,.0f} req/s offered)",
            value=f"{latency.p99_ms:.1f} ms",
            budget=f"<= {BUDGET_P99_MS:.0f} ms",
            baseline=(f"health p99 {health_latency.p99_ms:.1f} ms; "
                      f"raw SQL p99 {sql.p99_ms:.1f} ms (closed loop)"),
            passed=latency.errors == 0 and kept_rate and latency.p99_ms <= BUDGET_P99_MS,
        ),
        Figure(
            name="contacts list: p50 / p95 at half load",
            value=f"{latency.p50_ms:.1f} / {latency.p95_ms:.1f} ms",
            budget="-",
            baseline=(f"health {health_latency.p50_ms:.1f} / {health_latency.p95_ms:.1f} ms; "
                      f"raw SQL {sql.p50_ms:.1f} / {sql.p95_ms:.1f} ms"),
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
            value=(f"{throughput.cpu.client:.0f}% / {_percent(throughput.cpu.server)} / "
                   f"{throughput.cpu.postgres:.0f}% / {throughput.cpu.other:.0f}%"),
            budget="-",
            baseline=f"{100 * (os.cpu_count() or 1)}% = all cores",
            passed=None,
        ),
        Figure(
            name="CPU used by other programs (worst phase)",
            value=f"{busiest_other:.0f}%",
            budget=f"< {NOISE_LIMIT_PERCENT:.0f}% for trustworthy figures",
            baseline="-",
            passed=None,
        ),
        Figure(
            name="failed requests (all phases)",
            value=str(sum(p.errors for p in phases.values())),
            budget="0",
            baseline="-",
            passed=all(p.errors == 0 for p in phases.values()),
        ),
    ]


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}%"


def build_parser() -> argparse.ArgumentParser:
    defaults = Options()
    parser = argparse.ArgumentParser(
        prog="python -m bench.list_api", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--database-url", default=defaults.database_url)
    parser.add_argument("--requests", type=int, default=defaults.requests,
                        help="closed-loop request budget per target (default %(default)s)")
    parser.add_argument("--max-seconds", type=float, default=defaults.max_seconds,
                        help="closed-loop time limit per target (default %(default)s)")
    parser.add_argument("--latency-seconds", type=float, default=defaults.latency_seconds,
                        help="open-loop duration per target (default %(default)s)")
    parser.add_argument("--concurrency", type=int, default=defaults.concurrency,
                        help="closed-loop clients, split over the client processes "
                             "(default %(default)s)")
    parser.add_argument("--client-processes", type=int, default=defaults.client_processes)
    parser.add_argument("--warmup-seconds", type=float, default=defaults.warmup_seconds)
    return parser


def execute(options: Options) -> int:
    """Run, print the table, write the JSON; 0 when every budget holds, else 1."""
    try:
        figures, payload = run(options)
    except BenchmarkError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except psycopg.Error as error:
        print(f"error: the benchmark database: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; the server was stopped", file=sys.stderr)
        return 130
    print(format_table("Contacts list API (DESIGN.md section 12)", figures))
    noisy = [name for name, phase in payload["phases"].items()
             if phase["cpu"]["other"] > NOISE_LIMIT_PERCENT]
    if noisy:
        print(f"\nwarning: other programs used over {NOISE_LIMIT_PERCENT:.0f}% CPU during "
              f"{', '.join(noisy)}; the figures understate this code. Run on a quiet machine.")
    path = write_results("list_api", payload, figures)
    print(f"\nresults: {path.relative_to(REPO_ROOT)}")
    return 0 if all(f.passed is not False for f in figures) else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return execute(Options(**vars(args)))


if __name__ == "__main__":
    sys.exit(main())
