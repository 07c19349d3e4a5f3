"""Tests of the hello channel, written with the fixtures pivotal-core gives plugin authors
(``app``, ``admin``, ``login``, ``anonymous``, ``make_contact``, ...)."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

import jinja2
import pytest
from pivotal_hello_channel import GREET_PERMISSION, HelloChannel, LaunchRefused


@dataclass
class Campaign:
    """Stands in for a campaign record: channel settings and recipients."""

    settings: dict[str, Any]
    recipients: list[Any] = field(default_factory=list)


@dataclass
class Person:
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None


@pytest.fixture
def channel(app) -> HelloChannel:
    """The application's own hello channel object, as the campaigns area holds it."""
    return app.registry["pivotal.channels"]["hello"]


# ------------------------------------------------------------------ registration


def test_channel_is_listed_for_admin(admin):
    res = admin.get("/api/v1/channels")
    assert res.status_int == 200, res.text
    hello = [item for item in res.json["items"] if item["name"] == "hello"]
    assert hello == [{"name": "hello", "label": "Hello (example)", "settings": ["greeting"]}]


def test_channel_list_needs_a_login(anonymous):
    res = anonymous.get("/api/v1/channels")
    assert res.status_int == 401
    assert res.json["error"]["code"] == "unauthorized"


def test_settings_default_is_merged(app):
    assert app.registry.settings["hello_channel.greeting"] == "Hello"


@pytest.mark.parametrize("role", ["admin", "manager", "campaign_manager"])
def test_permission_goes_to_campaign_roles(app, role):
    assert GREET_PERMISSION in app.registry["pivotal.role_permissions"][role]


@pytest.mark.parametrize("role", ["agent", "data_steward", "qa_reviewer", "client"])
def test_permission_withheld_from_other_roles(app, role):
    assert GREET_PERMISSION not in app.registry["pivotal.role_permissions"][role]


def test_navigation_item(app):
    items = [
        item
        for batch in app.registry.pivotal_hooks.hook.pivotal_navigation(request=None)
        for item in batch
    ]
    assert {
        "section": "Campaigns",
        "label": "Hello channel",
        "route": "hello.page",
        "permission": "hello:greet",
        "order": 900,
    } in items


def test_endpoint_is_in_openapi(anonymous):
    doc = anonymous.get("/api/v1/openapi.json").json
    operation = doc["paths"]["/api/v1/hello/greet"]["post"]
    assert operation["tags"] == ["hello"]
    assert "`hello:greet`" in operation["description"]
    body = doc["components"]["schemas"]["HelloGreetRequest"]
    assert body["required"] == ["name"]
    assert body["properties"]["name"]["maxLength"] == 100


# ------------------------------------------------------------------ the endpoint


@pytest.mark.parametrize("role", ["admin", "campaign_manager"])
def test_greet(login, role):
    res = login(role).post("/api/v1/hello/greet", {"name": "Ada"})
    assert res.status_int == 200, res.text
    assert res.json == {"greeting": "Hello Ada"}


def test_greet_trims_the_name(admin):
    res = admin.post("/api/v1/hello/greet", {"name": "  Grace  "})
    assert res.json == {"greeting": "Hello Grace"}


def test_greet_forbidden_for_agent(login):
    res = login("agent").post("/api/v1/hello/greet", {"name": "Ada"})
    assert res.status_int == 403
    assert res.json["error"]["code"] == "forbidden"


def test_greet_needs_a_login(anonymous):
    res = anonymous.post("/api/v1/hello/greet", {"name": "Ada"})
    assert res.status_int == 401
    assert res.json["error"]["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Required"),
        ({"name": ""}, "Required"),
        ({"name": "   "}, "may not be blank"),
        ({"name": "x" * 101}, "Longer than maximum length 100"),
        ({"name": 42}, "must be a string"),
    ],
)
def test_greet_refuses_a_bad_name(admin, body, message):
    res = admin.post("/api/v1/hello/greet", body)
    assert res.status_int == 400, res.text
    assert res.json["error"]["code"] == "validation_failed"
    assert res.json["error"]["fields"] == {"name": message}


def test_greet_accepts_the_longest_name(admin):
    res = admin.post("/api/v1/hello/greet", {"name": "x" * 100})
    assert res.status_int == 200
    assert res.json["greeting"] == "Hello " + "x" * 100


def test_greet_refuses_unknown_fields(admin):
    res = admin.post("/api/v1/hello/greet", {"name": "Ada", "shout": True})
    assert res.status_int == 400
    assert res.json["error"]["fields"] == {"shout": "is not a known field"}


def test_greet_is_post_only(admin):
    res = admin.get("/api/v1/hello/greet")
    assert res.status_int == 405


# ------------------------------------------------------------------ the channel


def test_presend_checks_pass_for_a_ready_campaign(channel, make_contact):
    campaign = Campaign({"greeting": "Hi"}, [make_contact(first_name="Ada")])
    assert channel.presend_checks(campaign) == []


def test_presend_checks_report_a_missing_greeting(channel):
    campaign = Campaign({}, [Person("Ada")])
    assert channel.presend_checks(campaign) == ["settings.greeting: Required"]


def test_presend_checks_report_an_over_long_greeting(channel):
    campaign = Campaign({"greeting": "x" * 201}, [Person("Ada")])
    assert channel.presend_checks(campaign) == ["settings.greeting: Longer than maximum length 200"]


def test_presend_checks_report_every_problem(channel):
    campaign = Campaign({"greeting": "  "}, [Person("Ada"), Person(), Person(last_name=" ")])
    assert channel.presend_checks(campaign) == [
        "settings.greeting: may not be blank",
        "recipient 2 has neither a name nor an email address",
        "recipient 3 has neither a name nor an email address",
    ]


def test_presend_checks_report_no_recipients(channel):
    assert channel.presend_checks(Campaign({"greeting": "Hi"})) == [
        "the campaign has no recipients"
    ]


def test_launch_greets_each_recipient(make_contact):
    channel = HelloChannel()
    ada = make_contact(first_name="Ada", last_name="Lovelace")
    nameless = make_contact(first_name=None, last_name=None, email="ops@example.com")
    campaign = Campaign({"greeting": "Good morning"}, [ada, nameless])

    lines = channel.launch(campaign)

    assert lines == ["Good morning Ada Lovelace", "Good morning ops@example.com"]
    assert channel.launched == lines


def test_launch_reads_recipients_once():
    channel = HelloChannel()
    campaign = Campaign({"greeting": "Hi"})
    campaign.recipients = (person for person in [Person("Ada"), Person("Grace")])
    assert channel.launch(campaign) == ["Hi Ada", "Hi Grace"]


def test_launches_accumulate():
    channel = HelloChannel()
    channel.launch(Campaign({"greeting": "Hi"}, [Person("Ada")]))
    channel.launch(Campaign({"greeting": "Bye"}, [Person("Grace")]))
    assert channel.launched == ["Hi Ada", "Bye Grace"]


def test_launch_refuses_an_unready_campaign():
    channel = HelloChannel()
    with pytest.raises(LaunchRefused) as refused:
        channel.launch(Campaign({}, [Person("Ada")]))
    assert refused.value.problems == ["settings.greeting: Required"]
    assert "settings.greeting: Required" in str(refused.value)
    assert channel.launched == []


def test_each_app_gets_its_own_channel(app):
    from pivotal_hello_channel import pivotal_channels

    assert pivotal_channels()[0] is not app.registry["pivotal.channels"]["hello"]


def test_settings_template_renders():
    source = (files("pivotal_hello_channel") / "templates" / "settings.jinja2").read_text()
    template = jinja2.Environment(autoescape=True).from_string(source)
    html = template.render(settings={"greeting": "<Hi>"}, errors={"greeting": "Required"})
    assert 'value="&lt;Hi&gt;"' in html
    assert 'aria-invalid="true"' in html
    assert "Required" in html
    assert HelloChannel.templates == {
        "campaign_settings": "pivotal_hello_channel:templates/settings.jinja2"
    }


def test_hello_page_in_the_staff_ui(web_login):
    admin = web_login("admin")
    page = admin.get("/hello")
    assert page.status_int == 200
    assert 'href="/hello"' in page.text  # the plugin's sidebar item links here
    res = admin.post("/hello", {"name": "Ada"})
    assert res.status_int == 200
    assert "Hello Ada" in res.html.select_one(".flash-success").text
    bad = admin.post("/hello", {"name": ""})
    assert bad.status_int == 400
    assert bad.html.select_one(".field-error") is not None
    assert web_login("agent").get("/hello").status_int == 403


def test_a_theme_template_overrides_the_plugin_template(app_settings, tmp_path):
    """Lookup order: the theme's templates, then plugins', then the core's."""
    import shutil

    from pyramid_jinja2 import IJinja2Environment

    from pivotal_core.app import make_app
    from pivotal_core.web.templating import themes_dir

    theme = tmp_path / "themes" / "custom"
    shutil.copytree(themes_dir({}) / "pivotal", theme, ignore=shutil.ignore_patterns("templates"))
    (theme / "templates" / "hello").mkdir(parents=True)
    (theme / "templates" / "hello" / "page.jinja2").write_text("<p>Themed hello</p>")
    settings = dict(app_settings)
    settings.update({"pivotal.theme": "custom", "pivotal.themes_dir": str(tmp_path / "themes")})
    env = make_app({}, settings).registry.getUtility(IJinja2Environment, name=".jinja2")
    themed, path, _ = env.loader.get_source(env, "hello/page.jinja2")
    assert themed == "<p>Themed hello</p>" and path.startswith(str(theme))
    # Templates the theme does not override still come from the plugin and the core.
    plain, path, _ = env.loader.get_source(env, "web/dashboard.jinja2")
    assert "Dashboard" in plain and "pivotal_core" in path
