"""The audit trail of API writes: one event per changed field with old and new values (one
per creation, holding every initial value), who and which request made it, the history
endpoint, and field provenance."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from pivotal_core.audit.models import AuditEvent
from pivotal_core.audit.services import RECORD, field_changes
from pivotal_core.authnz.permissions import Role
from pivotal_core.testing.fixtures import TEST_PASSWORD, ApiClient

API = "/api/v1"


def events(dbsession, entity: str, entity_id: int, *where) -> list[AuditEvent]:
    return list(
        dbsession.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity == entity, AuditEvent.entity_id == entity_id, *where)
            .order_by(AuditEvent.id)
        )
    )


def event_count(dbsession) -> int:
    return dbsession.scalar(select(func.count()).select_from(AuditEvent))


def by_field(rows: list[AuditEvent]) -> dict[str, tuple[Any, Any]]:
    return {name: (old, new) for row in rows for name, old, new in field_changes(row)}


@pytest.fixture
def contact(admin, dbsession) -> dict[str, Any]:
    res = admin.post(
        f"{API}/contacts",
        {
            "first_name": "ada",
            "last_name": "LOVELACE",
            "email": " Ada@Engines.org ",
            "title": "Analyst",
        },
    )
    assert res.status_int == 201, res.text
    return res.json


def test_create_writes_one_event_holding_every_set_field(admin, contact, dbsession):
    rows = events(dbsession, "contact", contact["id"])
    assert [(row.action, row.field, row.old_value) for row in rows] == [("create", RECORD, None)]
    # Stored (normalised) values; email_domain is derived from the email.
    assert by_field(rows) == {
        "first_name": (None, "Ada"),
        "last_name": (None, "Lovelace"),
        "email": (None, "ada@engines.org"),
        "email_domain": (None, "engines.org"),
        "title": (None, "Analyst"),
    }
    assert {row.actor_id for row in rows} == {admin.user.id}
    assert {row.source for row in rows} == {"api"}
    assert len({row.request_id for row in rows}) == 1
    assert rows[0].request_id
    assert {row.job_id for row in rows} == {None}


def test_patch_writes_exactly_the_changed_fields(admin, contact, dbsession):
    before = event_count(dbsession)
    res = admin.patch(
        f"{API}/contacts/{contact['id']}",
        {
            "title": "Head of Analysis",
            "city": "London",
            "department": "Research",
            "first_name": "Ada",
        },  # unchanged: no event
        headers={"X-Request-ID": "req-patch-1"},
    )
    assert res.status_int == 200, res.text
    assert event_count(dbsession) == before + 3
    rows = events(dbsession, "contact", contact["id"], AuditEvent.action == "update")
    assert len(rows) == 3
    assert by_field(rows) == {
        "title": ("Analyst", "Head of Analysis"),
        "city": (None, "London"),
        "department": (None, "Research"),
    }
    assert {row.actor_id for row in rows} == {admin.user.id}
    assert {row.source for row in rows} == {"api"}
    assert {row.request_id for row in rows} == {"req-patch-1"}

    # Without the header each request gets its own id, shared by its events.
    admin.patch(f"{API}/contacts/{contact['id']}", {"city": "Paris", "region": "IDF"})
    latest = events(dbsession, "contact", contact["id"], AuditEvent.id > rows[-1].id)
    assert len(latest) == 2
    assert len({row.request_id for row in latest}) == 1
    assert latest[0].request_id not in {"req-patch-1", None}


def test_patch_with_identical_values_writes_nothing(admin, contact, dbsession):
    before = event_count(dbsession)
    res = admin.patch(
        f"{API}/contacts/{contact['id']}",
        {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ADA@engines.org",
            "title": "Analyst",
        },
    )
    assert res.status_int == 200, res.text
    assert event_count(dbsession) == before
    assert res.json["updated_at"] == contact["updated_at"]
    assert res.json["field_provenance"] == contact["field_provenance"]


def test_custom_field_change_is_audited_per_key(admin, contact, dbsession):
    res = admin.post(
        f"{API}/custom-fields",
        {"entity": "contact", "key": "budget", "label": "Budget", "type": "number"},
    )
    assert res.status_int == 201
    url = f"{API}/contacts/{contact['id']}"
    assert admin.patch(url, {"custom_fields": {"budget": 100}}).status_int == 200
    assert admin.patch(url, {"custom_fields": {"budget": 250}}).status_int == 200
    assert admin.patch(url, {"custom_fields": {"budget": 250}}).status_int == 200
    rows = events(dbsession, "contact", contact["id"], AuditEvent.action == "update")
    assert [(r.field, r.old_value, r.new_value) for r in rows] == [
        ("custom_fields.budget", None, 100),
        ("custom_fields.budget", 100, 250),
    ]


def test_external_id_change_is_audited(admin, contact, dbsession):
    url = f"{API}/contacts/{contact['id']}"
    assert admin.patch(url, {"external_ids": {"salesforce": "003A"}}).status_int == 200
    rows = events(dbsession, "contact", contact["id"], AuditEvent.action == "update")
    assert by_field(rows) == {"external_ids.salesforce": (None, "003A")}
    assert rows[0].actor_id == admin.user.id


def test_delete_and_restore_write_one_event_each(admin, contact, dbsession):
    url = f"{API}/contacts/{contact['id']}"
    deleted = admin.delete(url)
    assert deleted.status_int == 200
    rows = events(dbsession, "contact", contact["id"], AuditEvent.action == "delete")
    assert len(rows) == 1
    assert rows[0].field == "deleted_at"
    assert rows[0].old_value is None
    assert rows[0].new_value == deleted.json["deleted_at"]
    assert rows[0].actor_id == admin.user.id

    # Deleting again is a 404 and writes nothing.
    before = event_count(dbsession)
    assert admin.delete(url).status_int == 404
    assert event_count(dbsession) == before

    assert admin.post(url + "/restore").status_int == 200
    rows = events(dbsession, "contact", contact["id"], AuditEvent.action == "restore")
    assert len(rows) == 1
    assert (rows[0].field, rows[0].old_value, rows[0].new_value) == (
        "deleted_at",
        deleted.json["deleted_at"],
        None,
    )
    # Restoring a live record is a no-op.
    before = event_count(dbsession)
    assert admin.post(url + "/restore").status_int == 200
    assert event_count(dbsession) == before


def _history(client, url: str, **params):
    res = client.get(url, params)
    assert res.status_int == 200, res.text
    return res.json


def test_history_newest_first_with_paging(admin, contact, dbsession):
    url = f"{API}/contacts/{contact['id']}"
    admin.patch(url, {"title": "CTO", "city": "London", "department": "R&D"})
    admin.delete(url)
    admin.post(url + "/restore")

    whole = _history(admin, url + "/history", limit=500)
    items = whole["items"]
    assert whole["next_before"] is None
    assert len(items) == 1 + 3 + 1 + 1
    ids = [item["id"] for item in items]
    assert ids == sorted(ids, reverse=True)
    assert [item["action"] for item in items] == ["restore", "delete"] + ["update"] * 3 + ["create"]
    assert ids == [e.id for e in reversed(events(dbsession, "contact", contact["id"]))]
    first = items[-1]
    assert set(first) >= {
        "id",
        "entity",
        "entity_id",
        "action",
        "field",
        "old_value",
        "new_value",
        "actor_id",
        "source",
        "request_id",
        "created_at",
    }
    assert first["entity"] == "contact" and first["entity_id"] == contact["id"]
    assert first["field"] == RECORD and first["old_value"] is None
    assert first["new_value"]["email"] == "ada@engines.org"

    paged: list[int] = []
    page = _history(admin, url + "/history", limit=3)
    pages = 1
    paged.extend(item["id"] for item in page["items"])
    while page["next_before"]:
        assert page["next_before"] == paged[-1]
        page = _history(admin, url + "/history", limit=3, before=page["next_before"])
        paged.extend(item["id"] for item in page["items"])
        pages += 1
        assert pages < 10
    assert paged == ids
    assert pages == 3

    # Only this record's events.
    other = admin.post(f"{API}/contacts", {"first_name": "Other"}).json
    assert len(_history(admin, f"{API}/contacts/{other['id']}/history")["items"]) == 1


def test_history_of_deleted_record_and_unknown_ids(admin, contact):
    url = f"{API}/contacts/{contact['id']}"
    admin.delete(url)
    items = _history(admin, url + "/history")["items"]
    assert items[0]["action"] == "delete"
    assert admin.get(f"{API}/contacts/999999/history").status_int == 404


@pytest.mark.parametrize(
    "params", [{"before": "abc"}, {"limit": "0"}, {"limit": "501"}, {"page": "2"}]
)
def test_history_parameters_are_validated(admin, contact, params):
    res = admin.get(f"{API}/contacts/{contact['id']}/history", params)
    assert res.status_int == 400
    assert set(params) <= set(res.json["error"]["fields"])


@pytest.mark.parametrize("plural", ["contacts", "accounts"])
def test_history_needs_audit_read(plural, admin, login, anonymous, make_contact, make_account):
    record = make_contact() if plural == "contacts" else make_account()
    url = f"{API}/{plural}/{record.id}/history"
    agent = login(Role.AGENT)
    assert agent.get(f"{API}/{plural}/{record.id}").status_int == 200  # may read the record
    res = agent.get(url)
    assert res.status_int == 403
    assert res.json["error"]["code"] == "forbidden"
    assert anonymous.get(url).status_int == 401
    assert login(Role.DATA_STEWARD).get(url).status_int == 200
    assert login(Role.QA_REVIEWER).get(url).status_int == 200


def test_account_changes_are_audited(admin, dbsession):
    res = admin.post(f"{API}/accounts", {"name": "Acme", "domain": "https://acme.com"})
    assert res.status_int == 201
    account_id = res.json["id"]
    created = events(dbsession, "account", account_id)
    assert by_field(created) == {"name": (None, "Acme"), "domain": (None, "acme.com")}
    assert {row.action for row in created} == {"create"}

    url = f"{API}/accounts/{account_id}"
    res = admin.patch(url, {"name": "Acme Rockets", "employee_count": 250, "domain": "acme.com"})
    assert res.status_int == 200
    updates = events(dbsession, "account", account_id, AuditEvent.action == "update")
    assert by_field(updates) == {"name": ("Acme", "Acme Rockets"), "employee_count": (None, 250)}
    assert {row.actor_id for row in updates} == {admin.user.id}
    assert len({row.request_id for row in updates}) == 1

    admin.delete(url)
    admin.post(url + "/restore")
    items = _history(admin, url + "/history")["items"]
    assert [(i["action"], i["field"]) for i in items[:2]] == [
        ("restore", "deleted_at"),
        ("delete", "deleted_at"),
    ]
    assert len(items) == 2 + 2 + 1


def test_provenance_of_manual_edits(admin, make_contact, dbsession):
    record = make_contact(first_name="Grace", last_name="Hopper", email="grace@navy.org")
    imported = dict(record.field_provenance)
    assert imported["first_name"]["source"] == "test"
    assert "manual" not in imported["first_name"]

    res = admin.patch(f"{API}/contacts/{record.id}", {"title": "Rear Admiral"})
    assert res.status_int == 200
    provenance = res.json["field_provenance"]
    assert provenance["title"]["source"] == "api"
    assert provenance["title"]["actor_id"] == admin.user.id
    assert provenance["title"]["manual"] is True
    assert provenance["title"]["at"]
    # Untouched fields keep where they came from.
    assert provenance["first_name"] == imported["first_name"]
    dbsession.expire_all()
    stored = dbsession.get(type(record), record.id).field_provenance
    assert stored["title"] == provenance["title"]


def test_user_changes_are_audited_without_secrets(admin, make_user, testapp, dbsession):
    user = make_user(Role.AGENT)
    res = admin.patch(f"{API}/users/{user.id}", {"role": "qa_reviewer"})
    assert res.status_int == 200
    rows = events(dbsession, "user", user.id, AuditEvent.action == "update")
    assert by_field(rows) == {"role": ("agent", "qa_reviewer")}
    assert rows[0].actor_id == admin.user.id

    token = testapp.post_json(
        f"{API}/auth/login", {"email": user.email, "password": TEST_PASSWORD}
    ).json
    client = ApiClient(testapp, token["access_token"])
    res = client.post(
        f"{API}/me/password",
        {"current_password": TEST_PASSWORD, "new_password": "another good one"},
    )
    assert res.status_int == 200
    rows = events(dbsession, "user", user.id, AuditEvent.field == "password")
    assert len(rows) == 1
    assert rows[0].actor_id == user.id
    assert (rows[0].old_value, rows[0].new_value) == ("***", "***")
