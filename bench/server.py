"""The application under test, shared by the HTTP benchmarks: its settings, gunicorn on a
free loopback port, the admin user the benchmarks sign in as, and small HTTP helpers.

The server runs SERVER_WORKERS sync workers (``--paste`` of a generated .ini: in-memory
huey, access tokens valid an hour, bcrypt at 4 rounds), with ``PIVOTAL_*`` variables removed
from its environment so that they cannot redirect it to another database.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import bcrypt
import psutil
import psycopg

from bench.database import psycopg_conninfo
from bench.load_clients import HEALTH_PATH
from bench.report import REPO_ROOT

SERVER_WORKERS = 2
BENCH_EMAIL = "bench@example.com"
STARTUP_TIMEOUT = 60.0


class BenchmarkError(RuntimeError):
    """The benchmark cannot run or the server broke its contract; the message says why."""


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


def app_settings(database_url: str, secret: str | None = None) -> dict[str, str]:
    """The application settings of the benchmark server (also used to build the same
    application in-process, for profiling)."""
    return {
        "sqlalchemy.url": psycopg_conninfo(database_url),
        "huey.url": "memory://",
        "huey.immediate": "true",
        "auth.secret": secret or secrets.token_hex(32),
        "auth.bcrypt_rounds": "4",
        "auth.access_ttl": "3600",
        "pivotal.plugins": "",
    }


def write_ini(path: Path, database_url: str) -> None:
    lines = ["[app:main]", f"use = {_paste_app_line()}"]
    lines += [f"{key} = {value}".rstrip() for key, value in app_settings(database_url).items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


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
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(SERVER_WORKERS),
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--paste",
            str(self.ini),
        ]
        if _gunicorn_supports("control_socket_disable"):
            command.insert(3, "--no-control-socket")
        env = {key: value for key, value in os.environ.items() if not key.startswith("PIVOTAL_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        with self.log.open("wb") as log:
            # A session of its own: Ctrl-C reaches us, and we stop the server in order.
            self.process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
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


def require_contacts(conninfo: str, at_least: int = 1000) -> None:
    """Refuse to benchmark an empty database: every figure would be meaninglessly fast."""
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT count(*) FROM (SELECT 1 FROM contacts LIMIT %s) s", (at_least,)
        ).fetchone()
    if not row or row[0] < at_least:
        raise BenchmarkError(
            f"the contacts table holds fewer than {at_least:,} rows: load data first with "
            "`python -m bench.generate --create-schema`"
        )


def ensure_bench_user(database_url: str, password: str) -> None:
    """Create (or reset) the admin user the benchmark signs in as, directly in SQL. Its
    preferences are cleared: the list pages show their default columns, sort and size."""
    password_hash = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
    with psycopg.connect(psycopg_conninfo(database_url)) as conn:
        conn.execute(
            """
            INSERT INTO users (email, full_name, role, password_hash, token_version,
                               is_active, preferences, created_at, updated_at)
            VALUES (%s, 'Benchmark', 'admin', %s, 1, true, '{}', now(), now())
            ON CONFLICT (email) DO UPDATE
            SET password_hash = EXCLUDED.password_hash, role = 'admin', is_active = true,
                preferences = '{}', updated_at = now()
            """,
            (BENCH_EMAIL, password_hash),
        )


def log_in(port: int, password: str) -> str:
    """Sign in through the JSON API; returns the bearer access token."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(
            "POST",
            "/api/v1/auth/login",
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
