"""Bulk operations over the API (``/api/v1/bulk/{contacts|accounts}/{action}``): selections
by ids, filter, quick filter, list and segment with exclusions; update fields through the
record API's cleaners, tag, untag, add to and remove from lists, delete and restore; their
permissions, audit events (source ``bulk``), provenance, bad input naming the field, and
the job above the inline limit."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from test_audience_api import error_fields, group, rule  # the audience API's helpers

from pivotal_core import hookimpl
from pivotal_core.accounts.models import Account
from pivotal_core.audience import bulk
from pivotal_core.audience.models import ListMember
from pivotal_core.audit.models import AuditEvent
from pivotal_core.authnz.permissions import Role
from pivotal_core.contacts.models import Contact
from pivotal_core.jobs.models import Job
from pivotal_core.normalize import company_match_key

API = "/api/v1/bulk"


def reload(session, model, record_id: int) -> Any:
    session.expire_all()
    return session.scalars(
        select(model).where(model.id == record_id).execution_options(include_deleted=True)
    ).one()


def audit_count(session) -> int:
    """Audit events of records (signing users in writes events of its own)."""
    stmt = select(func.count()).select_from(AuditEvent)
    return session.scalar(stmt.where(AuditEvent.entity.in_(("contact", "account", "list"))))


def events(session, entity: str, field: str | None = None) -> list[AuditEvent]:
    stmt = select(AuditEvent).where(AuditEvent.entity == entity, AuditEvent.source == "bulk")
    if field is not None:
        stmt = stmt.where(AuditEvent.field == field)
    return list(session.scalars(stmt.order_by(AuditEvent.id)))


@pytest.fixture
def people(make_account, make_contact):
    acme = make_account(name="Acme", domain="acme.com", industry="Software")
    return {
        "acme": acme,
        "ada": make_contact(
            first_name="Ada", last_name="Bulkley", email="ada@acme.com", tags=["vip"]
        ),
        "bob": make_contact(first_name="Bob", last_name="Bulkley", email="bob@acme.com"),
        "cy": make_contact(first_name="Cy", last_name="Bulkman", email="cy@tiny.io", country="DE"),
        "di": make_contact(first_name="Di", last_name="Other", email="di@nowhere.org"),
    }


def new_list(client, name: str, entity: str = "contact", **extra: Any) -> dict[str, Any]:
    res = client.post("/api/v1/lists", {"name": name, "entityType": entity, **extra})
    assert res.status_int == 201, res.text
    return res.json


# --------------------------------------------------------------------------- update


def test_update_by_ids_writes_fields_audit_and_manual_provenance(admin, people, dbsession):
    ada, bob, di = people["ada"], people["bob"], people["di"]
    res = admin.post(
        f"{API}/contacts/update",
        {
            "selection": {"recordIds": [ada.id, bob.id]},
            "values": {"title": "  Chief Technology Officer ", "seniority": "VP", "city": None},
        },
    )
    assert res.status_int == 200, res.text
    body = res.json
    assert body["status"] == "done" and body["job"] is None
    assert (body["action"], body["entity"], body["total"]) == ("update", "contact", 2)
    assert (body["changed"], body["unchanged"], body["refused"], body["notFound"]) == (2, 0, 0, 0)
    for contact in (ada, bob):
        again = reload(dbsession, Contact, contact.id)
        assert (again.title, again.seniority) == ("Chief Technology Officer", "vp")
        entry = again.field_provenance["title"]
        # A bulk edit is a person's edit: imports leave the value alone.
        assert entry["source"] == "bulk" and entry["manual"] is True
        assert entry["actor_id"] == admin.user.id
    assert reload(dbsession, Contact, di.id).title is None
    written = events(dbsession, "contact")
    # One event per changed field (the city was empty already: no event).
    assert sorted((e.entity_id, e.field) for e in written) == sorted(
        (c.id, f) for c in (ada, bob) for f in ("seniority", "title")
    )
    assert {(e.action, e.actor_id, e.job_id) for e in written} == {("update", admin.user.id, None)}
    assert all(e.request_id for e in written)

    # The same again changes nothing and writes nothing.
    before = audit_count(dbsession)
    again = admin.post(
        f"{API}/contacts/update",
        {"selection": {"recordIds": [ada.id, bob.id]}, "values": {"seniority": "vp"}},
    )
    assert (again.json["changed"], again.json["unchanged"]) == (0, 2)
    assert audit_count(dbsession) == before


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"seniority": "boss"}, "values.seniority", "must be one of"),
        ({"shoe_size": 44}, "values.shoe_size", "is not a known field"),
        ({"phone": "not a phone"}, "values.phone", "phone"),
        ({"email": "x@example.com"}, "values.email", "belongs to one contact"),
        ({"account_id": 999_999}, "values.account_id", "does not exist"),
        ({"custom_fields": {"nope": 1}}, "values.custom_fields.nope", "not a defined"),
        ({"title": 5}, "values.title", ""),
        ({}, "values", "at least one field"),
    ],
)
def test_update_refuses_bad_values_naming_the_field(
    admin, people, dbsession, values, field, message
):
    before = audit_count(dbsession)
    res = admin.post(
        f"{API}/contacts/update",
        {"selection": {"recordIds": [people["ada"].id]}, "values": values},
    )
    fields = error_fields(res)
    assert field in fields, fields
    assert message in fields[field]
    assert audit_count(dbsession) == before


def test_update_of_a_record_that_would_break_its_rule_is_refused_alone(
    admin, make_contact, dbsession
):
    nameless = make_contact(first_name=None, last_name="Solo", email=None)
    named = make_contact(first_name="Kim", last_name="Duo", email=None)
    res = admin.post(
        f"{API}/contacts/update",
        {"selection": {"recordIds": [nameless.id, named.id]}, "values": {"last_name": None}},
    )
    assert res.status_int == 200, res.text
    assert (res.json["changed"], res.json["refused"]) == (1, 1)
    assert "an email or a name is required" in res.json["refusedIds"][str(nameless.id)]
    assert reload(dbsession, Contact, nameless.id).last_name == "Solo"
    assert reload(dbsession, Contact, named.id).last_name is None


def test_a_role_without_write_is_refused_and_nothing_changes(login, people, dbsession):
    before = audit_count(dbsession)
    for role in (Role.CAMPAIGN_MANAGER, Role.AGENT, Role.QA_REVIEWER):
        client = login(role)
        res = client.post(
            f"{API}/contacts/update",
            {"selection": {"all": True}, "values": {"title": "Hacked"}},
        )
        assert res.status_int == 403, (role, res.text)
        assert res.json["error"]["code"] == "forbidden"
        for path, body in (("tag", {"tags": ["x"]}), ("delete", {})):
            refused = client.post(f"{API}/contacts/{path}", {"selection": {"all": True}, **body})
            assert refused.status_int == 403, (role, path)
    assert audit_count(dbsession) == before
    assert reload(dbsession, Contact, people["ada"].id).title is None


def test_update_accounts_derives_the_name_key_and_refuses_cycles(admin, make_account, dbsession):
    parent = make_account(name="Parent Co")
    child = make_account(name="Child Co", parent_id=parent.id)
    other = make_account(name="Other Co")
    res = admin.post(
        f"{API}/accounts/update",
        {"selection": {"recordIds": [parent.id, other.id]}, "values": {"parent_id": child.id}},
    )
    assert res.status_int == 200, res.text
    assert (res.json["changed"], res.json["refused"]) == (1, 1)
    assert "descendant" in res.json["refusedIds"][str(parent.id)]
    assert reload(dbsession, Account, other.id).parent_id == child.id
    renamed = admin.post(
        f"{API}/accounts/update",
        {"selection": {"recordIds": [other.id]}, "values": {"name": "  Globex  Inc. "}},
    )
    assert renamed.json["changed"] == 1
    again = reload(dbsession, Account, other.id)
    assert (again.name, again.name_key) == ("Globex Inc.", company_match_key("Globex Inc."))
    assert {e.field for e in events(dbsession, "account")} == {"parent_id", "name"}
    refused = admin.post(
        f"{API}/accounts/update",
        {"selection": {"recordIds": [other.id]}, "values": {"domain": "x.com"}},
    )
    assert "belongs to one account" in error_fields(refused)["values.domain"]


# --------------------------------------------------------------------------- selections


def test_filter_selection_with_exclusions(admin, people, dbsession):
    ada, bob, cy = people["ada"], people["bob"], people["cy"]
    selection = {
        "filter": group("and", rule("contact.last_name", "starts_with", "bulk")),
        "exclude": [bob.id],
    }
    res = admin.post(f"{API}/contacts/tag", {"selection": selection, "tags": ["Q3", "vip"]})
    assert res.status_int == 200, res.text
    assert (res.json["total"], res.json["changed"]) == (2, 2)
    assert reload(dbsession, Contact, ada.id).tags == ["q3", "vip"]
    assert reload(dbsession, Contact, cy.id).tags == ["q3", "vip"]
    assert reload(dbsession, Contact, bob.id).tags == []
    assert reload(dbsession, Contact, people["di"].id).tags == []
    tags = events(dbsession, "contact", "tags")
    assert {(e.entity_id, tuple(e.old_value), tuple(e.new_value)) for e in tags} == {
        (ada.id, ("vip",), ("q3", "vip")),
        (cy.id, (), ("q3", "vip")),
    }

    untagged = admin.post(
        f"{API}/contacts/untag", {"selection": {"all": True, "q": "bulk"}, "tags": ["VIP"]}
    )
    assert (untagged.json["total"], untagged.json["changed"], untagged.json["unchanged"]) == (
        3,
        2,
        1,
    )
    assert reload(dbsession, Contact, ada.id).tags == ["q3"]


def test_quick_filter_selection_follows_the_list_page(admin, people, make_contact, dbsession):
    acme = people["acme"]
    elsewhere = make_contact(last_name="Elsewhere", email="e@elsewhere.org")
    res = admin.post(
        f"{API}/contacts/update",
        {"selection": {"q": f"account:{acme.id}"}, "values": {"department": "Sales"}},
    )
    assert res.json["total"] == 2  # ada and bob, at acme.com
    assert reload(dbsession, Contact, people["ada"].id).department == "Sales"
    assert reload(dbsession, Contact, elsewhere.id).department is None


@pytest.mark.parametrize(
    ("selection", "field", "message"),
    [
        ({"recordIds": []}, "selection.recordIds", "at least one"),
        ({}, "selection", "give recordIds"),
        ({"recordIds": [1], "all": True}, "selection", "not both"),
        (
            {"filter": group("and", rule("contact.nope", "equals", "x"))},
            "selection.filter.rules[0].field",
            "not a known field",
        ),
        (
            {"filter": group("and", rule("contact.country", "equals", "XX"))},
            "selection.filter.rules[0].value",
            "must be one of",
        ),
        ({"listId": 999_999}, "selection.listId", "no list with id 999999"),
        ({"segmentId": 999_999}, "selection.segmentId", "no segment"),
        ({"all": True, "surprise": 1}, "selection", ""),
        ({"recordIds": list(range(1, bulk.MAX_IDS + 2))}, "selection.recordIds", "at most"),
    ],
)
def test_bad_selections_name_their_part(admin, people, selection, field, message):
    res = admin.post(f"{API}/contacts/tag", {"selection": selection, "tags": ["x"]})
    fields = error_fields(res)
    assert field in fields, fields
    assert message in fields[field]


def test_unknown_ids_are_reported_and_an_empty_filter_changes_nothing(admin, people):
    ada = people["ada"]
    res = admin.post(
        f"{API}/contacts/tag",
        {"selection": {"recordIds": [ada.id, 999_999, ada.id]}, "tags": ["x"]},
    )
    assert res.status_int == 200, res.text
    assert (res.json["total"], res.json["changed"]) == (1, 1)
    assert (res.json["notFound"], res.json["notFoundIds"]) == (1, [999_999])
    nothing = admin.post(
        f"{API}/contacts/tag",
        {
            "selection": {"filter": group("and", rule("contact.first_name", "equals", "Nobody"))},
            "tags": ["x"],
        },
    )
    assert nothing.status_int == 200
    assert (nothing.json["total"], nothing.json["changed"]) == (0, 0)


def test_only_export_and_restore_act_on_deleted_records(admin, people):
    res = admin.post(
        f"{API}/contacts/update",
        {"selection": {"all": True, "deleted": True}, "values": {"title": "x"}},
    )
    assert "only export and restore" in error_fields(res)["selection.deleted"]


# --------------------------------------------------------------------------- lists


def test_add_and_remove_from_a_list_with_scopes(admin, people, dbsession):
    target = new_list(admin, "Bulk targets")
    res = admin.post(
        f"{API}/contacts/add-to-list",
        {"selection": {"q": "bulk", "exclude": [people["cy"].id]}, "listId": target["id"]},
    )
    assert res.status_int == 200, res.text
    assert (res.json["changed"], res.json["unchanged"]) == (2, 0)
    again = admin.post(
        f"{API}/contacts/add-to-list", {"selection": {"q": "bulk"}, "listId": target["id"]}
    )
    assert (again.json["total"], again.json["changed"], again.json["unchanged"]) == (3, 1, 2)
    members = set(
        dbsession.scalars(select(ListMember.record_id).where(ListMember.list_id == target["id"]))
    )
    assert members == {people[n].id for n in ("ada", "bob", "cy")}
    # The list's members as a selection: tag them all.
    tagged = admin.post(
        f"{API}/contacts/tag", {"selection": {"listId": target["id"]}, "tags": ["listed"]}
    )
    assert tagged.json["changed"] == 3
    assert reload(dbsession, Contact, people["di"].id).tags == []
    removed = admin.post(
        f"{API}/contacts/remove-from-list",
        {"selection": {"recordIds": [people["ada"].id, people["di"].id]}, "listId": target["id"]},
    )
    assert (removed.json["changed"], removed.json["unchanged"]) == (1, 1)
    detail = admin.get(f"/api/v1/lists/{target['id']}").json
    assert detail["memberCount"] == 2
    # The list's own trail says what changed, by selection.
    trail = dbsession.scalars(
        select(AuditEvent.new_value)
        .where(
            AuditEvent.entity == "list",
            AuditEvent.entity_id == target["id"],
            AuditEvent.field == "members",
        )
        .order_by(AuditEvent.id)
    ).all()
    assert trail == [
        {"added": 2, "by": "selection"},
        {"added": 1, "by": "selection"},
        {"removed": 1, "by": "selection"},
    ]


def test_list_actions_refuse_wrong_lists_and_roles(login, admin, people, dbsession):
    accounts_list = new_list(admin, "Accounts", "account")
    res = admin.post(
        f"{API}/contacts/add-to-list", {"selection": {"all": True}, "listId": accounts_list["id"]}
    )
    assert "holds accounts, not contacts" in error_fields(res)["listId"]
    private = new_list(login(Role.MANAGER), "Someone else's")
    hidden = admin.post(
        f"{API}/contacts/add-to-list", {"selection": {"all": True}, "listId": private["id"]}
    )
    assert "no list with id" in error_fields(hidden)["listId"]
    # Changing a list takes audience:write; data stewards read audiences only.
    steward = login(Role.DATA_STEWARD)
    mine = new_list(admin, "Team list", visibilityScope="global")
    refused = steward.post(
        f"{API}/contacts/add-to-list", {"selection": {"all": True}, "listId": mine["id"]}
    )
    assert refused.status_int == 403
    # Campaign managers may: they read contacts and write audiences.
    manager = login(Role.CAMPAIGN_MANAGER)
    allowed = manager.post(
        f"{API}/contacts/add-to-list", {"selection": {"all": True}, "listId": mine["id"]}
    )
    assert allowed.status_int == 200, allowed.text
    assert allowed.json["changed"] == 4


def test_segment_selection_uses_its_current_members(admin, people, make_contact, dbsession):
    segment = admin.post(
        "/api/v1/segments",
        {
            "name": "Germans",
            "entityType": "contact",
            "definition": group("and", rule("contact.country", "equals", "DE")),
        },
    ).json
    late = make_contact(last_name="Late", country="DE")
    res = admin.post(
        f"{API}/contacts/tag", {"selection": {"segmentId": segment["id"]}, "tags": ["de"]}
    )
    assert res.json["changed"] == 2
    assert reload(dbsession, Contact, late.id).tags == ["de"]
    assert reload(dbsession, Contact, people["ada"].id).tags == ["vip"]


# --------------------------------------------------------------------------- delete, restore


def test_delete_and_restore_with_conflicts(admin, people, make_contact, dbsession):
    ada, bob = people["ada"], people["bob"]
    res = admin.post(f"{API}/contacts/delete", {"selection": {"recordIds": [ada.id, bob.id]}})
    assert res.json["changed"] == 2
    assert reload(dbsession, Contact, ada.id).deleted_at is not None
    # Deleting again: they are no longer live records, so not found.
    again = admin.post(f"{API}/contacts/delete", {"selection": {"recordIds": [ada.id]}})
    assert (again.json["total"], again.json["notFound"]) == (0, 1)
    usurper = make_contact(first_name="New", email="bob@acme.com")
    restored = admin.post(f"{API}/contacts/restore", {"selection": {"all": True}})
    assert (restored.json["total"], restored.json["changed"], restored.json["refused"]) == (2, 1, 1)
    assert f"now belongs to contact {usurper.id}" in restored.json["refusedIds"][str(bob.id)]
    assert reload(dbsession, Contact, ada.id).deleted_at is None
    assert reload(dbsession, Contact, bob.id).deleted_at is not None
    trail = [(e.entity_id, e.action) for e in events(dbsession, "contact", "deleted_at")]
    assert trail == [(ada.id, "delete"), (bob.id, "delete"), (ada.id, "restore")]


def test_delete_needs_the_delete_permission(login, people, dbsession):
    manager = login(Role.CAMPAIGN_MANAGER)
    res = manager.post(f"{API}/contacts/delete", {"selection": {"all": True}})
    assert res.status_int == 403
    assert reload(dbsession, Contact, people["ada"].id).deleted_at is None


# --------------------------------------------------------------------------- jobs


def test_above_the_inline_limit_it_runs_as_a_job(admin, people, dbsession, monkeypatch):
    monkeypatch.setattr(bulk, "INLINE_LIMIT", 2)
    res = admin.post(
        f"{API}/contacts/update",
        {"selection": {"q": "bulk"}, "values": {"department": "Research"}},
    )
    assert res.status_int == 202, res.text
    job = res.json["job"]
    assert res.json["status"] == "queued" and res.json["total"] == 3
    assert res.headers["Location"].endswith(f"/api/v1/jobs/{job['id']}")
    assert job["kind"] == "bulk.contacts.update" and job["progress_total"] == 3
    # The test queue runs the job as soon as the request's transaction commits.
    done = admin.get(f"/api/v1/jobs/{job['id']}").json
    assert done["status"] == "succeeded", done["error"]
    assert (done["progress_current"], done["percent"]) == (3, 100.0)
    assert done["result"]["changed"] == 3
    assert done["message"] == "Updated 3 contacts"
    written = events(dbsession, "contact", "department")
    assert {(e.job_id, e.actor_id) for e in written} == {(job["id"], admin.user.id)}
    assert len(written) == 3
    assert (
        reload(dbsession, Contact, people["ada"].id).field_provenance["department"]["job_id"]
        == job["id"]
    )
    # Bad input is refused before any job is queued.
    bad = admin.post(
        f"{API}/contacts/update", {"selection": {"q": "bulk"}, "values": {"seniority": "boss"}}
    )
    assert bad.status_int == 400
    assert dbsession.scalar(select(func.count()).select_from(Job)) == 1


def test_a_retried_job_changes_nothing_more(app, admin, people, dbsession, monkeypatch):
    monkeypatch.setattr(bulk, "INLINE_LIMIT", 0)
    res = admin.post(f"{API}/contacts/tag", {"selection": {"q": "bulk"}, "tags": ["once"]})
    job = dbsession.get(Job, res.json["job"]["id"])
    before = audit_count(dbsession)
    # A redelivered message after success does nothing; running the body again (a retry
    # after a crash) finds every record as asked.
    from pivotal_core.jobs.queue import registered_task

    registered_task(app.registry["pivotal.huey"], bulk.BULK_TASK)(job.id, job.params)
    assert audit_count(dbsession) == before
    from pivotal_core.jobs.services import Progress

    again = bulk.bulk_job(
        app.registry, dbsession, Progress(app.registry["dbsession_factory"], job.id), **job.params
    )
    assert (again["changed"], again["unchanged"]) == (0, 3)
    assert audit_count(dbsession) == before


class ChangeRecorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int, str | None, dict[str, Any], str]] = []

    @hookimpl
    def pivotal_record_changed(self, entity, record, changes, actor, action) -> None:
        self.calls.append((entity, record.id, record.title, dict(changes), actor.source))


def test_plugins_hear_of_each_changed_record(app, admin, people):
    recorder = ChangeRecorder()
    app.registry.pivotal_hooks.register(recorder)
    try:
        res = admin.post(
            f"{API}/contacts/update",
            {"selection": {"q": "bulk"}, "values": {"title": "Lead"}},
        )
    finally:
        app.registry.pivotal_hooks.unregister(recorder)
    assert res.json["changed"] == 3
    # The record as it is after the change, with what changed.
    assert sorted(recorder.calls) == sorted(
        ("contact", people[n].id, "Lead", {"title": (None, "Lead")}, "bulk")
        for n in ("ada", "bob", "cy")
    )
