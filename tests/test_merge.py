"""Merging duplicates: field-by-field choices and their defaults, what moves to the survivor,
the audit trail, redirects for old ids and identifiers, reverting field by field, and the
refusal of merges that make no sense."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from pivotal_core.accounts.models import Account
from pivotal_core.accounts.services import find_account_by_domain, update_account
from pivotal_core.audit.models import AuditEvent
from pivotal_core.audit.services import Actor
from pivotal_core.authnz.permissions import Role
from pivotal_core.contacts.models import Contact, ContactIdentifier
from pivotal_core.contacts.services import (
    delete_contact,
    external_ids_of,
    get_contact,
    update_contact,
)
from pivotal_core.customfields.models import CustomFieldDefinition
from pivotal_core.dataquality.duplicates import find_candidates
from pivotal_core.dataquality.merge import merge_records, revert_merge
from pivotal_core.dataquality.models import DuplicateCandidate, Merge, RecordRedirect

API = "/api/v1"
ACTOR = Actor.system("test")

CONTACT_COLUMNS = [c.key for c in Contact.__table__.columns if c.key != "updated_at"]
ACCOUNT_COLUMNS = [c.key for c in Account.__table__.columns if c.key != "updated_at"]


def snapshot(dbsession, record: Any) -> dict[str, Any]:
    dbsession.refresh(record)
    columns = CONTACT_COLUMNS if isinstance(record, Contact) else ACCOUNT_COLUMNS
    values = {name: getattr(record, name) for name in columns}
    if isinstance(record, Contact):
        values["identifiers"] = sorted(
            dbsession.execute(
                select(ContactIdentifier.kind, ContactIdentifier.value).where(
                    ContactIdentifier.contact_id == record.id
                )
            ).all()
        )
    return values


def events(dbsession, entity: str, record_id: int, action: str) -> dict[str, tuple[Any, Any]]:
    rows = dbsession.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.entity == entity,
            AuditEvent.entity_id == record_id,
            AuditEvent.action == action,
        )
        .order_by(AuditEvent.id)
    )
    return {row.field: (row.old_value, row.new_value) for row in rows}


def count(dbsession, model: type) -> int:
    return dbsession.scalar(select(func.count()).select_from(model))


@pytest.fixture
def rating(dbsession):
    definition = CustomFieldDefinition(
        entity="contact", key="rating", label="Rating", type="number", options=[]
    )
    dbsession.add(definition)
    dbsession.commit()
    return definition


@pytest.fixture
def jane(make_contact, rating, janet):
    # Made after janet: where both have a value, survivorship prefers jane's (more recent).
    return make_contact(
        first_name="Jane",
        last_name="Doe",
        email="jane@acme.com",
        title="CTO",
        city="Berlin",
        tags=["vip"],
        custom_fields={"rating": 5},
        external_ids={"crm": "C-1"},
    )


@pytest.fixture
def janet(make_contact, rating):
    return make_contact(
        first_name="Janet",
        last_name="Doe",
        email="jane.doe@acme.com",
        phone="+16502530000",
        title="VP Engineering",
        tags=["webinar"],
        custom_fields={"rating": 3},
        external_ids={"hubspot": "H-9"},
    )


# ---------------------------------------------------------------- contacts


def test_merge_takes_choices_and_defaults(dbsession, jane, janet):
    merge = merge_records(dbsession, ACTOR, "contact", jane.id, janet.id, {"first_name": "merged"})
    dbsession.commit()
    dbsession.refresh(jane)
    dbsession.refresh(janet)

    assert jane.first_name == "Janet"  # chosen
    assert jane.phone == "+16502530000"  # blank on the survivor: the merged record's value
    assert jane.title == "CTO"  # both set, no choice: the survivor's
    assert jane.email == "jane@acme.com"
    assert jane.city == "Berlin"
    assert jane.tags == ["vip", "webinar"]  # unioned
    assert jane.custom_fields == {"rating": 5}
    assert janet.deleted_at is not None
    assert janet.merged_into_id == jane.id

    assert merge.choices["first_name"] == "merged"
    assert merge.choices["phone"] == "merged"
    assert merge.choices["title"] == "survivor"
    assert merge.choices["custom_fields.rating"] == "survivor"
    assert merge.survivor_before == {
        "first_name": "Jane",
        "phone": None,
        "tags": ["vip"],
    }
    redirect = dbsession.scalars(select(RecordRedirect)).one()
    assert (redirect.entity, redirect.old_id, redirect.new_id, redirect.merge_id) == (
        "contact",
        janet.id,
        jane.id,
        merge.id,
    )
    # The values taken from the merged record keep its provenance, marked with the merge.
    assert jane.field_provenance["phone"]["source"] == "test"
    assert jane.field_provenance["phone"]["merge_id"] == merge.id


def test_defaults_follow_survivorship(dbsession, make_contact, rating):
    survivor = make_contact(title="CTO", city="Berlin", department="IT", tags=["a"])
    update_contact(dbsession, Actor(user_id=None, source="api"), survivor, {"department": "R&D"})
    merged = make_contact(title="VP", department="Sales", custom_fields={"rating": 2})
    merge = merge_records(dbsession, ACTOR, "contact", survivor.id, merged.id)
    dbsession.refresh(survivor)
    assert survivor.title == "VP"  # same source rank: the more recent value
    assert survivor.city == "Berlin"  # never a blank
    assert survivor.department == "R&D"  # a person's edit outranks the other source
    assert survivor.custom_fields == {"rating": 2}
    assert (merge.choices["title"], merge.choices["department"]) == ("merged", "survivor")


def test_source_priority_decides_before_recency(dbsession, make_user):
    from pivotal_core.contacts.services import create_contact
    from pivotal_core.dataquality.survivorship import set_rule

    salesforce = Actor(user_id=None, source="import:salesforce")
    hubspot = Actor(user_id=None, source="import:hubspot")
    older = create_contact(dbsession, salesforce, {"last_name": "Kim", "title": "Director"})
    newer = create_contact(dbsession, hubspot, {"last_name": "Kim", "title": "Head of IT"})
    dbsession.commit()

    # The default priority (manual salesforce hubspot) keeps Salesforce's older title.
    merge = merge_records(dbsession, ACTOR, "contact", newer.id, older.id)
    dbsession.refresh(newer)
    assert newer.title == "Director"
    revert_merge(dbsession, ACTOR, merge.id)

    # A rule for the field puts HubSpot first.
    set_rule(dbsession, ACTOR, "contact", "title", ["hubspot", "salesforce"])
    merge_records(dbsession, ACTOR, "contact", newer.id, older.id)
    dbsession.refresh(newer)
    assert newer.title == "Head of IT"


def test_merge_custom_fields_per_key(dbsession, jane, janet):
    merge_records(
        dbsession, ACTOR, "contact", jane.id, janet.id, {"custom_fields.rating": "merged"}
    )
    dbsession.refresh(jane)
    assert jane.custom_fields == {"rating": 3}


def test_identifiers_move_and_the_other_email_stays_findable(dbsession, jane, janet):
    merge_records(dbsession, ACTOR, "contact", jane.id, janet.id)
    dbsession.commit()
    assert external_ids_of(dbsession, [jane.id, janet.id]) == {
        jane.id: {"crm": "C-1", "hubspot": "H-9"}
    }
    owner = dbsession.scalar(
        select(ContactIdentifier.contact_id).where(
            ContactIdentifier.kind == "external:hubspot", ContactIdentifier.value == "H-9"
        )
    )
    assert owner == jane.id
    email = dbsession.scalars(
        select(ContactIdentifier).where(ContactIdentifier.kind == "email")
    ).one()
    assert (email.contact_id, email.value) == (jane.id, "jane.doe@acme.com")


def test_an_import_by_the_old_external_id_updates_the_survivor(dbsession, jane, janet):
    from pivotal_core.dataquality.models import ImportBatch
    from pivotal_core.dataquality.rows import ImportOptions, PreparedRow
    from pivotal_core.dataquality.upsert import import_rows
    from pivotal_core.db import utcnow

    merge_records(dbsession, ACTOR, "contact", jane.id, janet.id)
    batch = ImportBatch(
        entity="contact",
        source="hubspot",
        filename="contacts.csv",
        stored_path="contacts.csv",
        file_sha256="0" * 64,
        as_of=utcnow(),
    )
    dbsession.add(batch)
    dbsession.flush()
    row = PreparedRow(
        number=1, values={"department": "Research"}, raw={}, external_ids={"hubspot": "H-9"}
    )
    counts = import_rows(
        dbsession, batch, [row], ImportOptions(), Actor(user_id=None, source="import:hubspot")
    )
    assert (counts.created, counts.updated) == (0, 1)
    dbsession.refresh(jane)
    assert jane.department == "Research"
    live = select(func.count()).select_from(Contact).where(Contact.deleted_at.is_(None))
    assert dbsession.scalar(live) == 1


def test_taking_the_merged_email_keeps_the_survivors_own_as_identifier(dbsession, jane, janet):
    merge_records(dbsession, ACTOR, "contact", jane.id, janet.id, {"email": "merged"})
    dbsession.refresh(jane)
    assert (jane.email, jane.email_domain) == ("jane.doe@acme.com", "acme.com")
    email = dbsession.scalars(
        select(ContactIdentifier).where(ContactIdentifier.kind == "email")
    ).one()
    assert (email.contact_id, email.value) == (jane.id, "jane@acme.com")


def test_every_merge_is_audited(dbsession, jane, janet, make_user):
    steward = make_user(Role.DATA_STEWARD)
    actor = Actor(user_id=steward.id, source="api", request_id="req-merge")
    merge_records(dbsession, actor, "contact", jane.id, janet.id, {"first_name": "merged"})

    assert events(dbsession, "contact", jane.id, "merge") == {
        "first_name": ("Jane", "Janet"),
        "phone": (None, "+16502530000"),
        "tags": (["vip"], ["vip", "webinar"]),
        "external_ids.hubspot": (None, "H-9"),
        "identifiers.email": (None, "jane.doe@acme.com"),
        "merged_record": (None, janet.id),
    }
    merged_events = events(dbsession, "contact", janet.id, "merge")
    assert merged_events["merged_into_id"] == (None, jane.id)
    assert merged_events["external_ids.hubspot"] == ("H-9", None)
    assert merged_events["deleted_at"][0] is None
    rows = dbsession.scalars(select(AuditEvent).where(AuditEvent.action == "merge")).all()
    assert {(row.actor_id, row.source, row.request_id) for row in rows} == {
        (steward.id, "api", "req-merge")
    }


def test_a_merge_with_nothing_to_change_is_still_audited(dbsession, make_contact):
    one = make_contact(first_name="Sam", last_name="Ray", email="sam@ray.org")
    two = make_contact(first_name="Sam", last_name="Ray", email="sam.ray@ray.org")
    merge_records(dbsession, ACTOR, "contact", one.id, two.id, {"email": "survivor"})
    assert events(dbsession, "contact", one.id, "merge") == {
        "identifiers.email": (None, "sam.ray@ray.org"),
        "merged_record": (None, two.id),
    }


def test_old_id_resolves_to_the_survivor(admin, dbsession, jane, janet, make_contact):
    merge_records(dbsession, ACTOR, "contact", jane.id, janet.id)
    dbsession.commit()
    res = admin.get(f"{API}/contacts/{janet.id}")
    assert res.status_int == 200, res.text
    assert res.json["id"] == jane.id
    assert res.json["external_ids"] == {"crm": "C-1", "hubspot": "H-9"}
    assert get_contact(dbsession, janet.id).id == jane.id

    # A chain of merges resolves to the last survivor.
    third = make_contact(first_name="J", last_name="Doe", email="j@doe.org")
    merge_records(dbsession, ACTOR, "contact", third.id, jane.id)
    dbsession.commit()
    assert admin.get(f"{API}/contacts/{janet.id}").json["id"] == third.id
    assert admin.get(f"{API}/contacts/{jane.id}").json["id"] == third.id


def test_deleted_but_not_merged_records_do_not_redirect(admin, dbsession, make_contact):
    gone = make_contact()
    delete_contact(dbsession, ACTOR, gone)
    dbsession.commit()
    res = admin.get(f"{API}/contacts/{gone.id}")
    assert res.json["id"] == gone.id
    assert res.json["deleted_at"] is not None
    assert admin.patch(f"{API}/contacts/{gone.id}", {"title": "x"}).status_int == 404


def test_revert_restores_both_records_field_by_field(dbsession, jane, janet):
    survivor_before = snapshot(dbsession, jane)
    merged_before = snapshot(dbsession, janet)
    merge = merge_records(
        dbsession,
        ACTOR,
        "contact",
        jane.id,
        janet.id,
        {"first_name": "merged", "email": "merged", "custom_fields.rating": "merged"},
    )
    dbsession.commit()
    assert snapshot(dbsession, jane) != survivor_before

    report = revert_merge(dbsession, ACTOR, merge.id)
    dbsession.commit()
    assert report["kept"] == {}
    # Both emails are at acme.com: email_domain never changed.
    assert report["restored"] == ["custom_fields.rating", "email", "first_name", "phone", "tags"]
    assert snapshot(dbsession, jane) == survivor_before
    assert snapshot(dbsession, janet) == merged_before
    assert dbsession.scalars(select(RecordRedirect)).all() == []
    assert dbsession.scalars(select(ContactIdentifier.kind)).all().count("email") == 0
    dbsession.refresh(merge)
    assert merge.reverted_at is not None
    reverted = events(dbsession, "contact", jane.id, "revert_merge")
    assert reverted["first_name"] == ("Janet", "Jane")
    assert reverted["merged_record"] == (janet.id, None)


def test_revert_keeps_fields_changed_since_and_reports_them(dbsession, jane, janet):
    merge = merge_records(dbsession, ACTOR, "contact", jane.id, janet.id, {"first_name": "merged"})
    update_contact(
        dbsession, ACTOR, jane, {"first_name": "Janey", "tags": ["vip", "webinar", "q3"]}
    )
    dbsession.commit()

    report = revert_merge(dbsession, ACTOR, merge.id)
    dbsession.refresh(jane)
    assert jane.first_name == "Janey"
    assert jane.phone is None
    # What the merge added is taken back; what was added since stays.
    assert jane.tags == ["q3", "vip"]
    assert set(report["kept"]) == {"first_name", "tags"}
    assert "phone" in report["restored"]


def test_revert_moves_identifiers_back(dbsession, jane, janet):
    merge = merge_records(dbsession, ACTOR, "contact", jane.id, janet.id)
    revert_merge(dbsession, ACTOR, merge.id)
    assert external_ids_of(dbsession, [jane.id, janet.id]) == {
        jane.id: {"crm": "C-1"},
        janet.id: {"hubspot": "H-9"},
    }


def test_merge_resolves_candidates_and_revert_reopens_them(dbsession, make_contact):
    one = make_contact(first_name="A", last_name="B", phone="+16502530000")
    two = make_contact(first_name="C", last_name="D", mobile="+16502530000")
    three = make_contact(first_name="E", last_name="F", phone="+16502530000")
    find_candidates(dbsession, "contact")
    merge = merge_records(dbsession, ACTOR, "contact", one.id, two.id)
    statuses = {
        (c.record_a, c.record_b): c.status for c in dbsession.scalars(select(DuplicateCandidate))
    }
    assert statuses == {
        (one.id, two.id): "merged",
        (two.id, three.id): "closed",
        (one.id, three.id): "open",
    }
    revert_merge(dbsession, ACTOR, merge.id)
    assert {c.status for c in dbsession.scalars(select(DuplicateCandidate))} == {"open"}


# ---------------------------------------------------------------- accounts


def test_account_merge_moves_contacts_children_and_domains(
    admin, dbsession, make_account, make_contact
):
    merged = make_account(
        name="Acme Germany",
        domain="acme.de",
        secondary_domains=["acme.at"],
        industry="Manufacturing",
        technologies=["SAP"],
    )
    survivor = make_account(name="Acme", domain="acme.com", industry=None, tags=["target"])
    child = make_account(name="Acme Labs", domain="acmelabs.com", parent_id=merged.id)
    people = [make_contact(account_id=merged.id) for _ in range(2)]
    before = {
        "survivor": snapshot(dbsession, survivor),
        "merged": snapshot(dbsession, merged),
        "child": snapshot(dbsession, child),
        "people": [snapshot(dbsession, p) for p in people],
    }

    merge = merge_records(dbsession, ACTOR, "account", survivor.id, merged.id)
    dbsession.commit()
    for record in (survivor, merged, child, *people):
        dbsession.refresh(record)
    assert survivor.industry == "Manufacturing"
    assert survivor.name == "Acme"
    assert survivor.secondary_domains == ["acme.at", "acme.de"]
    assert survivor.technologies == ["SAP"]
    assert child.parent_id == survivor.id
    assert {p.account_id for p in people} == {survivor.id}
    assert find_account_by_domain(dbsession, "acme.de").id == survivor.id
    assert admin.get(f"{API}/accounts/{merged.id}").json["id"] == survivor.id
    for person in people:
        assert events(dbsession, "contact", person.id, "merge") == {
            "account_id": (merged.id, survivor.id)
        }
    assert events(dbsession, "account", child.id, "merge") == {
        "parent_id": (merged.id, survivor.id)
    }

    report = revert_merge(dbsession, ACTOR, merge.id)
    dbsession.commit()
    assert report["moved_back"] == {
        "contacts": sorted(p.id for p in people),
        "accounts": [child.id],
    }
    assert report["not_moved_back"] == {}
    assert snapshot(dbsession, survivor) == before["survivor"]
    assert snapshot(dbsession, merged) == before["merged"]
    assert snapshot(dbsession, child)["parent_id"] == merged.id
    assert [snapshot(dbsession, p)["account_id"] for p in people] == [merged.id, merged.id]
    assert find_account_by_domain(dbsession, "acme.de").id == merged.id


def test_merging_a_parent_into_its_child(dbsession, make_account):
    parent = make_account(name="Hooli", domain="hooli.com")
    child = make_account(name="Hooli", domain="hooli.xyz", parent_id=parent.id)
    merge_records(dbsession, ACTOR, "account", child.id, parent.id, {"parent_id": "merged"})
    dbsession.refresh(child)
    assert child.parent_id is None


def test_a_merge_that_would_make_a_cycle_is_refused(dbsession, make_account):
    top = make_account(name="Top", domain="top.com")
    middle = make_account(name="Middle", domain="middle.com", parent_id=top.id)
    bottom = make_account(name="Bottom", domain="bottom.com", parent_id=middle.id)
    from pivotal_core.errors import Unprocessable

    with pytest.raises(Unprocessable) as exc:
        merge_records(dbsession, ACTOR, "account", bottom.id, top.id)
    assert "merged_id" in exc.value.fields
    assert count(dbsession, Merge) == 0


def test_revert_of_an_account_keeps_a_domain_taken_since(dbsession, make_account):
    survivor = make_account(name="Initech", domain="initech.com")
    merged = make_account(name="Initech", domain="initech.net")
    merge = merge_records(dbsession, ACTOR, "account", survivor.id, merged.id, {"domain": "merged"})
    update_account(dbsession, ACTOR, survivor, {"secondary_domains": []})
    other = make_account(name="Other", domain="initech.com")
    assert other.id
    from pivotal_core.errors import Conflict

    with pytest.raises(Conflict) as exc:
        revert_merge(dbsession, ACTOR, merge.id)
    assert "initech.net" in exc.value.message


# ---------------------------------------------------------------- refusals


@pytest.fixture
def two_contacts(make_contact):
    return make_contact(), make_contact()


def test_merging_into_itself_is_refused(admin, dbsession, two_contacts):
    one, _ = two_contacts
    res = admin.post(
        f"{API}/merges", {"entity": "contact", "survivor_id": one.id, "merged_id": one.id}
    )
    assert res.status_int == 422
    assert res.json["error"]["fields"] == {"merged_id": "is the survivor itself"}


def test_merging_into_a_deleted_record_is_refused(admin, dbsession, two_contacts):
    one, two = two_contacts
    delete_contact(dbsession, ACTOR, one)
    dbsession.commit()
    res = admin.post(
        f"{API}/merges", {"entity": "contact", "survivor_id": one.id, "merged_id": two.id}
    )
    assert res.status_int == 409
    assert res.json["error"]["fields"] == {"survivor_id": "is deleted"}
    res = admin.post(
        f"{API}/merges", {"entity": "contact", "survivor_id": two.id, "merged_id": one.id}
    )
    assert res.status_int == 409
    assert res.json["error"]["fields"] == {"merged_id": "is deleted"}


def test_merging_an_already_merged_record_is_refused(admin, dbsession, make_contact):
    one, two, three = make_contact(), make_contact(), make_contact()
    merge_records(dbsession, ACTOR, "contact", one.id, two.id)
    dbsession.commit()
    res = admin.post(
        f"{API}/merges", {"entity": "contact", "survivor_id": three.id, "merged_id": two.id}
    )
    assert res.status_int == 409
    assert res.json["error"]["fields"] == {"merged_id": f"was already merged into contact {one.id}"}
    res = admin.post(
        f"{API}/merges", {"entity": "contact", "survivor_id": two.id, "merged_id": three.id}
    )
    assert res.status_int == 409
    assert res.json["error"]["fields"] == {"survivor_id": f"was merged into contact {one.id}"}


@pytest.mark.parametrize(
    ("payload", "status", "fields"),
    [
        ({"survivor_id": "A", "merged_id": "B"}, 400, {"entity"}),
        ({"entity": "lead", "survivor_id": "A", "merged_id": "B"}, 400, {"entity"}),
        ({"entity": "contact", "merged_id": "B"}, 400, {"survivor_id"}),
        ({"entity": "contact", "survivor_id": "1", "merged_id": "B"}, 400, {"survivor_id"}),
        (
            {"entity": "contact", "survivor_id": "A", "merged_id": "B", "choices": ["x"]},
            400,
            {"choices"},
        ),
        (
            {"entity": "contact", "survivor_id": "A", "merged_id": "B", "choices": {"nope": "x"}},
            400,
            {"choices.nope"},
        ),
        (
            {
                "entity": "contact",
                "survivor_id": "A",
                "merged_id": "B",
                "choices": {"title": "both"},
            },
            400,
            {"choices.title"},
        ),
        ({"entity": "contact", "survivor_id": "A", "merged_id": 987654}, 422, {"merged_id"}),
        ({"entity": "account", "survivor_id": "A", "merged_id": "B"}, 422, {"survivor_id"}),
        ({"entity": "contact", "survivor_id": "A", "merged_id": "B", "extra": 1}, 400, {"extra"}),
    ],
)
def test_bad_merge_input_names_the_field_and_changes_nothing(
    admin, dbsession, two_contacts, payload, status, fields
):
    one, two = two_contacts
    ids = {"A": one.id, "B": two.id}
    body = {
        key: ids.get(value, value) if key.endswith("_id") else value
        for key, value in payload.items()
    }
    before = (snapshot(dbsession, one), snapshot(dbsession, two), count(dbsession, AuditEvent))
    res = admin.post(f"{API}/merges", body)
    assert res.status_int == status, res.text
    assert set(res.json["error"]["fields"]) == fields, res.json
    after = (snapshot(dbsession, one), snapshot(dbsession, two), count(dbsession, AuditEvent))
    assert after == before
    assert count(dbsession, Merge) == 0
    assert count(dbsession, RecordRedirect) == 0


# ---------------------------------------------------------------- the API


def test_merge_api_round_trip(login, dbsession, jane, janet):
    steward = login(Role.DATA_STEWARD)
    res = steward.post(
        f"{API}/merges",
        {
            "entity": "contact",
            "survivor_id": jane.id,
            "merged_id": janet.id,
            "choices": {"title": "merged"},
        },
    )
    assert res.status_int == 201, res.text
    body = res.json
    assert body["survivor_before"]["title"] == "CTO"
    assert body["survivor_after"]["title"] == "VP Engineering"
    assert body["records"][str(janet.id)]["merged_into_id"] == jane.id
    assert body["revert"] is None

    assert steward.get(f"{API}/merges/{body['id']}").json["choices"]["title"] == "merged"
    listed = steward.get(f"{API}/merges", {"record_id": janet.id}).json["items"]
    assert [m["id"] for m in listed] == [body["id"]]
    assert steward.get(f"{API}/contacts/{jane.id}").json["title"] == "VP Engineering"

    res = steward.post(f"{API}/merges/{body['id']}/revert")
    assert res.status_int == 200, res.text
    assert res.json["reverted_at"] is not None
    assert res.json["revert"]["kept"] == {}
    assert steward.get(f"{API}/contacts/{janet.id}").json["id"] == janet.id
    assert steward.get(f"{API}/contacts/{jane.id}").json["title"] == "CTO"

    again = steward.post(f"{API}/merges/{body['id']}/revert")
    assert again.status_int == 409
    assert again.json["error"]["fields"] == {"merge": "has already been reverted"}
    assert steward.post(f"{API}/merges/987654/revert").status_int == 404
    assert steward.get(f"{API}/merges/987654").status_int == 404


def test_revert_must_follow_later_merges(admin, dbsession, make_contact):
    one, two, three = make_contact(), make_contact(), make_contact()
    first = merge_records(dbsession, ACTOR, "contact", two.id, three.id)
    second = merge_records(dbsession, ACTOR, "contact", one.id, two.id)
    dbsession.commit()
    res = admin.post(f"{API}/merges/{first.id}/revert")
    assert res.status_int == 409
    assert res.json["error"]["fields"] == {"merge": f"revert merge {second.id} first"}
    assert admin.post(f"{API}/merges/{second.id}/revert").status_int == 200
    assert admin.post(f"{API}/merges/{first.id}/revert").status_int == 200


def test_merge_api_permissions(login, two_contacts):
    one, two = two_contacts
    body = {"entity": "contact", "survivor_id": one.id, "merged_id": two.id}
    assert login(Role.CAMPAIGN_MANAGER).post(f"{API}/merges", body).status_int == 403
    assert login(Role.AGENT).get(f"{API}/merges/1").status_int == 403
    assert login(Role.MANAGER).post(f"{API}/merges", body).status_int == 201
