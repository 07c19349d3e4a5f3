"""The plugin system: each hook the core calls, enabling and disabling plugins by name,
describing installed plugins, and the rule that every hook is documented.

Hook tests are named ``test_hook_<name>``. Throwaway plugins (classes with ``@hookimpl``
methods) are handed to the app factory through the ``use_plugins`` fixture, or registered
on the running app's manager by a fixture that unregisters them afterwards.
"""

from __future__ import annotations

import inspect
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import colander
import pluggy
import pytest
import webtest
from pyramid.security import NO_PERMISSION_REQUIRED
from sqlalchemy import create_engine, func, select, text
from sqlalchemy import inspect as inspect_db

import pivotal_core.models  # noqa: F401 - every core table in the metadata
from pivotal_core import hookimpl, hookspecs
from pivotal_core.api.endpoints import add_endpoint
from pivotal_core.app import load_settings, make_app
from pivotal_core.audit.services import Actor
from pivotal_core.authnz.permissions import PermissionGrant
from pivotal_core.config import SettingsError
from pivotal_core.contacts.models import Contact
from pivotal_core.contacts.services import create_contact
from pivotal_core.db import metadata, new_transaction_manager, tm_session
from pivotal_core.jobs.models import Job
from pivotal_core.jobs.queue import register_task
from pivotal_core.jobs.services import enqueue
from pivotal_core.migrations import runner
from pivotal_core.plugins import PluginError, build_plugin_manager, describe_plugins
from pivotal_core.testing.fixtures import TEST_PASSWORD, ApiClient
from pivotal_core.testing.fixtures import test_settings as settings_for_tests
from pivotal_core.users.services import create_user

ROOT = Path(__file__).resolve().parents[1]
HOOKS_DOC = ROOT / "docs" / "plugins" / "hooks.md"
HELLO_HOOKS = (
    "pivotal_channels",
    "pivotal_configure",
    "pivotal_navigation",
    "pivotal_permissions",
    "pivotal_settings_defaults",
)
_emails = itertools.count(1)


# --------------------------------------------------------------------------
# Apps built for one test, on a SQLite file of their own
# --------------------------------------------------------------------------


@dataclass
class BuiltApp:
    app: Any

    @property
    def registry(self) -> Any:
        return self.app.registry

    @property
    def testapp(self) -> webtest.TestApp:
        return webtest.TestApp(self.app, extra_environ={"REMOTE_ADDR": "127.0.0.1"})

    def client(self) -> ApiClient:
        return ApiClient(self.testapp)

    def login(self, role: str = "admin") -> ApiClient:
        email = f"{role}-{next(_emails)}@example.com"
        with self.registry["dbsession_factory"]() as session:
            create_user(
                session,
                Actor.system("test"),
                email=email,
                password=TEST_PASSWORD,
                role=role,
                bcrypt_rounds=4,
            )
            session.commit()
        testapp = self.testapp
        res = testapp.post_json("/api/v1/auth/login", {"email": email, "password": TEST_PASSWORD})
        return ApiClient(testapp, res.json["access_token"])

    def navigation(self) -> list[dict[str, Any]]:
        hook = self.registry.pivotal_hooks.hook
        return [item for batch in hook.pivotal_navigation(request=None) for item in batch]


@pytest.fixture(autouse=True)
def plugin_environment(monkeypatch) -> None:
    """Apps here are configured by their settings alone, whatever the shell exports."""
    for name in ("PIVOTAL_PLUGINS", "PIVOTAL_HELLO_CHANNEL_GREETING"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Callable[[], str]:
    files = itertools.count(1)
    return lambda: f"sqlite:///{tmp_path / f'pivotal-{next(files)}.sqlite'}"


@pytest.fixture
def build_app(sqlite_url) -> Iterator[Callable[..., BuiltApp]]:
    """``build_app(plugins, **settings)``: a fresh app with only ``plugins`` enabled."""
    engines = []

    def build(plugins: str, **settings: Any) -> BuiltApp:
        ini = settings_for_tests(**{"pivotal.plugins": plugins, "sqlalchemy.url": sqlite_url()})
        ini.update(settings)
        app = make_app({}, ini)
        engine = app.registry.settings["pivotal.engine"]
        engines.append(engine)
        metadata.create_all(engine)
        return BuiltApp(app)

    yield build
    for engine in engines:
        engine.dispose()


@pytest.fixture
def use_plugins(monkeypatch) -> Callable[..., None]:
    """``use_plugins(*plugins)``: every manager the app factory and the migration runner
    build during this test gets these throwaway plugins; undone at teardown."""
    real_build = build_plugin_manager

    def use(*plugins: object) -> None:
        def build(enabled: list[str]) -> pluggy.PluginManager:
            pm = real_build(enabled)
            for plugin in plugins:
                pm.register(plugin)
            pm.check_pending()
            return pm

        monkeypatch.setattr("pivotal_core.app.build_plugin_manager", build)
        monkeypatch.setattr("pivotal_core.migrations.runner.build_plugin_manager", build)

    return use


def no_environment() -> dict[str, str]:
    return {}


# --------------------------------------------------------------------------
# Start-up hooks
# --------------------------------------------------------------------------


class GreetedSpecs:
    """A hook specification a plugin brings along, as the email plugin does for ESPs."""

    @pluggy.HookspecMarker("pivotal")
    def pivotal_throwaway_greeted(self, name: str) -> str:
        """Called when someone is greeted."""


class AddsGreetedHook:
    @hookimpl
    def pivotal_addhooks(self, pluginmanager: pluggy.PluginManager) -> None:
        pluginmanager.add_hookspecs(GreetedSpecs)


class ImplementsGreetedHook:
    @hookimpl
    def pivotal_throwaway_greeted(self, name: str) -> str:
        return f"greeted {name}"


@pytest.fixture
def plugin_manager() -> pluggy.PluginManager:
    return build_plugin_manager([])


def test_hook_pivotal_addhooks(plugin_manager):
    # The manager already made its historic call; a plugin registered later still gets it.
    plugin_manager.register(AddsGreetedHook())
    plugin_manager.register(ImplementsGreetedHook())
    plugin_manager.check_pending()
    assert plugin_manager.hook.pivotal_throwaway_greeted(name="Ada") == ["greeted Ada"]


def test_hook_pivotal_addhooks_is_what_makes_the_spec_known(plugin_manager):
    plugin_manager.register(ImplementsGreetedHook())
    with pytest.raises(pluggy.PluginValidationError, match="pivotal_throwaway_greeted"):
        plugin_manager.check_pending()


class ColourDefaults:
    @hookimpl
    def pivotal_settings_defaults(self) -> dict[str, Any]:
        return {"throwaway.colour": "blue", "throwaway.size": "3"}


class OtherColourDefaults:
    @hookimpl
    def pivotal_settings_defaults(self) -> dict[str, Any]:
        return {"throwaway.colour": "green"}


class ShadowsCoreSetting:
    @hookimpl
    def pivotal_settings_defaults(self) -> dict[str, Any]:
        return {"auth.issuer": "someone-else"}


def test_hook_pivotal_settings_defaults(use_plugins):
    use_plugins(ColourDefaults())
    settings, _ = load_settings(settings_for_tests(**{"pivotal.plugins": ""}), no_environment())
    assert settings["throwaway.colour"] == "blue"
    assert settings["throwaway.size"] == "3"


def test_hook_pivotal_settings_defaults_sit_under_ini_and_environment(use_plugins):
    use_plugins(ColourDefaults())
    ini = settings_for_tests(**{"pivotal.plugins": "", "throwaway.colour": "green"})
    settings, _ = load_settings(ini, {"PIVOTAL_THROWAWAY_SIZE": "7"})
    assert settings["throwaway.colour"] == "green"
    assert settings["throwaway.size"] == "7"
    settings, _ = load_settings(ini, {"PIVOTAL_THROWAWAY_COLOUR": "red"})
    assert settings["throwaway.colour"] == "red"


def test_hook_pivotal_settings_defaults_one_owner_per_key(use_plugins):
    use_plugins(ColourDefaults(), OtherColourDefaults())
    with pytest.raises(SettingsError, match="two plugins declare a default for 'throwaway.colour'"):
        load_settings(settings_for_tests(**{"pivotal.plugins": ""}), no_environment())


def test_hook_pivotal_settings_defaults_cannot_shadow_core_settings(use_plugins):
    use_plugins(ShadowsCoreSetting())
    with pytest.raises(SettingsError, match="'auth.issuer' shadows a core setting"):
        load_settings(settings_for_tests(**{"pivotal.plugins": ""}), no_environment())


def ping(request) -> dict[str, Any]:
    return {"pong": request.registry.settings["pivotal.env"]}


def overridden_health(request) -> dict[str, str]:
    return {"status": "overridden"}


class ConfiguresRoutes:
    @hookimpl
    def pivotal_configure(self, config) -> None:
        add_endpoint(
            config,
            "api.throwaway.ping",
            "/throwaway/ping",
            "GET",
            ping,
            permission=None,
            public=True,
            tag="throwaway",
            summary="Ping",
        )
        # The core has committed its configuration already: this replaces its view
        # instead of raising a configuration conflict.
        config.add_view(
            overridden_health,
            route_name="api.health",
            request_method="GET",
            renderer="json",
            permission=NO_PERMISSION_REQUIRED,
        )


def test_hook_pivotal_configure(use_plugins, build_app):
    use_plugins(ConfiguresRoutes())
    client = build_app("").client()
    res = client.get("/api/v1/throwaway/ping")
    assert res.status_int == 200
    assert res.json == {"pong": "testing"}
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert paths["/api/v1/throwaway/ping"]["get"]["tags"] == ["throwaway"]


def test_hook_pivotal_configure_may_override_core_views(use_plugins, build_app):
    use_plugins(ConfiguresRoutes())
    assert build_app("").client().get("/api/v1/health").json == {"status": "overridden"}


def wave(request) -> dict[str, bool]:
    return {"waved": True}


class GrantsWave:
    @hookimpl
    def pivotal_permissions(self) -> list[PermissionGrant]:
        return [PermissionGrant("throwaway:wave", ("agent",), "Wave at people")]

    @hookimpl
    def pivotal_configure(self, config) -> None:
        add_endpoint(
            config,
            "api.throwaway.wave",
            "/throwaway/wave",
            "POST",
            wave,
            permission="throwaway:wave",
            tag="throwaway",
            summary="Wave",
        )


class GrantsToUnknownRole:
    @hookimpl
    def pivotal_permissions(self) -> list[PermissionGrant]:
        return [PermissionGrant("throwaway:sail", ("pirate",))]


def test_hook_pivotal_permissions(use_plugins, build_app):
    use_plugins(GrantsWave())
    built = build_app("")
    roles = built.registry["pivotal.role_permissions"]
    assert "throwaway:wave" in roles["agent"]
    assert "throwaway:wave" in roles["admin"], "the admin holds every plugin permission"
    assert "throwaway:wave" not in roles["manager"]
    assert built.login("agent").post("/api/v1/throwaway/wave").json == {"waved": True}
    assert built.login("admin").post("/api/v1/throwaway/wave").status_int == 200
    assert built.login("manager").post("/api/v1/throwaway/wave").status_int == 403
    assert built.client().post("/api/v1/throwaway/wave").status_int == 401


def test_hook_pivotal_permissions_refuses_unknown_roles(use_plugins, sqlite_url):
    use_plugins(GrantsToUnknownRole())
    with pytest.raises(PluginError, match="'throwaway:sail' is granted to unknown role 'pirate'"):
        make_app({}, settings_for_tests(**{"pivotal.plugins": "", "sqlalchemy.url": sqlite_url()}))


def count_contacts(session, progress, *, domain: str) -> dict[str, Any]:
    query = select(func.count()).select_from(Contact).where(Contact.email_domain == domain)
    found = session.scalar(query)
    progress(found, found, "counted", force=True)
    return {"domain": domain, "contacts": found}


class RegistersTask:
    task: Any = None

    @hookimpl
    def pivotal_register_tasks(self, huey) -> None:
        self.task = register_task(huey, "throwaway.count_contacts", count_contacts)


def test_hook_pivotal_register_tasks(use_plugins, build_app):
    plugin = RegistersTask()
    use_plugins(plugin)
    built = build_app("")
    assert plugin.task is not None
    manager = new_transaction_manager()
    with manager:
        session = tm_session(built.registry["dbsession_factory"], manager)
        for email in ("ada@acme.com", "grace@acme.com", "alan@other.com"):
            create_contact(session, Actor.system("test"), {"email": email})
        job_id = enqueue(
            session, plugin.task, "throwaway.count_contacts", {"domain": "acme.com"}
        ).id
    # huey runs immediately in tests: the task ran when the transaction committed.
    with built.registry["dbsession_factory"]() as session:
        job = session.get(Job, job_id)
        assert job.status == "succeeded", job.error
        assert job.result == {"domain": "acme.com", "contacts": 2}
        assert (job.progress_current, job.progress_total, job.message) == (2, 2, "counted")


class SmokeSignal:
    name = "smoke_signal"
    label = "Smoke signal"
    templates: dict[str, str] = {}
    settings_schema = colander.SchemaNode(
        colander.Mapping(), colander.SchemaNode(colander.String(), name="hill")
    )

    def presend_checks(self, campaign: Any) -> list[str]:
        return []

    def launch(self, campaign: Any) -> None:
        return None


class NotAChannel:
    name = "pigeon"
    label = "Pigeon"


class ProvidesChannel:
    def __init__(self, *channels: Any) -> None:
        self.channels = list(channels)

    @hookimpl
    def pivotal_channels(self) -> list[Any]:
        return self.channels


def test_hook_pivotal_channels(use_plugins, build_app):
    smoke = SmokeSignal()
    use_plugins(ProvidesChannel(smoke))
    built = build_app("hello_channel")
    assert built.registry["pivotal.channels"]["smoke_signal"] is smoke
    items = built.login("campaign_manager").get("/api/v1/channels").json["items"]
    assert {"name": "smoke_signal", "label": "Smoke signal", "settings": ["hill"]} in items
    assert {item["name"] for item in items} == {"smoke_signal", "hello"}


def test_hook_pivotal_channels_checks_the_contract(use_plugins, sqlite_url):
    use_plugins(ProvidesChannel(NotAChannel()))
    with pytest.raises(PluginError, match="does not follow the Channel contract"):
        make_app({}, settings_for_tests(**{"pivotal.plugins": "", "sqlalchemy.url": sqlite_url()}))


def test_hook_pivotal_channels_names_are_unique(use_plugins, sqlite_url):
    impostor = SmokeSignal()
    impostor.name = "hello"
    use_plugins(ProvidesChannel(impostor))
    ini = settings_for_tests(**{"pivotal.plugins": "hello_channel", "sqlalchemy.url": sqlite_url()})
    with pytest.raises(PluginError, match="two plugins provide a channel named 'hello'"):
        make_app({}, ini)


THROWAWAY_MIGRATION = '''"""throwaway: the waves table"""
import sqlalchemy as sa
from alembic import op

revision = "0001_throwaway"
down_revision = None
branch_labels = ("throwaway",)
depends_on = None


def upgrade():
    op.create_table(
        "throwaway_waves",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
    )


def downgrade():
    op.drop_table("throwaway_waves")
'''


class HasMigrations:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @hookimpl
    def pivotal_migration_locations(self) -> list[str]:
        return [str(self.folder)]


@pytest.fixture
def throwaway_versions(tmp_path: Path) -> Path:
    folder = tmp_path / "throwaway_versions"
    folder.mkdir()
    (folder / "0001_throwaway.py").write_text(THROWAWAY_MIGRATION)
    return folder


def test_hook_pivotal_migration_locations(use_plugins, throwaway_versions):
    core_versions = str(Path(pivotal_core.models.__file__).parent / "migrations" / "versions")
    before = runner.migration_locations()
    assert core_versions in before
    # Two plugins naming one folder still give it once; the order carries no meaning.
    use_plugins(HasMigrations(throwaway_versions), HasMigrations(throwaway_versions))
    after = runner.migration_locations()
    assert sorted(after) == sorted([*before, str(throwaway_versions)])


def test_hook_pivotal_migration_locations_upgrade_every_branch(
    use_plugins, throwaway_versions, sqlite_url
):
    use_plugins(HasMigrations(throwaway_versions))
    url = sqlite_url()
    runner.upgrade(url)
    engine = create_engine(url)
    try:
        tables = set(inspect_db(engine).get_table_names())
        with engine.connect() as conn:
            heads = set(conn.scalars(text("SELECT version_num FROM alembic_version")))
    finally:
        engine.dispose()
    assert {"throwaway_waves", "contacts", "users", "jobs"} <= tables
    assert "0001_throwaway" in heads


# --------------------------------------------------------------------------
# Broadcasts
# --------------------------------------------------------------------------


class ChangeRecorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, dict[str, tuple[Any, Any]], Any]] = []

    @hookimpl
    def pivotal_record_changed(self, entity, record, changes, actor) -> None:
        self.calls.append((entity, record.id, dict(changes), actor))


@pytest.fixture
def change_recorder(app) -> Iterator[ChangeRecorder]:
    recorder = ChangeRecorder()
    pm = app.registry.pivotal_hooks
    pm.register(recorder)
    try:
        yield recorder
    finally:
        pm.unregister(recorder)


def test_hook_pivotal_record_changed(admin, make_contact, change_recorder):
    contact = make_contact(first_name="Pat", last_name="Doe", email="pat@acme.com")
    entity, record_id, changes, actor = change_recorder.calls[-1]
    assert (entity, record_id, changes["first_name"]) == ("contact", contact.id, (None, "Pat"))
    assert actor.user_id is None and actor.source == "test"

    res = admin.patch(f"/api/v1/contacts/{contact.id}", {"first_name": "Ada"})
    assert res.status_int == 200, res.text
    assert len(change_recorder.calls) == 2
    entity, record_id, changes, actor = change_recorder.calls[-1]
    assert (entity, record_id, changes) == ("contact", contact.id, {"first_name": ("Pat", "Ada")})
    assert (actor.user_id, actor.source) == (admin.user.id, "api")


def test_hook_pivotal_record_changed_not_for_unchanged_values(admin, make_contact, change_recorder):
    contact = make_contact(first_name="Pat")
    before = len(change_recorder.calls)
    res = admin.patch(f"/api/v1/contacts/{contact.id}", {"first_name": "Pat"})
    assert res.status_int == 200, res.text
    assert len(change_recorder.calls) == before


def test_hook_pivotal_record_changed_on_delete(admin, make_contact, change_recorder):
    contact = make_contact()
    res = admin.delete(f"/api/v1/contacts/{contact.id}")
    assert res.status_int == 200, res.text
    entity, record_id, changes, _ = change_recorder.calls[-1]
    assert (entity, record_id, list(changes)) == ("contact", contact.id, ["deleted_at"])
    old, new = changes["deleted_at"]
    assert old is None and new is not None


class RefusesChanges:
    @hookimpl
    def pivotal_record_changed(self, entity, record, changes, actor) -> None:
        raise RuntimeError("refused by a plugin")


def test_hook_pivotal_record_changed_failure_aborts_the_change(app, admin, make_contact):
    contact = make_contact(first_name="Pat")
    pm = app.registry.pivotal_hooks
    plugin = RefusesChanges()
    pm.register(plugin)
    try:
        res = admin.patch(f"/api/v1/contacts/{contact.id}", {"first_name": "Ada"})
    finally:
        pm.unregister(plugin)
    assert res.status_int == 500
    assert res.json["error"]["code"] == "server_error"
    assert admin.get(f"/api/v1/contacts/{contact.id}").json["first_name"] == "Pat"
    history = admin.get(f"/api/v1/contacts/{contact.id}/history").json["items"]
    assert {event["action"] for event in history} == {"create"}, "the update's audit is gone"


# --------------------------------------------------------------------------
# Enabling and disabling plugins by name
# --------------------------------------------------------------------------


def test_describe_plugins_lists_hello_channel():
    pm = build_plugin_manager(["hello_channel"])
    infos = {info.name: info for info in describe_plugins(pm, ["hello_channel"])}
    hello = infos["hello_channel"]
    assert hello.distribution == "pivotal-hello-channel"
    assert hello.version == version("pivotal-hello-channel")
    assert hello.enabled is True
    assert hello.hooks == HELLO_HOOKS


def test_describe_plugins_shows_disabled_plugins_too():
    pm = build_plugin_manager([])
    assert pm.get_plugin("hello_channel") is None
    hello = {info.name: info for info in describe_plugins(pm, [])}["hello_channel"]
    assert hello.enabled is False
    assert hello.hooks == HELLO_HOOKS


def test_hello_channel_enabled(build_app):
    built = build_app("hello_channel")
    admin = built.login("admin")
    channels = admin.get("/api/v1/channels").json["items"]
    assert "hello" in [item["name"] for item in channels]
    assert admin.post("/api/v1/hello/greet", {"name": "Ada"}).json == {"greeting": "Hello Ada"}
    assert "hello:greet" in built.registry["pivotal.role_permissions"]["manager"]
    assert built.registry.settings["hello_channel.greeting"] == "Hello"
    assert [item["route"] for item in built.navigation()] == ["hello.page"]
    assert "Hello channel" in admin.get("/").text  # the sidebar shows the plugin's item
    assert admin.get("/hello").status_int == 200
    assert "/api/v1/hello/greet" in admin.get("/api/v1/openapi.json").json["paths"]


def test_hello_channel_disabled(build_app):
    built = build_app("")
    admin = built.login("admin")
    res = admin.get("/api/v1/channels")
    assert res.status_int == 200, "the app still starts and serves"
    assert "hello" not in [item["name"] for item in res.json["items"]]
    res = admin.post("/api/v1/hello/greet", {"name": "Ada"})
    assert res.status_int == 404
    assert res.json["error"]["code"] == "not_found"
    roles = built.registry["pivotal.role_permissions"]
    assert all("hello:greet" not in permissions for permissions in roles.values())
    assert "hello_channel.greeting" not in built.registry.settings
    assert built.navigation() == []
    assert admin.get("/hello").status_int == 404  # its staff UI page is gone too
    dashboard = admin.get("/")
    assert dashboard.status_int == 200 and "Hello channel" not in dashboard.text
    assert "/api/v1/hello/greet" not in admin.get("/api/v1/openapi.json").json["paths"]
    assert built.registry.pivotal_hooks.is_blocked("hello_channel")


def test_hello_channel_greeting_from_ini(build_app):
    built = build_app("hello_channel", **{"hello_channel.greeting": "Good day"})
    res = built.login("admin").post("/api/v1/hello/greet", {"name": "Ada"})
    assert res.json == {"greeting": "Good day Ada"}


def test_hello_channel_greeting_from_environment(build_app, monkeypatch):
    monkeypatch.setenv("PIVOTAL_HELLO_CHANNEL_GREETING", "Howdy")
    built = build_app("hello_channel", **{"hello_channel.greeting": "Good day"})
    assert built.registry.settings["hello_channel.greeting"] == "Howdy"
    res = built.login("admin").post("/api/v1/hello/greet", {"name": "Ada"})
    assert res.json == {"greeting": "Howdy Ada"}


def test_plugins_from_environment_win_over_ini(build_app, monkeypatch):
    monkeypatch.setenv("PIVOTAL_PLUGINS", "")
    built = build_app("hello_channel")
    assert "hello" not in built.registry["pivotal.channels"]
    assert built.registry.settings["pivotal.plugins"] == []


def test_misspelled_plugin_stops_start_up(sqlite_url):
    ini = settings_for_tests(**{"pivotal.plugins": "hello_chanel", "sqlalchemy.url": sqlite_url()})
    with pytest.raises(PluginError) as error:
        make_app({}, ini)
    message = str(error.value)
    assert "hello_chanel" in message
    installed = message.split("installed plugins:", 1)[1]
    assert "hello_channel" in [name.strip() for name in installed.split(",")]


def test_core_plugins_cannot_be_named():
    with pytest.raises(PluginError, match="part of the core, always enabled"):
        build_plugin_manager(["pivotal_core.defaults"])
    # A core name next to a typo: both are reported, the core name first.
    with pytest.raises(PluginError, match="pivotal_core.defaults: part of the core"):
        build_plugin_manager(["pivotal_core.defaults", "hello_chanel"])


def test_describe_plugins_lists_only_hook_implementations(plugin_manager):
    info = {i.name: i for i in describe_plugins(plugin_manager, ["hello_channel"])}["hello_channel"]
    spec_names = {name for name in dir(hookspecs) if name.startswith("pivotal_")}
    assert info.hooks and set(info.hooks) <= spec_names


def test_core_plugins_are_always_registered(plugin_manager):
    assert plugin_manager.get_plugin("pivotal_core.defaults") is not None


# --------------------------------------------------------------------------
# Every hook is documented
# --------------------------------------------------------------------------


def hook_names() -> list[str]:
    return sorted(
        name
        for name, value in vars(hookspecs).items()
        if name.startswith("pivotal_") and inspect.isfunction(value)
    )


def documented_hooks(markdown: str) -> set[str]:
    headings = re.findall(r"^#{1,6} .*$", markdown, flags=re.MULTILINE)
    return {name for heading in headings for name in re.findall(r"`(pivotal_\w+)`", heading)}


def test_every_hook_is_documented():
    documented = documented_hooks(HOOKS_DOC.read_text(encoding="utf-8"))
    missing = [name for name in hook_names() if name not in documented]
    assert not missing, f"{HOOKS_DOC.relative_to(ROOT)} has no heading for: {', '.join(missing)}"


def test_documented_hooks_exist():
    stale = documented_hooks(HOOKS_DOC.read_text(encoding="utf-8")) - set(hook_names())
    assert not stale, f"{HOOKS_DOC.relative_to(ROOT)} documents unknown hooks: {sorted(stale)}"


def test_hook_documentation_check_notices_a_missing_hook():
    text_without = "# Hooks\n\n### `pivotal_configure`\n\nbody mentions `pivotal_channels`\n"
    assert documented_hooks(text_without) == {"pivotal_configure"}
    assert "pivotal_addhooks" in hook_names()
