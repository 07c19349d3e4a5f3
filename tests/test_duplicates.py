"""Candidate duplicates: one reason at a time, nothing for clearly different records, rescans
that update instead of duplicating, the review queue and its API."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from pivotal_core.audit.services import Actor
from pivotal_core.authnz.permissions import Role
from pivotal_core.contacts.services import delete_contact, restore_contact, update_contact
from pivotal_core.dataquality import duplicates
from pivotal_core.dataquality.duplicates import (
    dismiss_candidate,
    find_candidates,
    list_candidates,
    name_similarity,
    scan_duplicates,
    within_one_edit,
)
from pivotal_core.dataquality.models import DuplicateCandidate
from pivotal_core.errors import Conflict, ValidationFailed
from pivotal_core.jobs.models import Job

API = "/api/v1"
ACTOR = Actor.system("test")


def pairs(dbsession, entity: str = "contact", status: str | None = None) -> dict:
    stmt = select(DuplicateCandidate).where(DuplicateCandidate.entity == entity)
    if status is not None:
        stmt = stmt.where(DuplicateCandidate.status == status)
    return {(c.record_a, c.record_b): c for c in dbsession.scalars(stmt)}


def pair(one: Any, other: Any) -> tuple[int, int]:
    return tuple(sorted((one.id, other.id)))  # type: ignore[return-value]


def candidate_count(dbsession) -> int:
    return dbsession.scalar(select(func.count()).select_from(DuplicateCandidate))


# ---------------------------------------------------------------- contacts, reason by reason


def test_same_name_at_the_same_account(dbsession, make_account, make_contact):
    acme, globex = make_account(name="Acme"), make_account(name="Globex")
    one = make_contact(first_name="Jane", last_name="Doe", email="jd@one.org", account_id=acme.id)
    two = make_contact(first_name="JANE", last_name="doe", email="x@two.org", account_id=acme.id)
    # Same name at another account: another person.
    make_contact(first_name="Jane", last_name="Doe", email="jane@three.org", account_id=globex.id)

    assert find_candidates(dbsession, "contact") == 1
    found = pairs(dbsession)
    assert list(found) == [pair(one, two)]
    candidate = found[pair(one, two)]
    assert candidate.reason == "same_name_at_account"
    assert candidate.score == duplicates.SCORES["same_name_at_account"]
    assert candidate.status == "open"
    assert candidate.record_a < candidate.record_b


def test_same_phone_or_mobile_in_any_format(dbsession, make_contact):
    one = make_contact(phone="+1 650 253 0000")
    two = make_contact(mobile="(650) 253-0000")
    make_contact(phone="+1 650 253 0001")

    assert find_candidates(dbsession, "contact") == 1
    assert pairs(dbsession)[pair(one, two)].reason == "same_phone"


def test_a_switchboard_number_is_not_a_duplicate_signal(dbsession, make_contact):
    for _ in range(duplicates.MAX_PHONE_GROUP + 1):
        make_contact(phone="+1 650 253 0000")
    assert find_candidates(dbsession, "contact") == 0


def test_near_identical_emails(dbsession, make_contact):
    dotted = make_contact(first_name="John", last_name="Smith", email="john.smith@acme.com")
    tagged = make_contact(first_name="J", last_name="Smith", email="johnsmith+news@acme.com")
    typo_a = make_contact(first_name="Maria", last_name="Lopez", email="mlopez@globex.com")
    typo_b = make_contact(first_name="Maria", last_name="Lopes", email="mlopes@globex.com")
    # One letter apart but different first names: two people.
    make_contact(first_name="Alice", last_name="Lopez", email="alopez@globex.com")
    # Same local part at another domain: not blocked together.
    make_contact(first_name="John", last_name="Smyth", email="john.smith@initech.com")
    # Short local parts one edit apart are too common to mean anything.
    make_contact(first_name="Al", last_name="One", email="al@umbrella.com")
    make_contact(first_name="Al", last_name="Two", email="am@umbrella.com")

    scan_duplicates(dbsession, "contact")
    found = pairs(dbsession)
    assert set(found) == {pair(dotted, tagged), pair(typo_a, typo_b)}
    assert found[pair(dotted, tagged)].reason == "similar_email"
    assert found[pair(dotted, tagged)].score == duplicates.SCORES["similar_email"]
    assert found[pair(typo_a, typo_b)].score == duplicates.SCORES["similar_email_typo"]


def test_several_reasons_make_a_stronger_candidate(dbsession, make_account, make_contact):
    acme = make_account(name="Acme", domain="acme.com")
    one = make_contact(
        first_name="Jo", last_name="Lee", email="jo.lee@acme.com", phone="6502530000"
    )
    two = make_contact(
        first_name="Jo", last_name="Lee", email="jolee@acme.com", mobile="6502530000"
    )
    assert one.account_id == two.account_id == acme.id

    scan_duplicates(dbsession, "contact")
    candidate = pairs(dbsession)[pair(one, two)]
    assert candidate.reason == "similar_email,same_name_at_account,same_phone"
    expected = 1 - (1 - 0.95) * (1 - 0.85) * (1 - 0.8)
    assert candidate.score == round(expected, 3)


def test_clearly_different_contacts_are_no_candidates(dbsession, make_account, make_contact):
    acme = make_account(name="Acme", domain="acme.com")
    people = [
        ("Ada", "Lovelace", "ada@acme.com", "+442071234567"),
        ("Grace", "Hopper", "grace.hopper@acme.com", "+16502530000"),
        ("Alan", "Turing", "alan@acme.com", None),
        ("Edsger", "Dijkstra", "edsger@example.org", "+31201234567"),
        ("Barbara", "Liskov", "liskov@example.org", None),
    ]
    for first, last, email, phone in people:
        make_contact(first_name=first, last_name=last, email=email, phone=phone)
    make_contact(first_name="Ada", last_name="Byron", email="ada.byron@acme.com")
    assert acme.id
    report = scan_duplicates(dbsession, "contact")
    assert report.found == 0
    assert candidate_count(dbsession) == 0


# ---------------------------------------------------------------- accounts


def test_accounts_with_the_same_company_key(dbsession, make_account):
    us = make_account(name="Acme, Inc.", domain="acme.com")
    de = make_account(name="ACME GmbH", domain="acme.de")
    # A subsidiary of the same name is a hierarchy, not a duplicate.
    parent = make_account(name="Initech", domain="initech.com")
    make_account(name="Initech", domain="initech.co.uk", parent_id=parent.id)

    scan_duplicates(dbsession, "account")
    found = pairs(dbsession, "account")
    assert set(found) == {pair(us, de)}
    assert found[pair(us, de)].reason == "same_name"


def test_accounts_with_similar_names(dbsession, make_account):
    one = make_account(name="Wayne Enterprises", domain="wayne.com")
    two = make_account(name="Wayne Enterprise Ltd", domain="wayne-enterprise.com")
    make_account(name="General Motors", domain="gm.com")
    make_account(name="General Mills", domain="generalmills.com")
    make_account(name="Umbrella", domain="umbrella.com")
    make_account(name="Hooli", domain="hooli.com")

    scan_duplicates(dbsession, "account")
    found = pairs(dbsession, "account")
    assert set(found) == {pair(one, two)}
    candidate = found[pair(one, two)]
    assert candidate.reason == "similar_name"
    similarity = name_similarity("wayne enterprises", "wayne enterprise")
    assert similarity >= duplicates.SIMILAR_NAME_THRESHOLD
    assert candidate.score == round(duplicates.SIMILAR_NAME_WEIGHT * similarity, 3)


def test_similarity_helpers():
    assert within_one_edit("jsmith", "jsmyth")
    assert within_one_edit("jsmith", "jsmiths")
    assert within_one_edit("jsmith", "smith")
    assert not within_one_edit("jsmith", "jsmyths")
    assert name_similarity("general motors", "general mills") < 0.6
    assert name_similarity("acme", "acme") == 1.0


# ---------------------------------------------------------------- rescans


def test_rescanning_is_idempotent(dbsession, make_contact):
    one = make_contact(phone="+16502530000")
    two = make_contact(mobile="+16502530000")
    assert find_candidates(dbsession, "contact") == 1
    first = pairs(dbsession)[pair(one, two)]
    first_id, first_created = first.id, first.created_at

    report = scan_duplicates(dbsession, "contact")
    assert (report.found, report.created, report.updated, report.closed) == (1, 0, 0, 0)
    assert candidate_count(dbsession) == 1
    again = pairs(dbsession)[pair(one, two)]
    assert (again.id, again.created_at) == (first_id, first_created)


def test_pairs_of_deleted_records_close_and_reopen_on_restore(dbsession, make_contact):
    one = make_contact(phone="+16502530000")
    two = make_contact(mobile="+16502530000")
    find_candidates(dbsession, "contact")

    delete_contact(dbsession, ACTOR, two)
    report = scan_duplicates(dbsession, "contact")
    assert report.closed == 1
    assert pairs(dbsession)[pair(one, two)].status == "closed"

    restore_contact(dbsession, ACTOR, two)
    report = scan_duplicates(dbsession, "contact")
    assert (report.reopened, report.created) == (1, 0)
    assert pairs(dbsession)[pair(one, two)].status == "open"
    assert candidate_count(dbsession) == 1


def test_pairs_that_no_longer_match_are_closed(dbsession, make_contact):
    one = make_contact(phone="+16502530000")
    two = make_contact(mobile="+16502530000")
    find_candidates(dbsession, "contact")
    update_contact(dbsession, ACTOR, two, {"mobile": "+16502539999"})
    assert scan_duplicates(dbsession, "contact").closed == 1
    assert pairs(dbsession)[pair(one, two)].status == "closed"


def test_dismissed_pairs_stay_dismissed(dbsession, make_contact, make_user):
    steward = make_user(Role.DATA_STEWARD)
    one = make_contact(phone="+16502530000")
    two = make_contact(mobile="+16502530000")
    find_candidates(dbsession, "contact")
    candidate = pairs(dbsession)[pair(one, two)]
    dismiss_candidate(dbsession, Actor(user_id=steward.id, source="api"), candidate.id)

    assert find_candidates(dbsession, "contact") == 0
    dismissed = pairs(dbsession)[pair(one, two)]
    assert (dismissed.status, dismissed.resolved_by_id) == ("dismissed", steward.id)
    with pytest.raises(Conflict) as exc:
        dismiss_candidate(dbsession, ACTOR, candidate.id)
    assert "status" in exc.value.fields


def test_limit_stores_the_best_pairs_first(dbsession, make_account, make_contact):
    acme = make_account(name="Acme", domain="acme.com")
    strong_a = make_contact(first_name="Jo", last_name="Lee", email="jo.lee@acme.com")
    strong_b = make_contact(first_name="Jo", last_name="Lee", email="jolee@acme.com")
    make_contact(phone="+16502530000")
    make_contact(mobile="+16502530000")
    assert strong_a.account_id == acme.id

    report = scan_duplicates(dbsession, "contact", limit=1)
    assert (report.found, report.created, report.skipped) == (2, 1, 1)
    assert list(pairs(dbsession)) == [pair(strong_a, strong_b)]
    assert scan_duplicates(dbsession, "contact").created == 1


def test_bad_scan_input_is_refused(dbsession):
    with pytest.raises(ValidationFailed) as exc:
        scan_duplicates(dbsession, "lead")
    assert "entity" in exc.value.fields
    with pytest.raises(ValidationFailed) as exc:
        scan_duplicates(dbsession, "contact", limit=-1)
    assert "limit" in exc.value.fields


# ---------------------------------------------------------------- the review queue


def phone_pairs(make_contact, count: int) -> list[tuple[Any, Any]]:
    made = []
    for n in range(count):
        number = f"+1650253{n:04d}"
        made.append((make_contact(phone=number), make_contact(mobile=number)))
    return made


def test_review_queue_is_keyset_paged_by_score(dbsession, make_account, make_contact):
    acme = make_account(name="Acme", domain="acme.com")
    best = (
        make_contact(first_name="Jo", last_name="Lee", email="jo.lee@acme.com"),
        make_contact(first_name="Jo", last_name="Lee", email="jolee@acme.com"),
    )
    assert best[0].account_id == acme.id
    phone_pairs(make_contact, 4)
    find_candidates(dbsession, "contact")

    seen: list[int] = []
    scores: list[float] = []
    cursor = None
    while True:
        page = list_candidates(dbsession, "contact", limit=2, cursor=cursor)
        seen.extend(c.id for c in page.items)
        scores.extend(c.score for c in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5
    assert scores == sorted(scores, reverse=True)
    first = dbsession.get(DuplicateCandidate, seen[0])
    assert (first.record_a, first.record_b) == pair(*best)
    assert list_candidates(dbsession, "contact", "dismissed").items == []


def test_duplicates_api(admin, dbsession, make_contact):
    one = make_contact(first_name="Ann", last_name="Bell", phone="+16502530000")
    two = make_contact(first_name="Ann", last_name="Bell", mobile="+16502530000")

    res = admin.post(f"{API}/duplicates/scan", {"entity": "contact"})
    assert res.status_int == 202, res.text
    job = admin.get(f"{API}/jobs/{res.json['id']}").json
    assert job["kind"] == "dataquality.scan_duplicates"
    assert job["status"] == "succeeded", job
    assert job["result"]["created"] == 1

    res = admin.get(f"{API}/duplicates", {"entity": "contact"})
    assert res.status_int == 200, res.text
    [item] = res.json["items"]
    assert (item["record_a"], item["record_b"]) == pair(one, two)
    assert item["reasons"] == [{"code": "same_phone", "label": "Same phone or mobile number"}]
    assert item["records"][str(one.id)]["phone"] == "+16502530000"
    assert item["records"][str(two.id)]["mobile"] == "+16502530000"
    assert res.json["next_cursor"] is None

    res = admin.post(f"{API}/duplicates/{item['id']}/dismiss")
    assert res.status_int == 200, res.text
    assert res.json["status"] == "dismissed"
    assert admin.get(f"{API}/duplicates").json["items"] == []
    dismissed = admin.get(f"{API}/duplicates", {"status": "dismissed"}).json["items"]
    assert [d["id"] for d in dismissed] == [item["id"]]

    res = admin.post(f"{API}/duplicates/{item['id']}/dismiss")
    assert res.status_int == 409
    assert res.json["error"]["fields"] == {
        "status": "is dismissed; only open candidates can be dismissed"
    }
    assert admin.post(f"{API}/duplicates/987654/dismiss").status_int == 404


@pytest.mark.parametrize(
    ("method", "url", "payload", "field"),
    [
        ("post", "/duplicates/scan", {"entity": "lead"}, "entity"),
        ("post", "/duplicates/scan", {}, "entity"),
        ("post", "/duplicates/scan", {"entity": "contact", "limit": "ten"}, "limit"),
        ("post", "/duplicates/scan", {"entity": "contact", "depth": 3}, "depth"),
        ("get", "/duplicates", {"status": "maybe"}, "status"),
        ("get", "/duplicates", {"entity": "lead"}, "entity"),
        ("get", "/duplicates", {"limit": "0"}, "limit"),
        ("get", "/duplicates", {"cursor": "garbage"}, "cursor"),
    ],
)
def test_bad_duplicates_input_names_the_field_and_changes_nothing(
    admin, dbsession, method, url, payload, field
):
    jobs_before = dbsession.scalar(select(func.count()).select_from(Job))
    res = getattr(admin, method)(API + url, payload)
    assert res.status_int == 400, res.text
    assert field in res.json["error"]["fields"], res.json
    assert dbsession.scalar(select(func.count()).select_from(Job)) == jobs_before
    assert candidate_count(dbsession) == 0


def test_duplicates_api_permissions(login):
    agent = login(Role.AGENT)
    assert agent.get(f"{API}/duplicates").status_int == 403
    assert agent.post(f"{API}/duplicates/scan", {"entity": "contact"}).status_int == 403
    steward = login(Role.DATA_STEWARD)
    assert steward.get(f"{API}/duplicates").status_int == 200
    assert steward.post(f"{API}/duplicates/scan", {"entity": "account"}).status_int == 202
    qa = login(Role.QA_REVIEWER)
    assert qa.get(f"{API}/duplicates").status_int == 403
