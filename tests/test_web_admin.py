"""The staff UI's admin pages: users and roles, installed plugins, jobs with live progress."""

from __future__ import annotations

from importlib.metadata import version

import pytest
import webtest
from sqlalchemy import func, select

from pivotal_core.audit.models import AuditEvent
from pivotal_core.audit.services import field_changes
from pivotal_core.authnz.passwords import verify_password
from pivotal_core.authnz.permissions import Role
from pivotal_core.jobs.models import Job
from pivotal_core.plugins import describe_plugins
from pivotal_core.testing.fixtures import TEST_PASSWORD
from pivotal_core.users.models import User

PASSWORD_73_BYTES = "é" * 36 + "x"  # 37 characters, 73 bytes in UTF-8


def field_error(res, name: str) -> str:
    """The error message shown beside form field ``name`` (empty when there is none)."""
    control = res.html.find(attrs={"name": name, "id": f"f-{name}"})
    assert control is not None, f"no field {name} in the page"
    label = control.find_parent("label")
    error = label.find(class_="field-error") if label else None
    return error.get_text(" ", strip=True) if error else ""


def user_count(dbsession, email: str) -> int:
    return dbsession.scalar(select(func.count()).select_from(User).where(User.email == email))


def fresh(dbsession, user: User) -> User:
    dbsession.expire_all()
    return dbsession.get(User, user.id)


def new_user_form(**values: str) -> dict[str, str]:
    form = {
        "email": "new.person@example.com",
        "full_name": "New Person",
        "role": "agent",
        "organisation_id": "",
        "password": "a long enough password",
    }
    form.update(values)
    return form


def edit_form(user: User, **values: str) -> dict[str, str]:
    form = {
        "email": user.email,
        "full_name": user.full_name,
        "role": user.role,
        "organisation_id": str(user.organisation_id or ""),
        "is_active": "1",
    }
    form.update(values)
    return {k: v for k, v in form.items() if v is not None}


# -- users ------------------------------------------------------------------------------


def test_users_list_shows_each_user_with_role_state_and_dates(web_login, make_user, dbsession):
    admin = web_login(Role.ADMIN)
    agent = make_user(Role.AGENT, email="ada.agent@example.com", full_name="Ada Agent")
    res = admin.get("/users")
    assert res.status_int == 200
    row = res.html.find("tr", attrs={"data-id": str(agent.id)})
    assert row is not None
    cells = [td.get_text(" ", strip=True) for td in row.find_all("td")]
    assert "ada.agent@example.com" in cells
    assert "Ada Agent" in cells
    assert "agent" in cells
    assert "yes" in cells
    assert agent.created_at.strftime("%Y-%m-%d %H:%M") in cells
    assert row["data-href"] == f"/users/{agent.id}"
    assert "—" in cells  # never signed in
    # The admin signed in through the form: their last sign-in is shown.
    signed_in = fresh(dbsession, admin.user).last_login_at
    admin_row = res.html.find("tr", attrs={"data-id": str(admin.user.id)})
    assert signed_in.strftime("%Y-%m-%d %H:%M") in admin_row.get_text()

    filtered = admin.get("/users", params={"q": "ada.agent"})
    ids = [tr["data-id"] for tr in filtered.html.select("tbody tr[data-id]")]
    assert ids == [str(agent.id)]


def test_admin_creates_a_user_through_the_form(web_login, dbsession):
    admin = web_login(Role.ADMIN)
    form = admin.get("/users/new")
    assert form.status_int == 200
    assert form.html.find("select", attrs={"name": "role"}) is not None
    res = admin.post("/users/new", new_user_form(email="  New.Person@Example.com "))
    assert res.status_int == 303
    user = dbsession.scalars(select(User).where(User.email == "new.person@example.com")).one()
    assert res.headers["Location"].endswith(f"/users/{user.id}")
    assert (user.role, user.full_name, user.is_active) == ("agent", "New Person", True)
    assert verify_password("a long enough password", user.password_hash)
    events = dbsession.scalars(
        select(AuditEvent).where(AuditEvent.entity == "user", AuditEvent.entity_id == user.id)
    ).all()
    assert {n for e in events for n, _, _ in field_changes(e)} >= {"email", "role"}
    assert {(e.actor_id, e.source) for e in events} == {(admin.user.id, "ui")}
    page = res.follow()
    assert "Created user new.person@example.com" in page.text


def test_client_user_needs_an_organisation(web_login, dbsession):
    admin = web_login(Role.ADMIN)
    res = admin.post("/users/new", new_user_form(role="client", organisation_id=""))
    assert res.status_int == 400
    assert "required for client users" in field_error(res, "organisation_id")
    res = admin.post("/users/new", new_user_form(role="client", organisation_id="abc"))
    assert res.status_int == 400
    assert field_error(res, "organisation_id") == "must be a whole number"
    assert user_count(dbsession, "new.person@example.com") == 0
    res = admin.post("/users/new", new_user_form(role="client", organisation_id="7"))
    assert res.status_int == 303
    user = dbsession.scalars(select(User).where(User.email == "new.person@example.com")).one()
    assert (user.role, user.organisation_id) == ("client", 7)


def test_a_73_byte_password_is_refused_beside_the_field_and_nothing_is_saved(web_login, dbsession):
    admin = web_login(Role.ADMIN)
    assert len(PASSWORD_73_BYTES.encode()) == 73
    res = admin.post("/users/new", new_user_form(password=PASSWORD_73_BYTES))
    assert res.status_int == 400
    assert "longer than 72 bytes" in field_error(res, "password")
    assert field_error(res, "email") == ""
    # The form keeps what was typed, except the password.
    assert res.html.find("input", attrs={"name": "email"})["value"] == "new.person@example.com"
    assert res.html.find("input", attrs={"name": "password"})["value"] == ""
    assert user_count(dbsession, "new.person@example.com") == 0
    assert (
        dbsession.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.actor_id == admin.user.id)
        )
        == 0
    )


def test_a_duplicate_email_is_a_409_beside_the_email_field(web_login, make_user, dbsession):
    admin = web_login(Role.ADMIN)
    taken = make_user(Role.AGENT, email="taken@example.com")
    res = admin.post("/users/new", new_user_form(email="TAKEN@example.com"))
    assert res.status_int == 409
    assert field_error(res, "email") == f"is already used by user {taken.id}"
    assert user_count(dbsession, "taken@example.com") == 1

    other = make_user(Role.AGENT, email="other@example.com")
    res = admin.post(
        f"/users/{other.id}/edit", edit_form(other, email="taken@example.com", full_name="Changed")
    )
    assert res.status_int == 409
    assert field_error(res, "email") == f"is already used by user {taken.id}"
    other = fresh(dbsession, other)
    assert (other.email, other.full_name) == ("other@example.com", "")


def test_a_form_without_its_csrf_token_is_refused(web_login, make_user, dbsession):
    admin = web_login(Role.ADMIN)
    res = admin.post("/users/new", new_user_form(), csrf=False)
    assert res.status_int == 400
    assert user_count(dbsession, "new.person@example.com") == 0
    agent = make_user(Role.AGENT)
    res = admin.post(f"/users/{agent.id}/edit", edit_form(agent, role="admin"), csrf=False)
    assert res.status_int == 400
    res = admin.post(
        f"/users/{agent.id}/password", {"new_password": "another password!"}, csrf=False
    )
    assert res.status_int == 400
    agent = fresh(dbsession, agent)
    assert agent.role == "agent"
    assert verify_password(TEST_PASSWORD, agent.password_hash)


def test_editing_a_user_changes_role_and_revokes_their_tokens(web_login, login, dbsession):
    admin = web_login(Role.ADMIN)
    agent = login(Role.AGENT)
    assert agent.get("/api/v1/me").status_int == 200
    form = admin.get(f"/users/{agent.user.id}/edit")
    assert form.status_int == 200
    assert (
        form.html.find("select", attrs={"name": "role"}).find("option", selected=True)["value"]
        == "agent"
    )
    res = admin.post(
        f"/users/{agent.user.id}/edit",
        edit_form(agent.user, role="data_steward", full_name="Dee Steward"),
    )
    assert res.status_int == 303
    user = fresh(dbsession, agent.user)
    assert (user.role, user.full_name, user.is_active) == ("data_steward", "Dee Steward", True)
    # A demoted (or promoted) user's old token must not keep the old role's reach.
    assert agent.get("/api/v1/me").status_int == 401


def test_deactivation_asks_for_confirmation_then_revokes_the_api_token(web_login, login, dbsession):
    admin = web_login(Role.ADMIN)
    agent = login(Role.AGENT)
    assert agent.get("/api/v1/me").status_int == 200

    res = admin.post(
        f"/users/{agent.user.id}/edit",
        edit_form(agent.user, is_active=None, full_name="Leaving Soon"),
    )
    assert res.status_int == 200
    confirm = res.html.find(attrs={"data-confirm-deactivation": True})
    assert confirm is not None and "Deactivate" in confirm.get_text()
    assert confirm.find("input", attrs={"name": "confirm"})["value"] == "deactivate"
    user = fresh(dbsession, agent.user)
    assert (user.is_active, user.full_name) == (True, "")
    assert agent.get("/api/v1/me").status_int == 200

    hidden = {i["name"]: i.get("value", "") for i in confirm.find_all("input")}
    res = admin.post(
        f"/users/{agent.user.id}/edit", {k: v for k, v in hidden.items() if k != "csrf_token"}
    )
    assert res.status_int == 303
    user = fresh(dbsession, agent.user)
    assert (user.is_active, user.full_name) == (False, "Leaving Soon")
    assert agent.get("/api/v1/me").status_int == 401
    # Listed among the deactivated users, no longer among the active ones.
    active = admin.get("/users").html.find("tr", attrs={"data-id": str(user.id)})
    inactive = admin.get("/users?deleted=only").html.find("tr", attrs={"data-id": str(user.id)})
    assert active is None and inactive is not None


def test_a_deactivated_user_is_signed_out_of_the_web_ui(web_login, dbsession):
    admin = web_login(Role.ADMIN)
    manager = web_login(Role.MANAGER)
    assert manager.get("/users").status_int == 200
    res = admin.post(
        f"/users/{manager.user.id}/edit",
        edit_form(manager.user, is_active=None, confirm="deactivate"),
    )
    assert res.status_int == 303
    res = manager.get("/users")
    assert res.status_int == 302
    assert res.headers["Location"].split("?")[0].endswith("/login")


def test_admin_sets_a_password(web_login, login, dbsession):
    admin = web_login(Role.ADMIN)
    agent = login(Role.AGENT)
    res = admin.post(f"/users/{agent.user.id}/password", {"new_password": "brand new secret"})
    assert res.status_int == 303
    assert res.headers["Location"].endswith(f"/users/{agent.user.id}")
    assert verify_password("brand new secret", fresh(dbsession, agent.user).password_hash)
    assert agent.get("/api/v1/me").status_int == 401


def test_a_73_byte_new_password_is_refused_beside_the_field(web_login, make_user, dbsession):
    admin = web_login(Role.ADMIN)
    agent = make_user(Role.AGENT)
    before = (agent.password_hash, agent.token_version)
    res = admin.post(f"/users/{agent.id}/password", {"new_password": PASSWORD_73_BYTES})
    assert res.status_int == 400
    assert "longer than 72 bytes" in field_error(res, "new_password")
    assert "Nothing was saved" in res.text
    agent = fresh(dbsession, agent)
    assert (agent.password_hash, agent.token_version) == before
    res = admin.post(f"/users/{agent.id}/password", {"new_password": "short"})
    assert res.status_int == 400
    assert field_error(res, "new_password") == "must be at least 10 characters"


def test_user_detail_shows_their_recent_actions(web_login, make_user, dbsession):
    admin = web_login(Role.ADMIN)
    target = make_user(Role.AGENT)
    admin.post(f"/users/{target.id}/edit", edit_form(target, full_name="Renamed By Admin"))
    res = admin.get(f"/users/{admin.user.id}")
    assert res.status_int == 200
    activity = res.html.find("section", attrs={"aria-labelledby": "user-activity"})
    rows = activity.select("tbody tr")
    assert len(rows) == 1
    text = rows[0].get_text(" ", strip=True)
    assert f"user {target.id}" in text and "full_name" in text and "Renamed By Admin" in text
    assert rows[0].find("a")["href"] == f"/users/{target.id}"
    # The target's own page shows the change made to it, and by whom.
    history = admin.get(f"/users/{target.id}").html.find(
        "section", attrs={"aria-labelledby": "user-history"}
    )
    assert "Renamed By Admin" in history.get_text()
    assert admin.get("/users/999999999").status_int == 404


def test_roles_page_lists_every_role_with_its_permissions(app, web_login):
    manager = web_login(Role.MANAGER)
    res = manager.get("/users/roles")
    assert res.status_int == 200
    roles = app.registry["pivotal.role_permissions"]
    assert set(roles) == {r.value for r in Role}
    for role, permissions in roles.items():
        row = res.html.find("dd", attrs={"data-role": role})
        assert row is not None, role
        shown = {tag.get_text(strip=True) for tag in row.select(".tag")}
        assert shown == set(permissions), role
    # Plugins' permissions are there too (hello_channel grants hello:greet).
    assert "hello:greet" in {
        t.get_text(strip=True)
        for t in res.html.find("dd", attrs={"data-role": "admin"}).select(".tag")
    }
    # A manager reads users but may not change them.
    assert res.html.find("a", href="/users/new") is None
    assert manager.get("/users").html.find("a", href="/users/new") is None
    assert manager.get("/users/new").status_int == 403


# -- plugins ----------------------------------------------------------------------------


def test_plugins_page_lists_hello_channel_enabled_with_version_and_hooks(app, web_login):
    admin = web_login(Role.ADMIN)
    res = admin.get("/admin/plugins")
    assert res.status_int == 200
    card = res.html.find(attrs={"data-plugin": "hello_channel"})
    assert card is not None
    assert card["data-enabled"] == "true"
    assert card.select_one(".badge").get_text(strip=True) == "enabled"

    def shown(name: str) -> str:
        return card.find("dd", attrs={"data-field": name}).get_text(" ", strip=True)

    assert shown("distribution") == "pivotal-hello-channel"
    assert shown("version") == version("pivotal-hello-channel")
    hooks = {
        t.get_text(strip=True)
        for t in card.find("dd", attrs={"data-field": "hooks"}).select(".tag")
    }
    info = {p.name: p for p in describe_plugins(app.registry.pivotal_hooks, ["hello_channel"])}
    assert hooks == set(info["hello_channel"].hooks)
    assert {"pivotal_channels", "pivotal_configure", "pivotal_permissions"} <= hooks
    assert "pivotal.plugins" in res.html.find(attrs={"role": "note"}).get_text()
    assert res.html.select("main form") == []  # read-only: nothing to submit
    assert "Hello channel" in res.html.select_one("aside.sidebar").get_text()


def test_plugins_page_shows_an_installed_but_disabled_plugin(app_settings, session_factory, login):
    from pivotal_core.app import make_app

    bare = make_app({}, {**app_settings, "pivotal.plugins": ""})
    bare.registry["dbsession_factory"] = session_factory  # the test's transaction
    admin = login(Role.ADMIN)  # its token is signed with the secret both apps share
    res = webtest.TestApp(bare).get(
        "/admin/plugins", headers={"Authorization": f"Bearer {admin.token}"}
    )
    assert res.status_int == 200
    card = res.html.find(attrs={"data-plugin": "hello_channel"})
    assert card["data-enabled"] == "false"
    assert card.select_one(".badge").get_text(strip=True) == "disabled"
    assert "pivotal_channels" in card.get_text()
    assert "Hello channel" not in res.html.select_one("aside.sidebar").get_text()


def test_plugins_page_needs_plugins_read(web_login):
    assert web_login(Role.AGENT).get("/admin/plugins").status_int == 403
    assert web_login(Role.MANAGER).get("/admin/plugins").status_int == 200


# -- jobs -------------------------------------------------------------------------------


@pytest.fixture
def make_job(dbsession):
    def factory(**values) -> Job:
        values.setdefault("kind", "contacts.export")
        values.setdefault("status", "queued")
        values.setdefault("params", {})
        values.setdefault("progress_current", 0)
        job = Job(**values)
        dbsession.add(job)
        dbsession.commit()
        return job

    return factory


def test_jobs_page_shows_progress_and_refreshes_only_while_a_job_is_active(
    web_login, make_job, dbsession
):
    from pivotal_core.db import utcnow

    admin = web_login(Role.ADMIN)
    running = make_job(
        status="running",
        progress_current=3,
        progress_total=8,
        message="exporting",
        created_by_id=admin.user.id,
        started_at=utcnow(),
    )
    waiting = make_job(kind="segments.refresh")
    failed = make_job(
        status="failed", error="Traceback...\nValueError: bad row 12", finished_at=utcnow()
    )

    res = admin.get("/jobs")
    assert res.status_int == 200
    row = res.html.find("tr", attrs={"data-id": str(running.id)})
    bar = row.select_one(".progress .progress-bar")
    assert bar["style"] == "width: 37.5%"
    assert "indeterminate" not in row.select_one(".progress")["class"]
    assert row.select_one(".badge").get_text(strip=True) == "running"
    assert "exporting" in row.get_text()
    assert admin.user.email in row.get_text()
    assert row["data-href"] == f"/jobs/{running.id}"

    row = res.html.find("tr", attrs={"data-id": str(waiting.id)})
    assert "indeterminate" in row.select_one(".progress")["class"]

    row = res.html.find("tr", attrs={"data-id": str(failed.id)})
    assert row.select_one(".badge").get_text(strip=True) == "failed"
    assert "ValueError: bad row 12" in row.get_text()

    body = res.html.find("tbody", id="job-rows")
    assert body["hx-get"] == "/jobs/rows"
    assert body["hx-trigger"] == "every 1s"
    assert body["hx-swap"] == "outerHTML"

    partial = admin.get("/jobs/rows")
    assert partial.status_int == 200
    assert partial.text.lstrip().startswith("<tbody")
    assert "<html" not in partial.text
    assert {tr["data-id"] for tr in partial.html.select("tr[data-id]")} == {
        str(running.id),
        str(waiting.id),
        str(failed.id),
    }

    # The job finishes: the next poll answers rows without a trigger, so polling stops.
    for job in (running, waiting):
        job.status = "succeeded"
        job.progress_current = job.progress_total or 0
        job.finished_at = utcnow()
    dbsession.commit()
    partial = admin.get("/jobs/rows")
    body = partial.html.find("tbody")
    assert body.get("hx-trigger") is None
    bar = body.find("tr", attrs={"data-id": str(running.id)}).select_one(".progress-bar")
    assert bar["style"] == "width: 100%"

    only_failed = admin.get("/jobs", params={"status": "failed"})
    assert [tr["data-id"] for tr in only_failed.html.select("tbody tr[data-id]")] == [
        str(failed.id)
    ]


def test_job_detail_shows_params_result_and_error(web_login, make_job):
    admin = web_login(Role.DATA_STEWARD)
    job = make_job(
        status="failed",
        params={"list_id": 42},
        result={"rows": 7},
        error="Traceback (most recent call last):\nRuntimeError: disk full",
        attempts=3,
    )
    res = admin.get(f"/jobs/{job.id}")
    assert res.status_int == 200
    text = res.html.get_text(" ")
    assert '"list_id": 42' in text
    assert '"rows": 7' in text
    assert "RuntimeError: disk full" in res.html.find("pre", class_="error").get_text()
    assert res.html.find(id="job-detail").get("hx-trigger") is None
    assert admin.get("/jobs/999999999").status_int == 404

    active = make_job(status="running")
    detail = admin.get(f"/jobs/{active.id}").html.find(id="job-detail")
    assert detail["hx-trigger"] == "every 1s"
    assert detail["hx-select"] == "#job-detail"


# -- access -----------------------------------------------------------------------------


STAFF_ONLY = [
    ("GET", "/users"),
    ("GET", "/users/roles"),
    ("GET", "/users/new"),
    ("POST", "/users/new"),
    ("GET", "/users/{id}"),
    ("GET", "/users/{id}/edit"),
    ("POST", "/users/{id}/edit"),
    ("POST", "/users/{id}/password"),
    ("GET", "/admin/plugins"),
    ("GET", "/jobs"),
    ("GET", "/jobs/rows"),
    ("GET", "/jobs/{job}"),
]


def test_a_client_user_gets_403_on_every_staff_page(web_login, make_user, make_job, dbsession):
    client = web_login(Role.CLIENT)
    other = make_user(Role.AGENT)
    job = make_job()
    for method, pattern in STAFF_ONLY:
        url = pattern.format(id=other.id, job=job.id)
        if method == "GET":
            res = client.get(url)
        else:
            res = client.post(
                url,
                {
                    "email": "x@example.com",
                    "role": "admin",
                    "new_password": "another password",
                    "is_active": "1",
                },
            )
        assert res.status_int == 403, (method, url, res.status_int)
        assert "Not allowed" in res.text
    other = fresh(dbsession, other)
    assert (other.email, other.role) != ("x@example.com", "admin")
    assert verify_password(TEST_PASSWORD, other.password_hash)


def test_an_agent_may_not_read_users_or_jobs(web_login):
    agent = web_login(Role.AGENT)
    for url in ("/users", "/users/roles", "/jobs", "/jobs/rows"):
        assert agent.get(url).status_int == 403, url


def test_sidebar_links_to_the_admin_pages_by_permission(web_login):
    admin = web_login(Role.ADMIN)
    links = {a["href"] for a in admin.get("/jobs").html.select("nav a.nav-item")}
    assert {"/jobs", "/users", "/admin/plugins"} <= links
    agent = web_login(Role.AGENT)
    page = agent.get("/jobs")  # the 403 page keeps the sidebar
    links = {a["href"] for a in page.html.select("nav a.nav-item")}
    assert links and not {"/jobs", "/users", "/admin/plugins"} & links


def test_dashboard_groups_the_fields_of_one_change(web_login, make_contact):
    client = web_login("admin")
    contact = make_contact(first_name="Dana", last_name="Ames", title="CTO")
    page = client.get("/")
    assert page.status_int == 200
    lines = [li for li in page.html.select(".timeline li") if f"contact {contact.id}" in li.text]
    # The fixture writes all fields of the creation in one change: one line lists them.
    assert len(lines) == 1
    assert "first_name" in lines[0].text and "last_name" in lines[0].text
