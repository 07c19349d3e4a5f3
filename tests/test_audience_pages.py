"""Segments and lists in the staff UI, through WebTest signed in with the form: the index
pages, the segment form with the filter builder's definition (errors beside fields and at
the rules they name, nothing saved), the builder's live count, a segment's page (refresh,
convert to list, delete), lists (create from pasted ids, members in the data table, add
and remove members), and who may do what."""

from __future__ import annotations

import json
from typing import Any

import pytest
from bs4 import BeautifulSoup
from sqlalchemy import func, select

from pivotal_core.audience import services
from pivotal_core.audience.models import AudienceList, ListMember, Segment
from pivotal_core.audience.services import Viewer
from pivotal_core.audit.models import AuditEvent
from pivotal_core.audit.services import Actor
from pivotal_core.authnz.permissions import Role

PREVIEW = "/segments/preview"


def html(res) -> BeautifulSoup:
    return BeautifulSoup(res.text, "html.parser")


def field_error(res, name: str) -> str:
    node = html(res).select_one(f"#e-{name}")
    return node.get_text(strip=True) if node else ""


def builder_errors(res) -> dict[str, str]:
    return json.loads(html(res).select_one("script[data-builder-errors]").string)


def rule(field: str, operator: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "operator": operator, "value": value}


def group(op: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {"op": op, "rules": list(rules)}


def count(dbsession, model) -> int:
    return dbsession.scalar(select(func.count()).select_from(model))


@pytest.fixture
def marketer(web_login):
    return web_login(Role.CAMPAIGN_MANAGER)


@pytest.fixture
def people(make_account, make_contact) -> dict[str, Any]:
    """Five contacts tagged "pages": three in Germany (two of them VPs), two in France, at
    a software account and a retail account."""
    software = make_account(name="Acme Software", domain="acme-pages.com", industry="Software")
    retail = make_account(name="Shop Retail", domain="shop-pages.com", industry="Retail")
    rows = [
        ("Ada", "DE", "vp", software),
        ("Bea", "DE", "vp", retail),
        ("Cem", "DE", "manager", software),
        ("Dov", "FR", "vp", software),
        ("Eli", "FR", "entry", retail),
    ]
    contacts = {
        first: make_contact(
            first_name=first,
            country=country,
            seniority=seniority,
            account_id=account.id,
            tags=["pages"],
        )
        for first, country, seniority, account in rows
    }
    return {"contacts": contacts, "software": software, "retail": retail}


# German VPs, or anyone at a software company; all tagged "pages".
NESTED = group(
    "and",
    rule("contact.tags", "has_any", ["pages"]),
    group(
        "or",
        group(
            "and",
            rule("contact.country", "in", ["DE"]),
            rule("contact.seniority", "equals", "vp"),
        ),
        rule("account.industry", "equals", "Software"),
    ),
)
NESTED_NAMES = {"Ada", "Bea", "Cem", "Dov"}


def segment_form(client, url: str = "/segments/new", **values: Any):
    form = client.get(url).forms["segment-form"]
    for name, value in values.items():
        form[name] = json.dumps(value) if name == "definition" else value
    return form.submit(expect_errors=True)


def make_segment(dbsession, user, definition=NESTED, **values) -> Segment:
    values = {"name": "Nested", "entity_type": "contact", "definition": definition, **values}
    segment = services.create_segment(
        dbsession, Actor.system("test"), Viewer(user.id, user.role), values
    )
    dbsession.commit()
    return segment


def make_list(dbsession, user, record_ids, entity="contact", **values) -> AudienceList:
    values = {"name": "Picked", "entity_type": entity, **values}
    audience_list = services.create_list(
        dbsession, Actor.system("test"), Viewer(user.id, user.role), values, record_ids
    )
    dbsession.commit()
    return audience_list


def names_in_table(res) -> set[str]:
    rows = html(res).select(".data-table tbody tr[data-id] td:nth-of-type(2)")
    return {row.get_text(strip=True).split()[0] for row in rows}


# ---------------------------------------------------------------- navigation and access


@pytest.mark.parametrize(
    "role,visible",
    [
        (Role.CAMPAIGN_MANAGER, True),
        (Role.DATA_STEWARD, True),
        (Role.MANAGER, True),
        (Role.QA_REVIEWER, False),
        (Role.AGENT, False),
    ],
)
def test_the_sidebar_shows_segments_and_lists_to_roles_that_read_audiences(
    web_login, role, visible
):
    client = web_login(role)
    sidebar = html(client.get("/")).select_one(".sidebar")
    labels = {a.get_text(" ", strip=True).split(" g ")[0] for a in sidebar.select("a.nav-item")}
    assert ({"Segments", "Lists"} <= labels) is visible
    for path in ("/segments", "/lists"):
        assert client.get(path).status_int == (200 if visible else 403)


def test_a_role_that_only_reads_audiences_sees_no_writing_controls_and_cannot_write(
    web_login, dbsession, marketer, people
):
    segment = make_segment(dbsession, marketer.user, visibility_scope="global")
    steward = web_login(Role.DATA_STEWARD)
    page = html(steward.get(f"/segments/{segment.id}"))
    assert page.select_one("h1").get_text(strip=True).startswith("Nested")
    assert not page.find("a", string="Edit")
    assert page.select_one("#convert") is None
    assert not html(steward.get("/segments")).find("a", string="New segment")
    assert steward.get("/segments/new").status_int == 403
    for path in (
        "/segments/new",
        f"/segments/{segment.id}/edit",
        f"/segments/{segment.id}/refresh",
        f"/segments/{segment.id}/convert",
        f"/segments/{segment.id}/delete",
        "/lists/new",
    ):
        assert steward.post(path, {"name": "x"}).status_int == 403, path
    assert count(dbsession, AudienceList) == 0
    assert dbsession.get(Segment, segment.id).deleted_at is None


def test_others_private_segments_and_lists_do_not_exist_for_you(
    web_login, dbsession, marketer, people
):
    mine = make_segment(dbsession, marketer.user, name="Mine")
    shared = make_segment(dbsession, marketer.user, name="Shared", visibility_scope="team")
    their_list = make_list(dbsession, marketer.user, [], name="Private list")
    other = web_login(Role.CAMPAIGN_MANAGER)
    index = html(other.get("/segments")).select_one(".segments-table")
    assert "Shared" in index.get_text() and "Mine" not in index.get_text()
    assert other.get(f"/segments/{mine.id}").status_int == 404
    assert other.get(f"/lists/{their_list.id}").status_int == 404
    assert other.get(f"/segments/{shared.id}").status_int == 200


# ---------------------------------------------------------------- the segments index


def test_the_segments_index_shows_counts_tags_visibility_and_filters_by_entity(
    dbsession, marketer, people
):
    make_segment(dbsession, marketer.user, tags=["abm", "q3"], visibility_scope="team")
    make_segment(
        dbsession,
        marketer.user,
        name="Software accounts",
        entity_type="account",
        definition=group("and", rule("account.industry", "equals", "Software")),
    )
    res = marketer.get("/segments")
    rows = html(res).select(".segments-table tbody tr[data-id]")
    assert len(rows) == 2
    first = rows[0]  # by name: "Nested" before "Software accounts"
    assert first.select_one("[data-count]").get_text(strip=True) == "4"
    assert [t.get_text() for t in first.select(".tag")] == ["abm", "q3"]
    assert first.select_one(".visibility-team") is not None
    assert first["data-href"] == f"/segments/{first['data-id']}"
    accounts = html(marketer.get("/segments?entity=account")).select(".segments-table tbody tr")
    assert [r.a.get_text() for r in accounts] == ["Software accounts"]
    searched = html(marketer.get("/segments?q=softw")).select(".segments-table tbody tr[data-id]")
    assert len(searched) == 1


# ---------------------------------------------------------------- the segment form


def test_creating_a_segment_with_a_nested_definition(dbsession, marketer, people):
    res = segment_form(
        marketer,
        name="  German VPs  or software ",
        tags="abm, Q3",
        visibilityScope="team",
        definition=NESTED,
    )
    assert res.status_int == 303, res.text
    segment = dbsession.scalars(select(Segment)).one()
    assert segment.name == "German VPs or software"
    assert segment.definition == NESTED
    assert (segment.tags, segment.visibility_scope, segment.is_active) == (
        ["abm", "q3"],
        "team",
        True,
    )
    assert segment.record_count_cache == 4
    assert res.location.endswith(f"/segments/{segment.id}")
    page = res.follow()
    assert "4 contacts match" in page.text
    assert page.html.select_one("[data-count-cache]").get_text(strip=True) == "4"
    audit = dbsession.scalars(
        select(AuditEvent).where(AuditEvent.entity == "segment", AuditEvent.entity_id == segment.id)
    ).all()
    assert {e.source for e in audit} == {"ui"}


def test_the_form_shows_errors_beside_fields_and_at_the_rules_and_saves_nothing(
    dbsession, marketer, people
):
    definition = group(
        "and",
        rule("contact.country", "in", ["DE"]),
        group("or", rule("contact.created_at", "before", "2024-02-30"), rule("nope", "equals", 1)),
    )
    res = segment_form(marketer, name="", tags="ok, " + "x" * 120, definition=definition)
    assert res.status_int == 400
    assert field_error(res, "name") == "Required"
    assert "100 characters" in field_error(res, "tags")
    assert builder_errors(res) == {}  # the schema refuses first; rules are checked next
    res = segment_form(marketer, name="Bad rules", definition=definition)
    assert res.status_int == 400
    assert builder_errors(res) == {
        "definition.rules[1].rules[0].value": "must be a date (YYYY-MM-DD)",
        "definition.rules[1].rules[1].field": "is not a known field for contacts",
    }
    # What was typed comes back, the definition included.
    form = res.forms["segment-form"]
    assert form["name"].value == "Bad rules"
    assert json.loads(form["definition"].value) == definition
    assert "Nothing was saved" in res.text
    assert count(dbsession, Segment) == 0


def test_a_definition_that_is_not_json_is_refused(dbsession, marketer):
    form = marketer.get("/segments/new").forms["segment-form"]
    form["name"] = "Broken"
    form["definition"] = "{not json"
    res = form.submit(expect_errors=True)
    assert res.status_int == 400
    assert "build it again" in builder_errors(res)["definition"]
    assert count(dbsession, Segment) == 0


def test_forms_without_the_csrf_token_are_refused(dbsession, marketer, people):
    res = marketer.post(
        "/segments/new", {"name": "x", "entityType": "contact", "definition": "{}"}, csrf=False
    )
    assert res.status_int == 400
    res = marketer.post("/lists/new", {"name": "x", "entityType": "contact"}, csrf=False)
    assert res.status_int == 400
    assert count(dbsession, Segment) == count(dbsession, AudienceList) == 0


def test_editing_a_segment_recounts_and_an_unchanged_form_changes_nothing(
    dbsession, marketer, people
):
    segment = make_segment(dbsession, marketer.user)
    url = f"/segments/{segment.id}/edit"
    form = marketer.get(url).forms["segment-form"]
    assert json.loads(form["definition"].value) == NESTED
    assert form["isActive"].checked
    res = form.submit()
    assert res.status_int == 303
    assert "Nothing changed" in res.follow().text
    only_germany = group("and", rule("contact.country", "equals", "DE"), NESTED)
    res = segment_form(marketer, url, definition=only_germany, isActive=False)
    assert res.status_int == 303, res.text
    dbsession.refresh(segment)
    assert segment.record_count_cache == 3
    assert segment.is_active is False


def test_a_team_segment_is_changed_by_its_owner_and_managers_only(
    web_login, dbsession, marketer, people
):
    segment = make_segment(dbsession, marketer.user, visibility_scope="team")
    other = web_login(Role.CAMPAIGN_MANAGER)
    res = segment_form(other, f"/segments/{segment.id}/edit", name="Renamed")
    assert res.status_int == 403
    assert "Only the owner" in res.text
    manager = web_login(Role.MANAGER)
    assert segment_form(manager, f"/segments/{segment.id}/edit", name="Renamed").status_int == 303
    dbsession.refresh(segment)
    assert segment.name == "Renamed"


# ---------------------------------------------------------------- the live count


def preview(client, body: Any, **headers: str):
    headers = {"X-CSRF-Token": client.csrf_token, **headers}
    return client.testapp.post(
        PREVIEW,
        json.dumps(body),
        headers={"Content-Type": "application/json", **headers},
        expect_errors=True,
    )


def test_the_live_count_is_the_services_count_with_sample_records(dbsession, marketer, people):
    res = preview(marketer, {"entityType": "contact", "definition": NESTED})
    assert res.status_int == 200, res.text
    assert res.json["count"] == services.count_matching(dbsession, "contact", NESTED) == 4
    sample = res.json["sample"]
    assert {s["label"].split()[0] for s in sample} == NESTED_NAMES
    ada = people["contacts"]["Ada"]
    assert {"id": ada.id, "href": f"/contacts/{ada.id}"}.items() <= sample[0].items()
    acme = group("and", rule("account.name", "contains", "acme"))
    accounts = preview(marketer, {"entityType": "account", "definition": acme})
    assert accounts.json["count"] == 1
    assert accounts.json["sample"][0]["label"] == "Acme Software"


def test_the_live_count_names_the_paths_of_bad_rules(marketer, people):
    bad = group("and", group("or", rule("contact.country", "in", ["DE", 7])))
    res = preview(marketer, {"entityType": "contact", "definition": bad})
    assert res.status_int == 400
    assert res.json["error"]["fields"] == {
        "definition.rules[0].rules[0].value[1]": "must be one of "
        + res.json["error"]["fields"]["definition.rules[0].rules[0].value[1]"].split("one of ")[1]
    }
    for body in ({"entityType": "lead", "definition": bad}, [], {"definition": "x"}):
        res = preview(marketer, body)
        assert res.status_int == 400
        assert res.json["error"]["fields"]
    res = marketer.testapp.post(
        PREVIEW, "not json", headers={"X-CSRF-Token": marketer.csrf_token}, expect_errors=True
    )
    assert res.status_int == 400
    assert res.json["error"]["fields"] == {"body": "must be a JSON object"}


def test_the_live_count_needs_the_csrf_header_and_the_permission(web_login, marketer):
    body = {"entityType": "contact", "definition": group("and")}
    res = marketer.testapp.post(
        PREVIEW, json.dumps(body), headers={"Content-Type": "application/json"}, expect_errors=True
    )
    assert res.status_int == 400
    assert preview(web_login(Role.AGENT), body).status_int == 403


def test_the_form_page_carries_the_builder_registry_and_pickers(dbsession, marketer, people):
    make_list(dbsession, marketer.user, [], name="Account list", entity="account")
    make_segment(dbsession, marketer.user, name="Nested")
    services.create_saved_filter(
        dbsession,
        Actor.system("test"),
        Viewer(marketer.user.id, marketer.user.role),
        {"name": "Germany", "entity_type": "contact", "definition": group("and")},
    )
    page = html(marketer.get("/segments/new"))
    config = json.loads(page.select_one("script[data-builder-config]").string)
    contact_keys = {f["key"] for c in config["fields"]["contact"] for f in c["fields"]}
    assert {"contact.country", "account.industry", "list", "account.list"} <= contact_keys
    assert config["previewUrl"] == PREVIEW
    assert config["lists"] == [
        {"id": config["lists"][0]["id"], "name": "Account list", "entityType": "account"}
    ]
    assert [s["name"] for s in config["segments"]] == ["Nested"]
    assert [f["name"] for f in config["savedFilters"]] == ["Germany"]
    assert page.select_one("select[data-load-saved]") is not None
    # The builder's keys are in the shortcut sheet of this page.
    assert "Add a group" in page.select_one("#shortcuts").get_text()


# ---------------------------------------------------------------- a segment's page


def test_a_segments_page_says_its_definition_in_words_with_a_sample(dbsession, marketer, people):
    segment = make_segment(dbsession, marketer.user)
    page = html(marketer.get(f"/segments/{segment.id}"))
    summary = page.select_one(".definition-summary").get_text(" ", strip=True)
    assert "all of Tags has any of pages any of all of Country is any of DE" in summary
    assert "Account: industry is Software" in summary
    sample = {a.get_text().split()[0] for a in page.select("#sample .sample-records a")}
    assert sample == NESTED_NAMES


def test_refresh_now_recounts_the_segment(dbsession, marketer, people, make_contact):
    segment = make_segment(dbsession, marketer.user)
    make_contact(first_name="Fay", country="DE", seniority="vp", tags=["pages"])
    res = marketer.post(f"/segments/{segment.id}/refresh")
    assert res.status_int == 303
    assert "Counted 5 contacts now." in res.follow().text
    dbsession.refresh(segment)
    assert segment.record_count_cache == 5


def test_convert_to_list_snapshots_the_members_and_opens_the_list(dbsession, marketer, people):
    segment = make_segment(dbsession, marketer.user)
    res = marketer.post(f"/segments/{segment.id}/convert", {"name": "Snapshot"})
    assert res.status_int == 303, res.text
    audience_list = dbsession.scalars(select(AudienceList)).one()
    assert res.location.endswith(f"/lists/{audience_list.id}")
    assert (audience_list.name, audience_list.source_type, audience_list.member_count) == (
        "Snapshot",
        "segment",
        4,
    )
    page = res.follow()
    assert "Saved 4 contacts of “Nested” as the list “Snapshot”." in page.text
    assert names_in_table(page) == NESTED_NAMES
    assert page.html.select_one(".list-facts a")["href"] == f"/segments/{segment.id}"


def test_deleting_a_segment_another_uses_is_refused(dbsession, marketer, people):
    inner = make_segment(dbsession, marketer.user, name="Inner")
    uses_inner = group("and", rule("segment", "in_segment", inner.id))
    make_segment(dbsession, marketer.user, name="Outer", definition=uses_inner)
    res = marketer.post(f"/segments/{inner.id}/delete")
    assert res.status_int == 303
    assert "segment" in res.follow().html.select_one(".flash-error").get_text()
    dbsession.refresh(inner)
    assert inner.deleted_at is None
    outer = dbsession.scalars(select(Segment).where(Segment.name == "Outer")).one()
    res = marketer.post(f"/segments/{outer.id}/delete")
    assert res.location.endswith("/segments")
    dbsession.refresh(outer)
    assert outer.deleted_at is not None


# ---------------------------------------------------------------- lists


def list_form(client, **values: str):
    form = client.get("/lists/new").forms["list-form"]
    for name, value in values.items():
        form[name] = value
    return form.submit(expect_errors=True)


def test_creating_a_list_from_pasted_ids(dbsession, marketer, people):
    ids = [c.id for c in people["contacts"].values()][:3]
    res = list_form(
        marketer, name="Pasted", tags="fair", recordIds=f"{ids[0]}, {ids[1]}\n{ids[2]} {ids[0]}"
    )
    assert res.status_int == 303, res.text
    audience_list = dbsession.scalars(select(AudienceList)).one()
    assert (audience_list.source_type, audience_list.member_count, audience_list.tags) == (
        "manual_upload",
        3,
        ["fair"],
    )
    assert "with 3 members" in res.follow().text


@pytest.mark.parametrize(
    "pasted,message",
    [
        ("12, abc", "“abc” is not a record id"),
        ("999999", "no contact with id 999999"),
    ],
)
def test_bad_ids_are_shown_beside_the_field_and_nothing_is_saved(
    dbsession, marketer, people, pasted, message
):
    res = list_form(marketer, name="Bad", recordIds=pasted)
    assert res.status_int == 400
    assert message in field_error(res, "recordIds")
    assert res.forms["list-form"]["recordIds"].value == pasted
    assert count(dbsession, AudienceList) == 0


def test_a_list_without_a_name_is_refused(dbsession, marketer):
    res = list_form(marketer, name="  ")
    assert res.status_int == 400
    assert field_error(res, "name") == "Required"
    assert count(dbsession, AudienceList) == 0


def test_a_lists_page_shows_only_its_members_in_a_data_table(dbsession, marketer, people):
    contacts = people["contacts"]
    audience_list = make_list(dbsession, marketer.user, [contacts["Ada"].id, contacts["Eli"].id])
    make_list(dbsession, marketer.user, [contacts["Bea"].id], name="Other")
    res = marketer.get(f"/lists/{audience_list.id}")
    assert res.status_int == 200
    assert names_in_table(res) == {"Ada", "Eli"}
    page = res.html
    table = page.select_one(".data-table")
    assert table["data-total"] == "2"
    # The table's own links (search, sort, columns) stay on this list.
    assert page.select_one("form.table-search")["action"] == f"/lists/{audience_list.id}"
    searched = marketer.get(f"/lists/{audience_list.id}?q=Eli")
    assert names_in_table(searched) == {"Eli"}
    assert "Remove from list" in page.select_one("[data-bulk-bar]").get_text()
    assert page.select_one("[data-member-count]").get_text(strip=True) == "2"


def test_a_lists_member_pages_are_keyset_paged(dbsession, marketer, make_contact):
    ids = [make_contact(last_name=f"Member{n:02d}").id for n in range(30)]
    audience_list = make_list(dbsession, marketer.user, ids)
    first = marketer.get(f"/lists/{audience_list.id}?size=25")
    assert len(first.html.select("tbody tr[data-id]")) == 25
    next_link = first.html.select_one("a[rel=next]")["href"]
    assert next_link.startswith(f"/lists/{audience_list.id}?")
    second = marketer.get(next_link)
    seen = {tr["data-id"] for tr in first.html.select("tbody tr[data-id]")}
    rest = {tr["data-id"] for tr in second.html.select("tbody tr[data-id]")}
    assert len(rest) == 5 and not seen & rest


def test_adding_members_by_pasted_ids(dbsession, marketer, people):
    contacts = people["contacts"]
    audience_list = make_list(dbsession, marketer.user, [contacts["Ada"].id])
    res = marketer.post(
        f"/lists/{audience_list.id}/members/add",
        {"recordIds": f"{contacts['Ada'].id} {contacts['Bea'].id}"},
    )
    assert res.status_int == 303
    assert "Added 1 contacts (now 2); 1 were members already." in res.follow().text
    bad = marketer.post(f"/lists/{audience_list.id}/members/add", {"recordIds": "7777777"})
    assert bad.status_int == 400
    assert "no contact with id 7777777" in field_error(bad, "recordIds")
    assert bad.html.select_one("#add-members").has_attr("open")
    dbsession.refresh(audience_list)
    assert audience_list.member_count == 2


def test_removing_the_selected_members(dbsession, marketer, people):
    contacts = people["contacts"]
    ids = [c.id for c in contacts.values()]
    audience_list = make_list(dbsession, marketer.user, ids)
    url = f"/lists/{audience_list.id}"
    res = marketer.post(
        f"{url}/members/remove",
        {"ids": f"{contacts['Ada'].id},{contacts['Bea'].id}", "came_from": url},
    )
    assert res.status_int == 303 and res.location.endswith(url)
    assert "Removed 2 contacts" in res.follow().text
    # All matching the quick filter, less one excluded.
    res = marketer.post(
        f"{url}/members/remove",
        {"all_matching": "1", "q": "Person", "exclude": str(contacts["Eli"].id)},
    )
    assert res.status_int == 303
    in_list = select(ListMember.record_id).where(ListMember.list_id == audience_list.id)
    members = set(dbsession.scalars(in_list))
    assert members == {contacts["Eli"].id}
    empty = marketer.post(f"{url}/members/remove", {"ids": ""})
    assert "select at least one record" in empty.follow().text


def test_deleting_a_list(dbsession, marketer, people):
    audience_list = make_list(dbsession, marketer.user, [])
    res = marketer.post(f"/lists/{audience_list.id}/delete")
    assert res.location.endswith("/lists")
    dbsession.refresh(audience_list)
    assert audience_list.deleted_at is not None


@pytest.mark.parametrize("kind", ["segments", "lists"])
def test_a_deleted_segment_or_list_is_shown_apart_and_restored(dbsession, marketer, people, kind):
    if kind == "segments":
        item = make_segment(dbsession, marketer.user, name="Oops")
        make_segment(dbsession, marketer.user, name="Kept")
    else:
        item = make_list(dbsession, marketer.user, [], name="Oops")
        make_list(dbsession, marketer.user, [], name="Kept")
    res = marketer.delete_and_restore(f"/{kind}", item.id, kept="kept")
    assert res.status_int == 303
    assert res.location.endswith(f"/{kind}/{item.id}")
    opened = res.follow()
    assert "Restored" in opened.html.select_one(".flash-success").get_text()
    dbsession.refresh(item)
    assert item.deleted_at is None
    empty = marketer.get(f"/{kind}?deleted=only")
    assert empty.html.select(".data-table tbody tr[data-id]") == []
    assert f"No deleted {kind}" in empty.text


def test_a_reader_sees_deleted_audiences_without_a_restore_button(
    dbsession, marketer, people, web_login
):
    segment = make_segment(dbsession, marketer.user, name="Shared", visibility_scope="global")
    marketer.post(f"/segments/{segment.id}/delete")
    reader = web_login(Role.DATA_STEWARD)
    page = reader.get("/segments?deleted=only")
    assert [r["data-id"] for r in page.html.select("tbody tr[data-id]")] == [str(segment.id)]
    assert page.html.select("[data-restore]") == []
    assert reader.post(f"/segments/{segment.id}/restore", status=403).status_int == 403


def test_the_lists_index_shows_source_count_and_snapshot(dbsession, marketer, people):
    segment = make_segment(dbsession, marketer.user)
    services.convert_segment_to_list(
        dbsession,
        Actor.system("test"),
        Viewer(marketer.user.id, marketer.user.role),
        segment,
        {"name": "From segment"},
    )
    dbsession.commit()
    row = html(marketer.get("/lists")).select_one(".lists-table tbody tr[data-id]")
    cells = [td.get_text(" ", strip=True) for td in row.select("td")]
    assert cells[:3] == ["From segment", "Contacts", "from a segment"]
    assert cells[4] == "4"
    assert row.select_one("time") is not None


def test_a_list_made_from_a_domain_set_links_to_it(dbsession, marketer):
    audience_list = make_list(
        dbsession,
        marketer.user,
        None,
        entity="account",
        source_type="domain_set",
        source_ref={"domainSetId": 7},
    )
    source = html(marketer.get(f"/lists/{audience_list.id}")).select_one(".list-facts a")
    assert (source["href"], source.get_text()) == ("/domain-sets/7", "from a domain set")
