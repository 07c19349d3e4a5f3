"""Browser tests: a real Pivotal server on loopback, driven by Debian's headless Chromium.

One server and one browser serve the whole session; each test gets its own browser
context (cookies, localStorage), so tests do not see each other's state. The database is
a fresh SQLite file, or a scratch PostgreSQL database when ``PIVOTAL_TEST_DATABASE_URL``
points at PostgreSQL, migrated with alembic and filled with a small demo load.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from pivotal_core.audit.services import Actor
from pivotal_core.authnz.permissions import Role
from pivotal_core.testing.fixtures import TEST_PASSWORD, in_ci, test_settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DEMO_ACCOUNTS = 30
DEMO_CONTACTS = 150
USERS = {
    Role.ADMIN: "admin@browser.example.com",
    Role.CLIENT: "client@browser.example.com",
}


@dataclass
class LiveServer:
    url: str
    engine: Engine
    emails: dict[str, str]

    def session(self) -> Session:
        """A session of its own on the server's database, for setting up and checking."""
        return Session(self.engine, expire_on_commit=False)


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
    if in_ci():
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def live_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database no other test touches: created here, dropped (or left in tmp) after."""
    base = os.environ.get("PIVOTAL_TEST_DATABASE_URL", "")
    if not base.startswith("postgresql"):
        yield f"sqlite:///{tmp_path_factory.mktemp('browser') / 'pivotal.sqlite'}"
        return
    from pivotal_core.testing import pgdb

    name = f"pivotal_browser_{os.getpid()}_{int(time.time())}"
    status = pgdb.main(["create", base, name])
    if status != 0:
        pytest.fail(f"could not create the scratch database {name} through {base}", pytrace=False)
    try:
        yield urlsplit(base)._replace(path=f"/{name}").geturl()
    finally:
        pgdb.main(["drop", base, name])


def _seed(session: Session) -> dict[str, str]:
    """Demo accounts and contacts, an admin and a client user, and jobs in every state."""
    from pivotal_core.db import utcnow
    from pivotal_core.jobs.models import Job
    from pivotal_core.users.services import create_user

    try:
        from pivotal_core.demo import load_demo
    except ImportError:  # the demo loader is optional for these tests
        load_demo = None
    if load_demo is not None:
        load_demo(session, accounts=DEMO_ACCOUNTS, contacts=DEMO_CONTACTS, seed=7)
    actor = Actor.system("test")
    users = {}
    for role, email in USERS.items():
        user = create_user(
            session,
            actor,
            email=email,
            password=TEST_PASSWORD,
            role=role,
            full_name=f"Browser {role.value.title()}",
            organisation_id=1 if role == Role.CLIENT else None,
            bcrypt_rounds=4,
        )
        users[role] = user
    now = utcnow()
    admin_id = users[Role.ADMIN].id
    session.add_all(
        [
            Job(
                kind="contacts.import",
                status="succeeded",
                params={"file": "fair-2025.csv"},
                result={"created": 412, "updated": 37},
                progress_current=449,
                progress_total=449,
                created_by_id=admin_id,
                started_at=now,
                finished_at=now,
                attempts=1,
            ),
            Job(
                kind="lists.export",
                status="running",
                params={"list_id": 3},
                progress_current=620,
                progress_total=1600,
                message="writing rows",
                created_by_id=admin_id,
                started_at=now,
                attempts=1,
            ),
            Job(
                kind="segments.refresh",
                status="queued",
                params={"segment_id": 9},
                progress_current=0,
                attempts=0,
            ),
            Job(
                kind="enrichment.accounts",
                status="failed",
                params={"source": "clearbit"},
                progress_current=12,
                progress_total=40,
                error="ConnectionError: source timed out",
                started_at=now,
                finished_at=now,
                attempts=3,
            ),
        ]
    )
    session.commit()
    return {role.value: email for role, email in USERS.items()}


@pytest.fixture(scope="session")
def live_server(live_database_url: str) -> Iterator[LiveServer]:
    """The real app, migrated and seeded, served by waitress in a daemon thread."""
    import waitress

    from pivotal_core.app import make_app
    from pivotal_core.migrations.runner import upgrade

    upgrade(live_database_url)
    app = make_app(
        {},
        test_settings(
            **{
                "sqlalchemy.url": live_database_url,
                "huey.url": "memory://",
                "huey.immediate": "true",
            }
        ),
    )
    engine: Engine = app.registry.settings["pivotal.engine"]
    with Session(engine, expire_on_commit=False) as session:
        session.info["pivotal.hooks"] = app.registry.pivotal_hooks.hook
        emails = _seed(session)
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=8)
    thread = threading.Thread(target=server.run, name="pivotal-browser-tests", daemon=True)
    thread.start()
    try:
        yield LiveServer(f"http://127.0.0.1:{server.effective_port}", engine, emails)
    finally:
        server.close()
        server.task_dispatcher.shutdown()
        thread.join(timeout=5)
        engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    _require_chromium()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=10_000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def signed_in_state(browser, live_server: LiveServer) -> Callable[[str], dict]:
    """``signed_in_state(role)`` -> cookies of a session signed in through the form, made once
    per role (signing out would void them for every test: no test here signs out)."""
    states: dict[str, dict] = {}

    def state(role: str) -> dict:
        if role not in states:
            context = browser.new_context(base_url=live_server.url)
            page = context.new_page()
            sign_in(page, live_server.emails[role])
            states[role] = context.storage_state()
            context.close()
        return states[role]

    return state


def sign_in(page: Any, email: str, password: str = TEST_PASSWORD) -> None:
    from playwright.sync_api import expect

    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("details.user-menu")).to_contain_text(email)


@pytest.fixture(scope="session")
def signing_in() -> Callable[..., None]:
    """The sign-in steps, for tests that go through the form themselves."""
    return sign_in


@pytest.fixture
def new_page(browser, live_server: LiveServer, signed_in_state) -> Iterator[Callable[..., Any]]:
    """``new_page(role=None, theme="light")`` -> a page in a fresh context of its own."""
    contexts = []

    def factory(role: str | None = None, theme: str = "light") -> Any:
        options: dict[str, Any] = {
            "base_url": live_server.url,
            "viewport": {"width": 1366, "height": 860},
            "color_scheme": theme,
            "accept_downloads": True,
        }
        if role is not None:
            options["storage_state"] = signed_in_state(role)
        context = browser.new_context(**options)
        contexts.append(context)
        return context.new_page()

    yield factory
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where screenshots go (``test-artifacts/`` is kept out of git)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
