"""Load generators for the HTTP benchmarks: HTTP and raw-SQL clients run in child processes.

Each client process runs a few threads, each with one connection. A closed loop sends the
next request as soon as the previous answer arrives; an open loop sends on a fixed schedule
(``rate`` requests per second over all threads) and measures latency from the *scheduled*
time, so a stalled server shows up in the figures instead of slowing the client down
(no coordinated omission). Time stamps use ``time.monotonic``, one clock for all
processes on Linux, so the parent can merge the windows of its children. A request's
latency ends when its answer has been read, before the client checks what it holds.

Targets: ``contacts`` walks the list API by cursor, ``health`` asks for the health check,
``sql`` walks the hand-written default page of the list API; ``page`` asks for one fixed
path (with fixed headers, e.g. cookies) and checks each answer with a :class:`BodyCheck`,
``queries`` runs fixed SQL statements, all of them per "request".
"""

from __future__ import annotations

import http.client
import json
import re
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import psycopg

PAGE_SIZE = 50
# A client follows next_cursor for this many pages, then starts over in the next order.
CURSOR_PAGES = 20
SORT_ORDERS: tuple[str | None, ...] = (None, "last_name", "-created_at")
CONTACTS_PATH = "/api/v1/contacts"
HEALTH_PATH = "/api/v1/health"
REQUEST_TIMEOUT = 10.0
_NEXT_CURSOR = re.compile(rb'"next_cursor":\s*"([^"]+)"')
# A row of the staff UI's data table (web/table.jinja2).
HTML_ROW = b'<tr data-id="'


class ContactsWalk:
    """The pages one client asks for: 50 contacts in one sort order, following
    ``next_cursor`` for CURSOR_PAGES pages, then the first page of the next order."""

    def __init__(self, offset: int) -> None:
        self.order = offset % len(SORT_ORDERS)
        self.cursor: str | None = None
        self.pages = 0

    def path(self) -> str:
        sort = SORT_ORDERS[self.order]
        query = f"limit={PAGE_SIZE}"
        if sort:
            query += f"&sort={sort}"
        if self.cursor:
            query += f"&cursor={quote(self.cursor)}"
        return f"{CONTACTS_PATH}?{query}"

    def saw(self, body: bytes) -> None:
        self.pages += 1
        match = _NEXT_CURSOR.search(body)
        if match and self.pages < CURSOR_PAGES:
            self.cursor = match.group(1).decode("ascii")
        else:
            self.order = (self.order + 1) % len(SORT_ORDERS)
            self.cursor = None
            self.pages = 0


class HealthWalk:
    """Always the health check: no database, no authentication."""

    def path(self) -> str:
        return HEALTH_PATH

    def saw(self, body: bytes) -> None:
        pass


class FixedPath:
    """Always the same path."""

    def __init__(self, path: str) -> None:
        self._path = path

    def path(self) -> str:
        return self._path

    def saw(self, body: bytes) -> None:
        pass


@dataclass(frozen=True)
class BodyCheck:
    """What a 200 answer must hold to count as served: a failed or empty page must fail the
    run, not make it fast. Cheap enough to run on every answer."""

    html_rows: int | None = None  # exactly this many data-table rows (tr[data-id])
    json_items: int | None = None  # exactly this many entries in the JSON list's "items"
    contains: bytes = b""

    def problem(self, body: bytes) -> str | None:
        """None when the body is as expected, else what is wrong with it."""
        if self.contains and self.contains not in body:
            return f"the answer lacks {self.contains!r}: {body[:200]!r}"
        if self.html_rows is not None:
            rows = body.count(HTML_ROW)
            if rows != self.html_rows:
                return f"{rows} table rows (tr[data-id]) instead of {self.html_rows}"
        if self.json_items is not None:
            try:
                items = len(json.loads(body)["items"])
            except (ValueError, KeyError, TypeError):
                return f"not a JSON list: {body[:200]!r}"
            if items != self.json_items:
                return f"{items} items instead of {self.json_items}"
        return None


@dataclass(frozen=True)
class LoadSpec:
    """What one client process does; ``first_thread`` numbers its threads globally."""

    target: str  # "contacts", "health", "sql", "page" or "queries"
    mode: str  # "closed" or "open"
    threads: int
    first_thread: int
    total_threads: int
    seconds: float
    requests: int = 0  # closed loop: the budget over all threads of all processes
    rate: float = 0.0  # open loop: requests per second over all threads
    host: str = "127.0.0.1"
    port: int = 0
    token: str | None = None
    conninfo: str = ""
    # target "page": the path, extra request headers (cookies), what each answer holds.
    path: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    check: BodyCheck | None = None
    # target "queries": statements and parameters, all run for each request; the first
    # must return ``query_rows`` rows when that is set.
    queries: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    query_rows: int | None = None


@dataclass
class ThreadResult:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0
    # A traceback when the thread itself broke (a bug, not a failed request).
    failure: str | None = None


@dataclass
class ProcessResult:
    threads: list[ThreadResult]
    cpu_seconds: float
    failure: str | None = None


def _share(total: int, index: int, parts: int) -> int:
    return total // parts + (1 if index < total % parts else 0)


class _HttpClient:
    def __init__(self, spec: LoadSpec, thread_index: int) -> None:
        self.conn = http.client.HTTPConnection(spec.host, spec.port, timeout=REQUEST_TIMEOUT)
        self.check = spec.check
        self.walk: ContactsWalk | HealthWalk | FixedPath
        if spec.target == "page":
            self.headers = dict(spec.headers)
            self.walk = FixedPath(spec.path)
            return
        self.headers = {"Accept": "application/json"}
        if spec.token and spec.target != "health":
            self.headers["Authorization"] = f"Bearer {spec.token}"
        self.walk = HealthWalk() if spec.target == "health" else ContactsWalk(thread_index)

    def once(self, result: ThreadResult) -> float | None:
        """One request; the time its answer was read, or None when it failed (no answer,
        a status other than 200, or a body the check refuses)."""
        path = self.walk.path()
        try:
            self.conn.request("GET", path, headers=self.headers)
            response = self.conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.conn.close()
            result.errors.append(f"{type(error).__name__}: {error}")
            return None
        done = time.monotonic()
        result.statuses[response.status] += 1
        if response.status != 200:
            result.errors.append(f"HTTP {response.status}: {body[:200]!r}")
            return None
        problem = self.check.problem(body) if self.check else None
        if problem:
            result.errors.append(f"GET {path}: {problem}")
            return None
        self.walk.saw(body)
        return done

    def close(self) -> None:
        self.conn.close()


class _SqlClient:
    """The hand-written equivalent of the default list page: keyset pages by id, every
    column, rows turned into Python tuples (the API then also builds JSON from them)."""

    QUERY = (
        "SELECT c.id, c.* FROM contacts c WHERE c.deleted_at IS NULL AND c.id > %s"
        " ORDER BY c.id LIMIT %s"
    )

    def __init__(self, spec: LoadSpec) -> None:
        self.conn = psycopg.connect(spec.conninfo, autocommit=True)
        self.after = 0
        self.pages = 0

    def once(self, result: ThreadResult) -> float | None:
        try:
            rows = self.conn.execute(self.QUERY, (self.after, PAGE_SIZE)).fetchall()
        except psycopg.Error as error:
            result.errors.append(f"{type(error).__name__}: {error}")
            return None
        done = time.monotonic()
        self.pages += 1
        if rows and self.pages < CURSOR_PAGES:
            self.after = rows[-1][0]
        else:
            self.after, self.pages = 0, 0
        result.statuses[200] += 1
        return done

    def close(self) -> None:
        self.conn.close()


class _QueriesClient:
    """Fixed statements, all of them per request, rows fetched into Python tuples: what
    the database alone costs for one page."""

    def __init__(self, spec: LoadSpec) -> None:
        self.conn = psycopg.connect(spec.conninfo, autocommit=True)
        self.queries = spec.queries
        self.expected = spec.query_rows

    def once(self, result: ThreadResult) -> float | None:
        counts = []
        try:
            for query, params in self.queries:
                counts.append(len(self.conn.execute(query, params).fetchall()))
        except psycopg.Error as error:
            result.errors.append(f"{type(error).__name__}: {error}")
            return None
        done = time.monotonic()
        if self.expected is not None and counts and counts[0] != self.expected:
            result.errors.append(f"the query returned {counts[0]} rows, not {self.expected}")
            return None
        result.statuses[200] += 1
        return done

    def close(self) -> None:
        self.conn.close()


Client = _HttpClient | _SqlClient | _QueriesClient


def _client(spec: LoadSpec, thread_index: int) -> Client:
    if spec.target == "sql":
        return _SqlClient(spec)
    if spec.target == "queries":
        return _QueriesClient(spec)
    return _HttpClient(spec, thread_index)


def _run_thread(
    spec: LoadSpec,
    index: int,
    client: Client,
    start: threading.Event,
    start_at: list[float],
    result: ThreadResult,
) -> None:
    start.wait()
    t0 = start_at[0]
    global_index = spec.first_thread + index
    deadline = t0 + spec.seconds
    try:
        if spec.mode == "closed":
            budget = _share(spec.requests, global_index, spec.total_threads)
            result.started = time.monotonic()
            for _ in range(budget):
                began = time.monotonic()
                if began >= deadline:
                    break
                done = client.once(result)
                if done is not None:
                    result.latencies.append(done - began)
        else:
            interval = spec.total_threads / spec.rate
            scheduled = t0 + (global_index / spec.rate)
            result.started = scheduled
            while scheduled < deadline:
                delay = scheduled - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                done = client.once(result)
                if done is not None:
                    result.latencies.append(done - scheduled)
                scheduled += interval
        result.finished = time.monotonic()
    except Exception:  # noqa: BLE001  (handed to the parent, which raises it)
        result.failure = traceback.format_exc()


def run_client_process(spec: LoadSpec, ready: Any, go: Any, measured: Any, results: Any) -> None:
    """Child-process entry: set up the threads, release ``ready``, wait for ``go``, run, put
    a ProcessResult on ``results``, and keep the connections open until ``measured`` is
    set (the parent reads the CPU time of their database backends before they end).

    ``ready`` is a multiprocessing Semaphore, ``go`` and ``measured`` Events, ``results`` a
    Queue.
    """
    cpu_before = time.process_time()
    clients: list[Client] = []
    try:
        clients = [_client(spec, spec.first_thread + i) for i in range(spec.threads)]
        start = threading.Event()
        start_at = [0.0]
        thread_results = [ThreadResult() for _ in range(spec.threads)]
        workers = [
            threading.Thread(
                target=_run_thread,
                args=(spec, i, clients[i], start, start_at, thread_results[i]),
                daemon=True,
            )
            for i in range(spec.threads)
        ]
        for worker in workers:
            worker.start()
        ready.release()
        if not go.wait(timeout=120):
            raise TimeoutError("the parent never gave the start signal")
        start_at[0] = time.monotonic()
        start.set()
        for worker in workers:
            worker.join(timeout=spec.seconds + 2 * REQUEST_TIMEOUT)
        if any(worker.is_alive() for worker in workers):
            raise TimeoutError("a client thread did not finish in time")
        results.put(ProcessResult(thread_results, time.process_time() - cpu_before))
        measured.wait(timeout=60)
    except BaseException:  # noqa: BLE001  (reported to the parent, which raises it)
        results.put(ProcessResult([], time.process_time() - cpu_before, traceback.format_exc()))
    finally:
        for client in clients:
            client.close()
