"""The staff UI's bulk toolbar on the contacts and accounts lists: the actions a role may
use, each with a confirmation that shows the count; update a field, tag, untag, add to and
remove from a list through the same service as the API; errors shown and nothing kept;
big selections run as a job whose page shows the progress."""

from __future__ import annotations

from typing import Any

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import select

from pivotal_core.accounts.models import Account
from pivotal_core.audience import bulk
from pivotal_core.audience.models import ListMember
from pivotal_core.audit.models import AuditEvent
from pivotal_core.authnz.permissions import Role
from pivotal_core.contacts.models import Contact
from pivotal_core.jobs.models import Job


def html(res) -> BeautifulSoup:
    return BeautifulSoup(res.text, "html.parser")


def reload(session, model, record_id: int) -> Any:
    session.expire_all()
    return session.scalars(
        select(model).where(model.id == record_id).execution_options(include_deleted=True)
    ).one()


def toolbar(res) -> dict[str, Any]:
    """The bulk bar's forms by their button's label."""
    forms = html(res).select(".bulk-bar form[data-bulk-form]")
    return {form.select_one("button[type=submit]").get_text(strip=True): form for form in forms}


def flash(res, kind: str) -> str:
    found = html(res).select_one(f".flash-{kind}")
    return found.get_text(" ", strip=True) if found else ""


def submit(client, listing, label: str, **fields: str):
    """Submit the toolbar form ``label`` of ``listing`` as the browser would after
    table.js filled in the selection."""
    form = toolbar(listing)[label]
    data = {i["name"]: i.get("value", "") for i in form.select("input[type=hidden]")}
    data.update(fields)
    return client.post(form["action"], data)


@pytest.fixture
def crowd(make_account, make_contact):
    acme = make_account(name="Acme", domain="acme.com")
    return {
        "acme": acme,
        "ada": make_contact(first_name="Ada", last_name="Toolbar", email="ada@acme.com"),
        "bob": make_contact(first_name="Bob", last_name="Toolbar", email="bob@acme.com"),
        "cy": make_contact(first_name="Cy", last_name="Toolbox", email="cy@tiny.io"),
    }


@pytest.mark.parametrize(
    ("role", "labels"),
    [
        (
            Role.ADMIN,
            [
                "Export CSV",
                "Add to list",
                "Remove from list",
                "Update field",
                "Tag",
                "Untag",
                "Delete",
            ],
        ),
        (Role.DATA_STEWARD, ["Export CSV", "Update field", "Tag", "Untag", "Delete"]),
        (Role.CAMPAIGN_MANAGER, ["Export CSV", "Add to list", "Remove from list"]),
        (Role.AGENT, ["Export CSV"]),
    ],
)
def test_the_toolbar_offers_what_the_role_may_do(web_login, crowd, role, labels):
    listing = web_login(role).get("/contacts")
    forms = toolbar(listing)
    assert list(forms) == labels
    for label, form in forms.items():
        if label != "Export CSV":
            assert "{count}" in form["data-confirm"], label
    if "Update field" in forms:
        offered = [o["value"] for o in forms["Update field"].select("select[name=field] option")]
        assert "title" in offered and "tags" in offered
        assert "email" not in offered  # one contact's own


def test_update_field_through_the_toolbar(web_login, crowd, dbsession):
    client = web_login(Role.DATA_STEWARD)
    ada, bob = crowd["ada"], crowd["bob"]
    listing = client.get("/contacts?q=toolbar")
    res = submit(
        client, listing, "Update field", ids=f"{ada.id},{bob.id}", field="seniority", value="VP"
    )
    assert res.status_int == 303
    assert res.headers["Location"].endswith("/contacts?q=toolbar")
    assert flash(res.follow(), "success") == "Updated 2 contacts"
    assert reload(dbsession, Contact, ada.id).seniority == "vp"
    events = dbsession.scalars(select(AuditEvent).where(AuditEvent.field == "seniority")).all()
    assert {(e.entity_id, e.source, e.actor_id) for e in events} == {
        (ada.id, "bulk", client.user.id),
        (bob.id, "bulk", client.user.id),
    }
    # An empty value clears the field.
    cleared = submit(client, listing, "Update field", ids=str(ada.id), field="seniority", value="")
    assert flash(cleared.follow(), "success") == "Updated 1 contact"
    assert reload(dbsession, Contact, ada.id).seniority is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("seniority", "boss", "seniority: must be one of"),
        ("email", "x@example.com", "choose a field to change"),
        ("phone", "12", "phone"),
    ],
)
def test_bad_values_are_shown_and_nothing_changes(
    web_login, crowd, dbsession, field, value, message
):
    client = web_login(Role.ADMIN)
    before = dbsession.scalars(select(AuditEvent.id)).all()
    listing = client.get("/contacts")
    res = submit(
        client, listing, "Update field", ids=str(crowd["ada"].id), field=field, value=value
    )
    assert res.status_int == 303
    assert message in flash(res.follow(), "error")
    assert dbsession.scalars(select(AuditEvent.id)).all() == before


def test_tag_all_matching_less_exclusions_then_untag(web_login, crowd, dbsession):
    client = web_login(Role.ADMIN)
    listing = client.get("/contacts?q=toolb")
    res = submit(
        client, listing, "Tag", all_matching="1", exclude=str(crowd["bob"].id), tags="Q3, vip"
    )
    assert flash(res.follow(), "success") == "Tagged 2 contacts"
    assert reload(dbsession, Contact, crowd["ada"].id).tags == ["q3", "vip"]
    assert reload(dbsession, Contact, crowd["cy"].id).tags == ["q3", "vip"]
    assert reload(dbsession, Contact, crowd["bob"].id).tags == []
    res = submit(client, listing, "Untag", all_matching="1", tags="vip")
    assert flash(res.follow(), "success") == "Untagged 2 contacts; 1 already as asked"
    assert reload(dbsession, Contact, crowd["ada"].id).tags == ["q3"]
    empty = submit(client, listing, "Tag", ids=str(crowd["ada"].id), tags=" , ")
    assert "tags: give at least one tag" in flash(empty.follow(), "error")


def test_add_to_and_remove_from_a_list(web_login, admin, crowd, dbsession):
    created = admin.post(
        "/api/v1/lists",
        {"name": "Toolbar list", "entityType": "contact", "visibilityScope": "global"},
    ).json
    admin.post(
        "/api/v1/lists",
        {"name": "Accounts only", "entityType": "account", "visibilityScope": "global"},
    )
    client = web_login(Role.CAMPAIGN_MANAGER)
    listing = client.get("/contacts")
    options = toolbar(listing)["Add to list"].select("select[name=list_id] option")
    assert [o.get_text() for o in options] == ["Toolbar list (0)"]  # contact lists only
    res = submit(client, listing, "Add to list", all_matching="1", list_id=str(created["id"]))
    assert flash(res.follow(), "success") == "Added 3 contacts"
    members = dbsession.scalars(
        select(ListMember.record_id).where(ListMember.list_id == created["id"])
    ).all()
    assert sorted(members) == sorted(c.id for k, c in crowd.items() if k != "acme")
    res = submit(
        client, listing, "Remove from list", ids=str(crowd["ada"].id), list_id=str(created["id"])
    )
    assert flash(res.follow(), "success") == "Removed 1 contact"
    missing = submit(client, listing, "Add to list", ids=str(crowd["ada"].id), list_id="")
    assert "list_id: choose a list" in flash(missing.follow(), "error")


def test_accounts_toolbar_updates_and_deletes(web_login, make_account, dbsession):
    client = web_login(Role.ADMIN)
    first, second = make_account(name="Tool One"), make_account(name="Tool Two")
    listing = client.get("/accounts?q=tool")
    assert "domain" not in [
        o["value"] for o in toolbar(listing)["Update field"].select("select[name=field] option")
    ]
    res = submit(
        client, listing, "Update field", all_matching="1", field="industry", value="Robotics"
    )
    assert flash(res.follow(), "success") == "Updated 2 accounts"
    assert reload(dbsession, Account, second.id).industry == "Robotics"
    res = submit(client, listing, "Delete", ids=str(first.id))
    assert flash(res.follow(), "success") == "Deleted 1 account"
    assert reload(dbsession, Account, first.id).deleted_at is not None
    deleted_view = client.get("/accounts?deleted=only")
    assert list(toolbar(deleted_view)) == ["Export CSV", "Restore"]
    res = submit(client, deleted_view, "Restore", all_matching="1")
    assert flash(res.follow(), "success") == "Restored 1 account"


def test_big_selections_run_as_a_job_whose_page_shows_progress(
    web_login, crowd, dbsession, monkeypatch
):
    monkeypatch.setattr(bulk, "INLINE_LIMIT", 1)
    client = web_login(Role.ADMIN)
    listing = client.get("/contacts")
    res = submit(client, listing, "Tag", all_matching="1", tags="big")
    job = dbsession.scalars(select(Job)).one()
    assert res.headers["Location"].endswith(f"/jobs/{job.id}")
    page = res.follow()
    assert "Tagging 3 contacts in the background" in flash(page, "info")
    assert job.kind == "bulk.contacts.tag"
    assert "Tagged 3 contacts" in page.text  # the job's message, on its page
    assert reload(dbsession, Contact, crowd["cy"].id).tags == ["big"]


def test_roles_without_the_permission_are_refused(web_login, crowd, dbsession):
    agent = web_login(Role.AGENT)
    for path, data in (
        (
            "/contacts/update-selected",
            {"ids": str(crowd["ada"].id), "field": "title", "value": "x"},
        ),
        ("/contacts/tag-selected", {"ids": str(crowd["ada"].id), "tags": "x"}),
        ("/contacts/add-selected-to-list", {"ids": str(crowd["ada"].id), "list_id": "1"}),
    ):
        assert agent.post(path, data).status_int == 403, path
    assert reload(dbsession, Contact, crowd["ada"].id).title is None
