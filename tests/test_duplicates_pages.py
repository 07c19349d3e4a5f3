"""The staff UI of duplicates, merges and privacy erase, through WebTest signed in with the
form: the review queue with its filters, keyset paging, scans as jobs and dismissals; the
merge screen with survivorship defaults and provenance; merging, merge history and revert;
merged records' old addresses; the erase confirmation; each field's provenance on record
pages; and refusals (role, bad input, resolved pairs) that change nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import func, select

from pivotal_core.accounts.models import Account
from pivotal_core.audit.services import Actor
from pivotal_core.authnz.permissions import Permission, Role
from pivotal_core.contacts.models import Contact, ContactIdentifier
from pivotal_core.contacts.services import create_contact, delete_contact
from pivotal_core.customfields.models import CustomFieldDefinition
from pivotal_core.dataquality.duplicates import scan_duplicates
from pivotal_core.dataquality.models import DuplicateCandidate, ErasedIdentity, Merge
from pivotal_core.jobs.models import Job

TITLE_HUBSPOT = "Head of Data"
TITLE_SALESFORCE = "VP Data"


def html(res) -> BeautifulSoup:
    return BeautifulSoup(res.text, "html.parser")


def count(session, model: type, *where: Any) -> int:
    stmt = select(func.count()).select_from(model).where(*where)
    return session.scalar(stmt.execution_options(include_deleted=True))


def reload(session, model: type, record_id: int) -> Any:
    session.expire_all()
    return session.scalars(
        select(model).where(model.id == record_id).execution_options(include_deleted=True)
    ).one_or_none()


def row_ids(res) -> list[int]:
    return [int(tr["data-id"]) for tr in html(res).select(".data-table tbody tr[data-id]")]


def candidate_of(session, one: int, other: int) -> DuplicateCandidate:
    a, b = sorted((one, other))
    return session.scalars(
        select(DuplicateCandidate).where(
            DuplicateCandidate.record_a == a, DuplicateCandidate.record_b == b
        )
    ).one()


def contact_from(session, source: str, **values: Any) -> Contact:
    """A contact created through ``source`` (its fields' provenance names it)."""
    contact = create_contact(session, Actor.system(source), values)
    session.commit()
    return contact


@pytest.fixture
def pair(dbsession):
    """Two records of one person from two sources, found by a scan (same phone). With the
    default source priority (manual, salesforce, hubspot), Salesforce's title wins. Both
    have a value of the custom field "Rating"."""
    dbsession.add(
        CustomFieldDefinition(
            entity="contact", key="rating", label="Rating", type="number", options=[]
        )
    )
    older = contact_from(
        dbsession,
        "import:hubspot",
        first_name="Dana",
        last_name="Scully",
        email="dana@fbi.example",
        phone="+1 202 555 0143",
        title=TITLE_HUBSPOT,
        city="Washington",
        custom_fields={"rating": 3},
        tags=["webinar"],
        external_ids={"hubspot": "H-1"},
    )
    newer = contact_from(
        dbsession,
        "import:salesforce",
        first_name="Dana",
        last_name="Scully",
        email="d.scully@xfiles.example",
        phone="+12025550143",
        title=TITLE_SALESFORCE,
        custom_fields={"rating": 5},
        tags=["vip"],
    )
    scan_duplicates(dbsession, "contact")
    dbsession.commit()
    return older, newer, candidate_of(dbsession, older.id, newer.id)


@pytest.fixture
def steward(web_login):
    return web_login(Role.DATA_STEWARD)


@pytest.fixture
def reader_role(app, monkeypatch) -> str:
    """QA reviewers get ``dataquality:read`` (as a plugin may grant it) but not merge."""
    roles = dict(app.registry["pivotal.role_permissions"])
    roles[Role.QA_REVIEWER] = roles[Role.QA_REVIEWER] | {Permission.DATAQUALITY_READ}
    monkeypatch.setitem(app.registry, "pivotal.role_permissions", roles)
    return Role.QA_REVIEWER


def merge_form(res):
    return res.forms["merge-form"]


def choice_row(res, name: str):
    return html(res).select_one(f'#merge-form tr[data-field="{name}"]')


# ---------------------------------------------------------------- the queue


def test_sidebar_shows_duplicates_to_roles_that_may_read_them(web_login):
    for role, shown in ((Role.DATA_STEWARD, True), (Role.MANAGER, True), (Role.AGENT, False)):
        page = html(web_login(role).get("/"))
        links = [a["href"] for a in page.select(".sidebar a.nav-item")]
        assert ("/duplicates" in links) is shown, role


def test_queue_shows_pairs_with_reasons_scores_and_records(steward, pair, make_contact):
    older, newer, candidate = pair
    res = steward.get("/duplicates")
    assert res.status_int == 200
    page = html(res)
    assert row_ids(res) == [candidate.id]
    row = page.select_one(f'tr[data-id="{candidate.id}"]')
    assert row["data-href"] == f"/duplicates/{candidate.id}"
    assert [b["data-reason"] for b in row.select(".reason-badge")] == ["same_phone"]
    assert row.select_one(".reason-badge").get_text() == "Same phone or mobile number"
    assert row.select_one(".score")["data-score"] == str(candidate.score)
    cards = row.select(".pair-record")
    assert [int(c["data-record-id"]) for c in cards] == [older.id, newer.id]
    assert cards[0].a["href"] == f"/contacts/{older.id}"
    assert "dana@fbi.example" in cards[0].get_text()
    assert "d.scully@xfiles.example" in cards[1].get_text()
    # The tabs count open pairs of each entity; accounts have none.
    tabs = page.select("nav.tabs a")
    assert "1 open" in tabs[0].get_text() and "0 open" in tabs[1].get_text()
    res = steward.get("/duplicates?entity=account")
    assert row_ids(res) == [] and "No open account pairs" in res.text


def test_queue_filters_by_reason_status_and_record(steward, dbsession, pair, make_contact):
    older, newer, candidate = pair
    a = make_contact(first_name="Fox", last_name="Mulder", email="fox.mulder@fbi.example")
    b = make_contact(first_name="Fox", last_name="Mulder", email="foxmulder@fbi.example")
    scan_duplicates(dbsession, "contact")
    dbsession.commit()
    email_pair = candidate_of(dbsession, a.id, b.id)

    assert set(row_ids(steward.get("/duplicates"))) == {candidate.id, email_pair.id}
    assert row_ids(steward.get("/duplicates?reason=similar_email")) == [email_pair.id]
    assert row_ids(steward.get("/duplicates?reason=same_phone")) == [candidate.id]
    assert row_ids(steward.get(f"/duplicates?record={newer.id}")) == [candidate.id]
    assert row_ids(steward.get("/duplicates?status=dismissed")) == []
    # A reason of the other entity, an unknown status or a bad id: 400, never a 500.
    for query in ("reason=same_name", "status=maybe", "record=abc", "entity=lead"):
        res = steward.get(f"/duplicates?{query}")
        assert res.status_int == 400, query


def test_queue_is_keyset_paged_best_first(steward, dbsession, make_contact):
    people = [make_contact() for _ in range(8)]
    pairs = [(p.id, q.id) for i, p in enumerate(people) for q in people[i + 1 :]]
    for n, (one, other) in enumerate(pairs):  # 28 pairs with distinct scores
        dbsession.add(
            DuplicateCandidate(
                entity="contact",
                record_a=one,
                record_b=other,
                reason="same_phone",
                score=round(0.5 + n / 100, 2),
                status="open",
            )
        )
    dbsession.commit()
    best_first = [
        c.id
        for c in dbsession.scalars(
            select(DuplicateCandidate).order_by(DuplicateCandidate.score.desc())
        )
    ]
    res = steward.get("/duplicates?size=25")
    first = row_ids(res)
    assert first == best_first[:25]
    assert html(res).select_one(".data-table")["data-total"] == "28"
    assert html(res).select_one('.pager [rel="prev"]') is None
    res = steward.get(html(res).select_one('.pager a[rel="next"]')["href"])
    assert row_ids(res) == best_first[25:]
    assert html(res).select_one('.pager [rel="next"]') is None
    res = steward.get(html(res).select_one('.pager a[rel="prev"]')["href"])
    assert row_ids(res) == best_first[:25]


def test_scan_now_runs_the_scan_as_a_job_and_shows_its_outcome(steward, dbsession, make_contact):
    one = make_contact(first_name="Walter", last_name="Skinner", phone="+1 202 555 0199")
    other = make_contact(first_name="W.", last_name="Skinner", phone="(202) 555-0199")
    assert count(dbsession, DuplicateCandidate) == 0
    res = steward.post("/duplicates/scan", {"entity": "contact"})
    assert res.status_int == 303
    job = dbsession.scalars(select(Job).where(Job.kind == "dataquality.scan_duplicates")).one()
    assert res.headers["Location"].endswith(f"/duplicates?entity=contact&job={job.id}")
    dbsession.expire_all()
    assert job.status == "succeeded" and job.result["created"] == 1
    # Three kinds of signal, then storing: the job reported each step.
    assert (job.progress_current, job.progress_total) == (4, 4)
    res = res.follow()
    page = html(res)
    assert f"Scanning contacts for duplicates (job {job.id})" in page.select_one(".flash-info").text
    status = page.select_one("#scan-status")
    assert status["data-status"] == "succeeded" and not status.has_attr("hx-get")
    assert "1 pair found: 1 new" in " ".join(status.get_text().split())
    assert row_ids(res) == [candidate_of(dbsession, one.id, other.id).id]
    # The panel alone, as htmx polls it: a finished scan reloads the page.
    res = steward.get(f"/duplicates/scan/{job.id}", headers={"HX-Request": "true"})
    assert res.status_int == 200 and res.headers["HX-Refresh"] == "true"
    assert steward.post("/duplicates/scan", {"entity": "lead"}).status_int == 400


def test_the_queue_says_when_the_nightly_scan_runs_and_marks_its_jobs(
    app, steward, dbsession, monkeypatch
):
    page = html(steward.get("/duplicates"))
    schedule = page.select_one(".scan-schedule").get_text(" ", strip=True)
    assert schedule == "Contacts and accounts are also scanned every night at 03:30 UTC."
    assert page.select_one("#scan-status") is None  # never scanned yet
    nightly = Job(
        kind="dataquality.scan_duplicates",
        status="succeeded",
        params={"entity": "contact", "limit": None},
        result={"found": 0, "created": 0, "updated": 0, "reopened": 0, "closed": 0},
        attempts=1,
    )
    dbsession.add(nightly)
    dbsession.commit()
    status = html(steward.get("/duplicates")).select_one("#scan-status")
    assert "nightly" in status.get_text(" ", strip=True).split()
    # One a person started is not marked.
    res = steward.post("/duplicates/scan", {"entity": "contact"}).follow()
    assert "nightly" not in html(res).select_one("#scan-status").get_text(" ", strip=True).split()
    monkeypatch.setitem(app.registry.settings, "dataquality.duplicate_scan_hour", -1)
    assert html(steward.get("/duplicates")).select_one(".scan-schedule") is None


def test_a_running_scan_is_polled_until_it_finishes(steward, dbsession, make_user):
    job = Job(
        kind="dataquality.scan_duplicates",
        status="running",
        params={"entity": "account", "limit": None},
        progress_current=0,
        attempts=1,
        message="Scanning accounts for duplicates",
    )
    dbsession.add(job)
    dbsession.commit()
    page = html(steward.get("/duplicates?entity=account"))
    status = page.select_one("#scan-status")
    assert status["hx-get"] == f"/duplicates/scan/{job.id}"
    assert status.select_one('[role="progressbar"]') is not None
    res = steward.get(f"/duplicates/scan/{job.id}", headers={"HX-Request": "true"})
    assert "HX-Refresh" not in res.headers
    assert html(res).select_one("#scan-status")["hx-trigger"] == "every 1s"
    other = Job(kind="contacts.delete_selected", status="running", params={}, attempts=1)
    dbsession.add(other)
    dbsession.commit()
    assert steward.get(f"/duplicates/scan/{other.id}").status_int == 404


def test_not_a_duplicate_dismisses_the_pair_once(steward, dbsession, pair):
    older, newer, candidate = pair
    res = steward.post(
        f"/duplicates/{candidate.id}/dismiss", {"came_from": "/duplicates?entity=contact"}
    )
    assert res.status_int == 303
    assert res.headers["Location"].endswith("/duplicates?entity=contact")
    assert reload(dbsession, DuplicateCandidate, candidate.id).status == "dismissed"
    assert row_ids(res.follow()) == []
    assert row_ids(steward.get("/duplicates?status=dismissed")) == [candidate.id]
    # Dismissing it again: a 409 that says why, and nothing changes.
    before = reload(dbsession, DuplicateCandidate, candidate.id).updated_at
    res = steward.post(f"/duplicates/{candidate.id}/dismiss")
    assert res.status_int == 409
    assert "is dismissed" in html(res).select_one("#merge-error").get_text()
    assert html(res).select_one(".pair-resolved")["data-status"] == "dismissed"
    assert reload(dbsession, DuplicateCandidate, candidate.id).updated_at == before


def test_roles_without_merge_may_look_but_not_act(
    web_login, dbsession, pair, reader_role, system_actor
):
    older, newer, candidate = pair
    client = web_login(reader_role)
    res = client.get("/duplicates")
    assert res.status_int == 200 and row_ids(res) == [candidate.id]
    page = html(res)
    assert not page.select("form[action$='/dismiss']") and "Scan contacts now" not in res.text
    screen = client.get(f"/duplicates/{candidate.id}")
    assert screen.status_int == 200 and "may review pairs but not merge" in screen.text
    from pivotal_core.dataquality.merge import merge_records

    done = merge_records(dbsession, system_actor, "contact", older.id, newer.id)
    dbsession.commit()
    assert client.get(f"/merges/{done.id}").status_int == 200
    refused = {
        "/duplicates/scan": {"entity": "contact"},
        f"/duplicates/{candidate.id}/dismiss": {},
        "/merges": {"entity": "contact", "survivor_id": older.id, "merged_id": newer.id},
        f"/merges/{done.id}/revert": {},
        f"/contacts/{older.id}/erase": {"reason": "request"},
    }
    for url, params in refused.items():
        assert client.post(url, params).status_int == 403, url
    assert reload(dbsession, Merge, done.id).reverted_at is None
    assert count(dbsession, Job) == 0
    # Roles without dataquality:read see none of it.
    agent = web_login(Role.AGENT)
    for url in ("/duplicates", f"/duplicates/{candidate.id}", "/merges", f"/merges/{done.id}"):
        assert agent.get(url).status_int == 403, url


# ---------------------------------------------------------------- the merge screen


def test_merge_screen_shows_both_records_defaults_and_why(
    steward, dbsession, pair, make_import_batch
):
    older, newer, candidate = pair
    batch = make_import_batch(source="hubspot")
    provenance = dict(older.field_provenance)
    provenance["city"] = {**provenance["city"], "batch": batch.id}
    older.field_provenance = provenance
    dbsession.commit()

    res = steward.get(f"/duplicates/{candidate.id}")
    assert res.status_int == 200
    page = html(res)
    heads = page.select("#merge-form thead th.side-head")
    assert [int(h["data-record-id"]) for h in heads] == [older.id, newer.id]
    # The more complete record (the older one: it has a city) stays by default.
    assert "survivor" in heads[0]["class"] and heads[0].select_one(".survivor-badge")
    form = merge_form(res)
    assert form["survivor_id"].value == str(older.id)
    assert form["merged_id"].value == str(newer.id)
    assert form["candidate_id"].value == str(candidate.id)

    title = choice_row(res, "title")
    radios = title.select('input[type="radio"]')
    assert [r["value"] for r in radios] == [str(older.id), str(newer.id)]
    checked = title.select_one('input[type="radio"][checked]')
    assert checked["value"] == str(newer.id)  # Salesforce ranks above HubSpot
    why = title.select_one(".default-reason").get_text()
    assert "salesforce (#2) ranks above hubspot (#3)" in why
    # Each value says where it came from.
    sources = [p.summary.get_text() for p in title.select(".provenance")]
    assert sources[0].startswith("import:hubspot") and sources[1].startswith("import:salesforce")
    # A value on one side only wins over a blank.
    city = choice_row(res, "city")
    assert city.select_one("input[checked]")["value"] == str(older.id)
    assert "has no value; a blank never wins" in city.get_text()
    assert f"batch {batch.id}" in city.select_one(".provenance summary").get_text()
    # Equal values need no choice; fields empty on both are listed in one line.
    last = choice_row(res, "last_name")
    assert "same" in last["class"] and not last.select("input")
    blank = page.select_one("#merge-form tr.blank-fields")["data-blank-fields"].split(",")
    assert "mobile" in blank and "account_id" in blank and "title" not in blank
    assert choice_row(res, "mobile") is None
    # Custom fields are chosen like the rest.
    rating = choice_row(res, "custom_fields.rating")
    assert rating.th.get_text() == "Rating" and len(rating.select("input")) == 2
    # Tags are combined; what moves is listed.
    assert choice_row(res, "tags") is not None and "Both kept" in choice_row(res, "tags").text
    moves = page.select_one("#merge-moves").get_text(" ")
    assert "hubspot" not in moves  # the survivor keeps its own external id
    assert "Tags added" in moves and "vip" in moves

    # Keeping the other record instead swaps survivor and merged record.
    res = steward.get(page.select_one(".swap-link")["href"])
    assert merge_form(res)["survivor_id"].value == str(newer.id)
    moves = html(res).select_one('#merge-moves [data-move="identifiers"]').get_text(" ")
    assert "external:hubspot: H-1" in moves


def test_merging_with_a_changed_choice(steward, dbsession, pair):
    older, newer, candidate = pair
    res = steward.get(f"/duplicates/{candidate.id}")
    form = merge_form(res)
    form["choice.title"] = str(older.id)  # keep HubSpot's title against the default
    form["choice.custom_fields.rating"] = str(newer.id)
    res = form.submit()
    assert res.status_int == 303, res.text
    done = dbsession.scalars(select(Merge)).one()
    assert res.headers["Location"].endswith(f"/merges/{done.id}")
    assert (done.survivor_id, done.merged_id) == (older.id, newer.id)
    # Chosen against the default; the email followed survivorship (Salesforce's).
    assert done.choices["title"] == "survivor" and done.choices["email"] == "merged"
    survivor = reload(dbsession, Contact, older.id)
    assert survivor.title == TITLE_HUBSPOT and survivor.custom_fields == {"rating": 5}
    assert survivor.tags == ["vip", "webinar"]
    assert reload(dbsession, Contact, newer.id).merged_into_id == older.id
    assert reload(dbsession, DuplicateCandidate, candidate.id).status == "merged"

    page = html(res.follow())
    assert f"Merged contact {newer.id} into Dana Scully" in page.select_one(".flash-success").text
    result = page.select_one("#merge-result")
    assert result.select_one('[data-role="survivor"] a')["href"] == f"/contacts/{older.id}"
    rating = page.select_one('#merge-changes tr[data-field="custom_fields.rating"]')
    assert [td.get_text() for td in rating.select("td")] == ["Rating", "3", "5", "merged record"]
    assert page.select_one('#merge-changes tr[data-field="title"]') is None
    assert page.select_one("#revert-form") is not None
    moved = page.select_one("#merge-moved").get_text()
    assert "Other email kept as an identifier: dana@fbi.example" in moved
    assert "pair" not in moved  # no other pair of the merged record to close

    # The merged record's old address leads to the survivor.
    res = steward.get(f"/contacts/{newer.id}")
    assert res.status_int == 302 and res.headers["Location"].endswith(f"/contacts/{older.id}")
    page = html(res.follow())
    assert f"Contact {newer.id} was merged into Dana Scully" in page.select_one(".flash-info").text
    # The rating now says it came with the merge, from Salesforce.
    why = page.select_one('dd[data-field="custom_fields.rating"] .provenance')
    assert why.summary.get_text().startswith("import:salesforce")
    assert why.select_one(f'a[href="/merges/{done.id}"]').get_text() == f"merge {done.id}"
    # Opening the merged pair again shows it as merged, with the merge to revert.
    screen = html(steward.get(f"/duplicates/{candidate.id}"))
    assert screen.select_one(".pair-resolved")["data-status"] == "merged"
    assert screen.select_one(f'.pair-resolved a[href="/merges/{done.id}"]')
    assert screen.select_one("#merge-form") is None


def test_history_lists_merges_and_revert_brings_both_back(steward, dbsession, pair):
    older, newer, candidate = pair
    form = merge_form(steward.get(f"/duplicates/{candidate.id}"))
    done_url = form.submit().headers["Location"]
    done = dbsession.scalars(select(Merge)).one()

    res = steward.get("/merges")
    assert row_ids(res) == [done.id]
    row = html(res).select_one(f'tr[data-id="{done.id}"]')
    assert row["data-href"] == f"/merges/{done.id}"
    assert "Title" in row.get_text() and row.select_one(".merge-status").get_text() == "merged"
    assert row_ids(steward.get(f"/merges?record={newer.id}")) == [done.id]
    assert row_ids(steward.get("/merges?entity=account")) == []

    detail = steward.get(done_url)
    res = detail.forms["revert-form"].submit()
    assert res.status_int == 303 and res.headers["Location"].endswith(f"/merges/{done.id}")
    page = html(res.follow())
    assert "both records are back" in page.select_one(".flash-success").text
    assert page.select_one("h1 .badge")["data-status"] == "reverted"
    report = page.select_one("#revert-report")
    assert "Title" in report.select_one('[data-report="restored"]').get_text()
    assert page.select_one("#revert-form") is None

    survivor, merged = reload(dbsession, Contact, older.id), reload(dbsession, Contact, newer.id)
    assert survivor.title == TITLE_HUBSPOT and survivor.tags == ["webinar"]
    assert merged.deleted_at is None and merged.merged_into_id is None
    assert merged.title == TITLE_SALESFORCE
    assert reload(dbsession, DuplicateCandidate, candidate.id).status == "open"
    assert steward.get(f"/contacts/{newer.id}").status_int == 200
    # Reverting twice is refused and says why.
    res = steward.post(f"/merges/{done.id}/revert")
    assert res.status_int == 409
    assert "already reverted" in html(res).select_one("#revert-error").get_text()


def test_account_merge_screen_lists_contacts_children_and_domains(
    steward, dbsession, make_account, make_contact
):
    acme = make_account(name="Acme Corp", domain="acme.com", city="Boston")
    dupe = make_account(name="ACME Corporation", domain="acme-corp.com")
    child = make_account(name="Acme Labs", domain="acmelabs.com", parent_id=dupe.id)
    person = make_contact(first_name="Wile", last_name="Coyote", account_id=dupe.id)
    scan_duplicates(dbsession, "account")
    dbsession.commit()
    candidate = candidate_of(dbsession, acme.id, dupe.id)
    res = steward.get(f"/duplicates/{candidate.id}")
    assert res.status_int == 200
    moves = html(res).select_one("#merge-moves")
    assert "1 contact move" in moves.select_one('[data-move="contacts"]').get_text()
    assert "Acme Labs" in moves.select_one('[data-move="children"]').get_text()
    assert "acme-corp.com" in moves.select_one('[data-move="domains"]').get_text()
    res = merge_form(res).submit()
    assert res.status_int == 303
    assert reload(dbsession, Contact, person.id).account_id == acme.id
    assert reload(dbsession, Account, child.id).parent_id == acme.id
    page = html(res.follow())
    assert "1 contact" in page.select_one("#merge-moved").get_text()


# ---------------------------------------------------------------- refusals


def nothing_merged(dbsession, *records: Any) -> None:
    assert count(dbsession, Merge) == 0
    for record in records:
        current = reload(dbsession, type(record), record.id)
        assert current.deleted_at is None and current.merged_into_id is None
        assert current.title == record.title


def test_a_choice_for_an_unknown_field_is_refused(steward, dbsession, pair):
    older, newer, candidate = pair
    form = merge_form(steward.get(f"/duplicates/{candidate.id}"))
    fields = [(k, f.value) for k, f in form.field_order if k]
    res = steward.post("/merges", [*fields, ("choice.shoe_size", str(newer.id))], csrf=False)
    assert res.status_int == 400
    page = html(res)
    assert "Nothing was merged" in page.select_one("#merge-error").get_text()
    errors = [e.get_text() for e in page.select(".other-error")]
    assert errors == ["choices.shoe_size: is not a field of either record that can be chosen"]
    # The form comes back as it was sent.
    title = page.select_one('#merge-form tr[data-field="title"]')
    assert title.select_one("input[checked]")["value"] == str(newer.id)
    nothing_merged(dbsession, older, newer)
    assert reload(dbsession, DuplicateCandidate, candidate.id).status == "open"


def test_a_choice_of_a_third_record_is_shown_beside_its_field(steward, dbsession, pair):
    older, newer, candidate = pair
    form = merge_form(steward.get(f"/duplicates/{candidate.id}"))
    fields = [(k, f.value) for k, f in form.field_order if k and k != "choice.title"]
    res = steward.post("/merges", [*fields, ("choice.title", "999999")], csrf=False)
    assert res.status_int == 400
    row = html(res).select_one('#merge-form tr[data-field="title"]')
    assert "has-error" in row["class"]
    error = f"must be record {older.id} or {newer.id}"
    assert row.select_one(".field-error").get_text() == error
    assert row.select_one('input[aria-invalid="true"]') is not None
    nothing_merged(dbsession, older, newer)


def test_a_resolved_pair_cannot_be_merged(steward, dbsession, pair):
    older, newer, candidate = pair
    form = merge_form(steward.get(f"/duplicates/{candidate.id}"))
    steward.post(f"/duplicates/{candidate.id}/dismiss")
    res = form.submit(expect_errors=True)
    assert res.status_int == 409
    assert (
        "is dismissed; only open pairs can be merged"
        in html(res).select_one("#merge-error").get_text()
    )
    nothing_merged(dbsession, older, newer)
    assert reload(dbsession, DuplicateCandidate, candidate.id).status == "dismissed"


def test_a_record_cannot_be_merged_with_itself(steward, dbsession, pair):
    older, newer, _ = pair
    res = steward.get(f"/merges/new?entity=contact&survivor={older.id}&merged={older.id}")
    assert res.status_int == 422
    page = html(res)
    assert page.select_one("#merge-form") is None
    label = page.select_one('label.field[for="f-merged"]')
    assert label.select_one(".field-error").get_text() == "is the survivor itself"
    res = steward.post(
        "/merges", {"entity": "contact", "survivor_id": older.id, "merged_id": older.id}
    )
    assert res.status_int == 422
    label = html(res).select_one('label.field[for="f-merged"]')
    assert label.select_one(".field-error").get_text() == "is the survivor itself"
    nothing_merged(dbsession, older, newer)


def test_a_pair_with_a_deleted_record_says_why_it_cannot_be_merged(steward, dbsession, pair):
    older, newer, candidate = pair
    delete_contact(dbsession, Actor.system("test"), older)
    dbsession.commit()
    res = steward.get(f"/duplicates/{candidate.id}")
    assert res.status_int == 200
    page = html(res)
    assert page.select_one("#merge-form") is None
    problem = page.select_one(".pair-problem")
    assert problem.select_one('[data-problem="merged_id"]').get_text() == (
        "The other record is deleted."
    )
    assert [int(c["data-record-id"]) for c in problem.select(".pair-record")] == [
        older.id,
        newer.id,
    ]
    # Posting the merge anyway changes nothing.
    res = steward.post(
        "/merges",
        {
            "entity": "contact",
            "candidate_id": candidate.id,
            "survivor_id": newer.id,
            "merged_id": older.id,
        },
    )
    assert res.status_int == 409
    assert "restore it before merging it" in html(res).select_one("#merge-error").get_text()
    assert count(dbsession, Merge) == 0
    assert reload(dbsession, Contact, older.id).merged_into_id is None


def test_two_records_found_by_id_can_be_merged(steward, dbsession, make_contact):
    one = make_contact(first_name="Alex", last_name="Krycek", title="Agent")
    other = make_contact(first_name="Alex", last_name="Krycek", title="Double agent")
    res = steward.get(f"/merges/new?entity=contact&survivor={one.id}&merged={other.id}")
    assert res.status_int == 200
    form = merge_form(res)
    assert "candidate_id" not in form.fields
    form["choice.title"] = str(other.id)
    res = form.submit()
    assert res.status_int == 303
    assert reload(dbsession, Contact, one.id).title == "Double agent"
    # A record that was merged already is refused beside its field.
    res = steward.get(f"/merges/new?entity=contact&survivor={one.id}&merged={other.id}")
    assert res.status_int == 422
    label = html(res).select_one('label.field[for="f-merged"]')
    assert f"was already merged into contact {one.id}" in label.get_text()
    res = steward.get("/merges/new?entity=contact&survivor=x&merged=1")
    assert res.status_int == 200
    label = html(res).select_one('label.field[for="f-survivor"]')
    assert "must be a record id" in label.select_one(".field-error").get_text()


# ---------------------------------------------------------------- erase


def test_erase_asks_first_naming_what_goes(steward, dbsession, make_contact, make_import_batch):
    keep = make_contact(first_name="Eve", last_name="Harsley", email="eve@example.org")
    gone = make_contact(first_name="Eve", last_name="Harsley", email="eve.h@example.org")
    from pivotal_core.dataquality.merge import merge_records
    from pivotal_core.dataquality.models import ImportRejection

    merge_records(dbsession, Actor.system("test"), "contact", keep.id, gone.id)
    batch = make_import_batch(mapping={"Email": "email", "Phone": "phone"})
    dbsession.add(
        ImportRejection(
            batch_id=batch.id,
            row_number=7,
            reasons={"phone": "12 is not a valid phone number"},
            raw={"Email": "Eve@Example.org", "Phone": "12"},
        )
    )
    dbsession.commit()
    keep_id, gone_id = keep.id, gone.id
    page = html(steward.get(f"/contacts/{keep.id}"))
    button = page.select_one("#data-quality #erase-button")
    assert button["href"] == f"/contacts/{keep.id}/erase"

    res = steward.get(f"/contacts/{keep.id}/erase")
    assert res.status_int == 200
    dialog = html(res).select_one('[role="alertdialog"]')
    assert "Erase Eve Harsley for good?" in dialog.h2.get_text()
    # The merge took the more recent email; the other one stays as an identifier.
    assert "eve.h@example.org" in dialog.select_one('[data-erase="contact"]').get_text()
    assert f"contact {gone.id}" in dialog.select_one('[data-erase="merged"]').get_text()
    assert "email: eve@example.org" in dialog.select_one('[data-erase="identifiers"]').get_text()
    assert "merge, which can no longer be reverted" in dialog.get_text()
    rejected = dialog.select_one('[data-erase="rejected-rows"]').get_text(" ", strip=True)
    assert rejected.startswith("the cells of 1 row imports rejected")
    assert "keyed digests of the email addresses" in dialog.get_text()

    # Without a reason: refused beside the field, nothing erased.
    res = res.forms["erase-form"].submit(expect_errors=True)
    assert res.status_int == 400
    label = html(res).select_one('label.field[for="f-reason"]')
    assert "is required" in label.select_one(".field-error").get_text()
    assert reload(dbsession, Contact, keep.id) is not None
    assert count(dbsession, ErasedIdentity) == 0

    form = res.forms["erase-form"]
    form["reason"] = "GDPR request 2026-03-01"
    res = form.submit()
    assert res.status_int == 303 and res.headers["Location"].endswith("/contacts")
    flash = html(res.follow()).select_one(".flash-success").get_text()
    assert f"Erased contact {keep_id} and 1 record merged into it" in flash
    assert reload(dbsession, Contact, keep_id) is None
    assert reload(dbsession, Contact, gone_id) is None
    assert count(dbsession, ErasedIdentity, ErasedIdentity.kind == "email") == 2
    assert count(dbsession, ContactIdentifier) == 0
    dbsession.expire_all()
    scrubbed = dbsession.scalars(select(ImportRejection)).one()
    assert scrubbed.raw == {"Email": "[erased]", "Phone": "[erased]"}
    assert steward.get(f"/contacts/{keep_id}/erase").status_int == 404


def test_only_roles_with_privacy_erase_see_and_use_erase(web_login, dbsession, make_contact):
    person = make_contact(first_name="Jeffrey", last_name="Spender")
    manager = web_login(Role.MANAGER)  # everything but users:write and privacy:erase
    page = html(manager.get(f"/contacts/{person.id}"))
    assert page.select_one("#data-quality") is not None
    assert page.select_one("#erase-button") is None
    assert manager.get(f"/contacts/{person.id}/erase").status_int == 403
    assert manager.post(f"/contacts/{person.id}/erase", {"reason": "x"}).status_int == 403
    assert reload(dbsession, Contact, person.id) is not None
    admin = web_login(Role.ADMIN)
    assert html(admin.get(f"/contacts/{person.id}")).select_one("#erase-button") is not None


# ---------------------------------------------------------------- provenance


def test_each_field_says_where_it_came_from_and_what_keeps_it(
    web_login, dbsession, make_import_batch
):
    client = web_login(Role.DATA_STEWARD)
    batch = make_import_batch(source="hubspot")
    contact = contact_from(dbsession, "import:hubspot", first_name="Monica", title="Agent")
    provenance = dict(contact.field_provenance)
    provenance["title"] = {**provenance["title"], "batch": batch.id}
    contact.field_provenance = provenance
    dbsession.commit()
    form = client.get(f"/contacts/{contact.id}/edit").forms["record-form"]
    form["city"] = "Quantico"
    form.submit()

    page = html(client.get(f"/contacts/{contact.id}"))
    title = page.select_one('dd[data-field="title"] details.provenance')
    assert title.summary.get_text().startswith(f"import:hubspot · batch {batch.id} · ")
    why = {dt.get_text(): dd for dt, dd in zip(title.select("dt"), title.select("dd"), strict=True)}
    assert why["Source"].get_text() == "import:hubspot"
    assert why["Import batch"].get_text() == f"batch {batch.id}"
    assert why["Import batch"].a["href"] == f"/imports/{batch.id}"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", why["Time"].get_text())
    rule = why["Rule"].get_text()
    assert "dataquality.source_priority setting: manual > salesforce > hubspot" in rule
    assert "hubspot ranks #3" in rule
    city = page.select_one('dd[data-field="city"] details.provenance')
    assert "Typed by a person" in city.select_one(".rule").get_text()


def test_the_reason_for_a_default_follows_the_decision():
    from pivotal_core.dataquality.explain import default_choice_reason, rule_text
    from pivotal_core.dataquality.merge import default_choice
    from pivotal_core.dataquality.survivorship import SurvivorshipPolicy

    policy = SurvivorshipPolicy.of(["salesforce", "hubspot"], {"title": ["hubspot"]})
    early = {"source": "import:salesforce", "at": "2025-01-01T00:00:00+00:00"}
    late = {"source": "import:salesforce", "at": "2025-06-01T00:00:00+00:00"}
    hubspot = {"source": "import:hubspot", "at": "2024-01-01T00:00:00+00:00"}
    cases = [
        # (field, survivor value, entry, merged value, entry) -> default, words in the reason
        (("city", "Bonn", early, "Berlin", late), "merged", "merged record's value is more"),
        (("city", "Bonn", late, "Berlin", early), "survivor", "survivor's value is more"),
        (("city", "Bonn", hubspot, "Berlin", early), "merged", "salesforce (#1) ranks above"),
        (("title", "CTO", hubspot, "CEO", late), "survivor", "hubspot (#1) ranks above"),
        (("city", None, late, "Berlin", early), "merged", "survivor has no value"),
        (("city", "Bonn", None, "Berlin", None), None, "fixed order of the values"),
    ]
    for (name, ours, ours_entry, theirs, theirs_entry), expected, words in cases:
        decided = default_choice(policy, name, ours, ours_entry, theirs, theirs_entry)
        if expected is not None:
            assert decided == expected, (name, ours, theirs)
        reason = default_choice_reason(
            policy, name, ours, ours_entry, theirs, theirs_entry, decided
        )
        assert words in reason, reason
    assert "rule for title: hubspot" in rule_text(policy, "title", hubspot)
    assert "default" not in rule_text(policy, "title", hubspot)
    assert "salesforce > hubspot" in rule_text(policy, "city", early)
    assert "is not listed" in rule_text(policy, "city", {"source": "import:csv"})
    assert rule_text(policy, "city", {"source": "ui", "manual": True}).startswith("Typed by")
    assert rule_text(policy, "city", None) is None
