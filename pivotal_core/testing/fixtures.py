"""pytest fixtures for the core and for plugin authors.

Each test runs inside an outer transaction on one connection; the application's
sessions join it through savepoints, so a request's commit releases a savepoint and
its abort rolls one back, and the whole test is rolled back at the end.

``PIVOTAL_TEST_DATABASE_URL`` picks PostgreSQL (default: a SQLite file per run);
``PIVOTAL_TEST_REDIS_URL`` enables the Redis-backed huey tests. With ``CI=true`` an
unreachable service fails the run instead of skipping.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import webtest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from pivotal_core.audit.services import Actor
from pivotal_core.authnz.permissions import Role
from pivotal_core.db import make_engine, metadata

TEST_SECRET = "test-secret-" + "x" * 40  # noqa: S105 - signs test tokens only
TEST_PASSWORD = "correct horse battery"  # noqa: S105 - the test users' password
_counter = itertools.count(1)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def postgres_test_url() -> str | None:
    """A PostgreSQL server for tests that need one whatever database the suite runs on
    (concurrency, scratch databases): ``PIVOTAL_TEST_POSTGRES_URL``, else the test database
    when it is PostgreSQL."""
    url = os.environ.get("PIVOTAL_TEST_POSTGRES_URL") or os.environ.get(
        "PIVOTAL_TEST_DATABASE_URL", ""
    )
    return url if url.startswith("postgresql") else None


def installed_plugin_names() -> list[str]:
    return sorted(ep.name for ep in entry_points(group="pivotal.plugins"))


def _load_all_models() -> None:
    import pivotal_core.models  # noqa: F401

    for ep in entry_points(group="pivotal.plugins"):
        ep.load()


@pytest.fixture(scope="session")
def pivotal_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("PIVOTAL_TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'pivotal-test.sqlite'}"


@pytest.fixture(scope="session")
def pivotal_engine(pivotal_database_url: str):
    engine = make_engine(pivotal_database_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - turned into a clear failure below
        pytest.exit(f"test database {pivotal_database_url} is unreachable: {exc}", returncode=3)
    _load_all_models()
    metadata.drop_all(engine)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def test_settings(**overrides: Any) -> dict[str, Any]:
    """The .ini settings tests build apps with (every installed plugin enabled)."""
    settings = {
        "pivotal.env": "testing",
        "pivotal.plugins": " ".join(installed_plugin_names()),
        "auth.secret": TEST_SECRET,
        "auth.bcrypt_rounds": "4",
        "huey.url": "memory://",
        "huey.immediate": "true",
        "phone.default_region": "US",
    }
    settings.update(overrides)
    return settings


# A helper, not a test, although its name starts with "test".
test_settings.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def app_settings(pivotal_engine) -> dict[str, Any]:
    return test_settings(**{"pivotal.engine": pivotal_engine, "sqlalchemy.url": "unused://"})


@pytest.fixture(scope="session")
def app(app_settings: dict[str, Any]):
    from pivotal_core.app import make_app

    return make_app({}, dict(app_settings))


@pytest.fixture
def db_connection(pivotal_engine):
    connection = pivotal_engine.connect()
    outer = connection.begin()
    yield connection
    outer.rollback()
    connection.close()


@pytest.fixture
def session_factory(db_connection) -> sessionmaker[Session]:
    return sessionmaker(
        bind=db_connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@pytest.fixture
def dbsession(app, session_factory) -> Iterator[Session]:
    """A session on the test's connection; the app's requests and tasks use the same one."""
    previous = app.registry["dbsession_factory"]
    app.registry["dbsession_factory"] = session_factory
    session = session_factory()
    session.info["pivotal.hooks"] = app.registry.pivotal_hooks.hook
    yield session
    session.close()
    app.registry["dbsession_factory"] = previous


@pytest.fixture
def system_actor() -> Actor:
    return Actor.system("test")


class ApiClient:
    """A WebTest app that sends a bearer token; ``expect_errors`` is on by default."""

    def __init__(self, testapp: webtest.TestApp, token: str | None = None, user: Any = None):
        self.testapp = testapp
        self.token = token
        self.user = user

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        result = dict(headers or {})
        if self.token:
            result.setdefault("Authorization", f"Bearer {self.token}")
        return result

    def get(self, url: str, params: Any = None, headers: dict[str, str] | None = None, **kw: Any):
        return self.testapp.get(
            url, params=params, headers=self._headers(headers), expect_errors=True, **kw
        )

    def delete(self, url: str, headers: dict[str, str] | None = None, **kw: Any):
        return self.testapp.delete(url, headers=self._headers(headers), expect_errors=True, **kw)

    def _send(
        self,
        method: str,
        url: str,
        json: Any = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ):
        headers = self._headers(headers)
        if body is not None:
            headers.setdefault("Content-Type", "application/json")
            return self.testapp.request(
                url, method=method, body=body, headers=headers, expect_errors=True
            )
        sender = getattr(self.testapp, f"{method.lower()}_json")
        return sender(url, json, headers=headers, expect_errors=True)

    def post(self, url: str, json: Any = None, **kw: Any):
        return self._send("POST", url, json, **kw)

    def patch(self, url: str, json: Any = None, **kw: Any):
        return self._send("PATCH", url, json, **kw)

    def put(self, url: str, json: Any = None, **kw: Any):
        return self._send("PUT", url, json, **kw)


@pytest.fixture
def testapp(app, dbsession) -> webtest.TestApp:
    return webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "127.0.0.1"})


@pytest.fixture
def anonymous(testapp) -> ApiClient:
    return ApiClient(testapp)


@pytest.fixture
def make_user(dbsession, app):
    """``make_user(role, email=None, password=TEST_PASSWORD)`` -> a committed user."""
    from pivotal_core.users.services import create_user

    def factory(
        role: str = Role.ADMIN, email: str | None = None, password: str = TEST_PASSWORD, **kw: Any
    ):
        if role == Role.CLIENT:
            kw.setdefault("organisation_id", 1)
        user = create_user(
            dbsession,
            Actor.system("test"),
            email=email or f"{role}-{next(_counter)}@example.com",
            password=password,
            role=role,
            bcrypt_rounds=4,
            **kw,
        )
        dbsession.commit()
        return user

    return factory


@pytest.fixture
def login(testapp, make_user):
    """``login(role)`` -> an :class:`ApiClient` signed in as a new user of that role."""

    def factory(role: str = Role.ADMIN, **kw: Any) -> ApiClient:
        user = make_user(role, **kw)
        res = testapp.post_json(
            "/api/v1/auth/login", {"email": user.email, "password": TEST_PASSWORD}
        )
        return ApiClient(testapp, res.json["access_token"], user)

    return factory


@pytest.fixture
def admin(login) -> ApiClient:
    return login(Role.ADMIN)


@pytest.fixture
def make_account(dbsession):
    from pivotal_core.accounts.services import create_account

    def factory(**values: Any):
        n = next(_counter)
        values.setdefault("name", f"Account {n}")
        values.setdefault("domain", f"account{n}.com")
        account = create_account(dbsession, Actor.system("test"), values)
        dbsession.commit()
        return account

    return factory


@pytest.fixture
def make_contact(dbsession):
    from pivotal_core.contacts.services import create_contact

    def factory(**values: Any):
        n = next(_counter)
        values.setdefault("first_name", "Pat")
        values.setdefault("last_name", f"Person{n}")
        values.setdefault("email", f"pat{n}@contact{n}.com")
        contact = create_contact(dbsession, Actor.system("test"), values)
        dbsession.commit()
        return contact

    return factory


@pytest.fixture
def make_import_batch(dbsession):
    """``make_import_batch(entity="contact", source="hubspot", as_of=None, dry_run=False,
    mapping=None, **options)`` -> a committed import batch (its file is not needed: tests
    hand the engine PreparedRows)."""
    from pivotal_core.dataquality.services import create_batch

    def factory(
        entity: str = "contact",
        source: str = "hubspot",
        as_of: Any = None,
        dry_run: bool = False,
        mapping: dict[str, str | None] | None = None,
        **options: Any,
    ):
        batch = create_batch(
            dbsession,
            Actor.system("test"),
            entity=entity,
            source=source,
            filename=f"{source}-{next(_counter)}.csv",
            stored_path="/nonexistent/test-import.csv",
            file_sha256="0" * 64,
            file_format={"kind": "csv", "headers": []},
            mapping=mapping or {},
            options=options,
            as_of=as_of,
            dry_run=dry_run,
        )
        dbsession.commit()
        return batch

    return factory


@pytest.fixture
def imports_dir(app, tmp_path, monkeypatch) -> Path:
    """A folder of the test's own for uploaded import files (``dataquality.imports_dir``)."""
    folder = tmp_path / "imports"
    monkeypatch.setitem(app.registry.settings, "dataquality.imports_dir", str(folder))
    return folder


class WebClient:
    """A WebTest app signed in to the staff UI through the sign-in form (cookies kept)."""

    def __init__(self, testapp: webtest.TestApp, user: Any):
        self.testapp = testapp
        self.user = user

    @property
    def csrf_token(self) -> str:
        token = self.testapp.cookies.get("pivotal_csrf")
        if not token:
            self.testapp.get("/login")
            token = self.testapp.cookies.get("pivotal_csrf")
        return token

    def get(self, url: str, **kw: Any):
        kw.setdefault("expect_errors", True)
        return self.testapp.get(url, **kw)

    def post(self, url: str, params: Any = None, csrf: bool = True, **kw: Any):
        """POST a form; the CSRF token is added unless ``csrf=False``."""
        kw.setdefault("expect_errors", True)
        data = list(params.items()) if isinstance(params, dict) else list(params or [])
        if csrf:
            data.append(("csrf_token", self.csrf_token))
        return self.testapp.post(url, data, **kw)

    def delete_and_restore(self, index: str, item_id: int, kept: str) -> Any:
        """Delete ``item_id`` with ``<index>/<id>/delete`` and restore it from the index's
        "Show deleted" view, checking the way: the message after the delete names that
        view, the index then shows only the other item, the deleted view only this one
        (no link to a page it no longer has; a search for ``kept`` finds nothing there),
        and its row's Restore button posts to ``<index>/<id>/restore``. Returns the
        answer of that post (a redirect)."""
        rows = ".data-table tbody tr[data-id]"
        res = self.post(f"{index}/{item_id}/delete").follow()
        assert "It can be restored from “Show deleted”." in res.text
        live = [row["data-id"] for row in res.html.select(rows)]
        assert str(item_id) not in live and len(live) == 1
        toggle = res.html.select_one("[data-deleted-toggle]")
        assert toggle.get_text(strip=True) == "Show deleted"
        page = self.get(toggle["href"])
        found = page.html.select(rows)
        assert [row["data-id"] for row in found] == [str(item_id)]
        assert found[0].get("data-href") is None, "a deleted one has no page to open"
        assert found[0].select_one("a") is None
        assert page.html.select_one("[data-deleted-toggle]").get_text(strip=True) == "Show live"
        assert self.get(f"{index}?deleted=only&q={kept}").html.select(rows) == []
        action = found[0].select_one("[data-restore]").find_parent("form")["action"]
        assert action == f"{index}/{item_id}/restore"
        return self.post(action)


@pytest.fixture
def web_login(app, dbsession, make_user):
    """``web_login(role)`` -> a :class:`WebClient` signed in as a new user of that role."""

    def factory(role: str = Role.ADMIN, **kw: Any) -> WebClient:
        user = make_user(role, **kw)
        testapp = webtest.TestApp(app, extra_environ={"REMOTE_ADDR": "127.0.0.1"})
        form = testapp.get("/login").forms[0]
        form["email"] = user.email
        form["password"] = TEST_PASSWORD
        res = form.submit()
        assert res.status_int == 303, res.text
        return WebClient(testapp, user)

    return factory
