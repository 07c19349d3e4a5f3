"""The audience API: preview, saved filters, segments (refresh, convert to list, the periodic
recount) and lists with their members; visibility, permissions and bad input."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from pivotal_core.audience.models import ListMember, Segment
from pivotal_core.audience.tasks import REFRESH_TASK
from pivotal_core.audit.models import AuditEvent
from pivotal_core.authnz.permissions import Role
from pivotal_core.jobs.queue import registered_task

API = "/api/v1"
PREVIEW = f"{API}/segments/preview"


def rule(field: str, operator: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "operator": operator, "value": value}


def group(op: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {"op": op, "rules": list(rules)}


def error_fields(res, status: int = 400) -> dict[str, str]:
    assert res.status_int == status, res.text
    error = res.json["error"]
    assert set(error) == {"code", "message", "fields"}
    assert error["message"]
    return error["fields"]


@pytest.fixture
def crowd(make_account, make_contact):
    acme = make_account(name="Acme", domain="acme.com", industry="Software", employee_count=120)
    make_account(name="Tiny", domain="tiny.io", industry="Retail", employee_count=3)
    contacts = {
        "ada": make_contact(first_name="Ada", email="ada@acme.com", country="DE", tags=["vip"]),
        "bob": make_contact(first_name="Bob", email="bob@acme.com", country="US"),
        "cy": make_contact(first_name="Cy", email="cy@tiny.io", country="DE"),
        "di": make_contact(first_name="Di", email="di@nowhere.org"),
    }
    return {"acme": acme, **contacts}


GERMANS = group("and", rule("contact.country", "equals", "de"))


# --------------------------------------------------------------------------
# Preview
# --------------------------------------------------------------------------


def test_preview_counts_live_and_samples_ids(admin, crowd):
    definition = group(
        "or",
        group("and", rule("account.industry", "equals", "SOFTWARE"), GERMANS),
        rule("contact.email", "ends_with", "@tiny.io"),
    )
    res = admin.post(PREVIEW, {"entityType": "contact", "definition": definition, "sampleSize": 1})
    assert res.status_int == 200, res.text
    assert res.json == {"entityType": "contact", "count": 2, "sampleIds": [crowd["ada"].id]}
    res = admin.post(PREVIEW, {"entityType": "account", "definition": group("and")})
    assert res.json["count"] == 2
    assert len(res.json["sampleIds"]) == 2
    nobody = group("and", rule("contact.email", "ends_with", "@nowhere.invalid"))
    res = admin.post(PREVIEW, {"entityType": "contact", "definition": nobody})
    assert (res.json["count"], res.json["sampleIds"]) == (0, [])


@pytest.mark.parametrize(
    "definition,path,message",
    [
        (
            group("and", rule("contact.shoe_size", "equals", 9)),
            "definition.rules[0].field",
            "known",
        ),
        (
            group("and", GERMANS, rule("contact.email", "gt", 3)),
            "definition.rules[1].operator",
            "must be one of",
        ),
        (
            group("or", group("and", rule("account.employee_count", "gt", "many"))),
            "definition.rules[0].rules[0].value",
            "must be a number",
        ),
        (group("and", rule("list", "in_list", 424242)), "definition.rules[0].value", "no list"),
        (
            group("and", rule("segment", "in_segment", [424242])),
            "definition.rules[0].value",
            "no segment",
        ),
        ({"op": "and", "rules": [], "limit": 3}, "definition.limit", "not a known key"),
        ("everyone", "definition", "must be an object"),
    ],
)
def test_preview_refuses_bad_definitions_naming_the_path(admin, definition, path, message):
    fields = error_fields(admin.post(PREVIEW, {"entityType": "contact", "definition": definition}))
    assert path in fields, fields
    assert message in fields[path]


def test_preview_limits_depth_and_size(admin):
    deep = GERMANS
    for _ in range(8):
        deep = group("and", deep)
    fields = error_fields(admin.post(PREVIEW, {"entityType": "contact", "definition": deep}))
    assert list(fields) == ["definition" + ".rules[0]" * 8]
    assert "nested too deeply" in fields["definition" + ".rules[0]" * 8]
    wide = group("or", *[rule("contact.first_name", "equals", f"n{i}") for i in range(250)])
    fields = error_fields(admin.post(PREVIEW, {"entityType": "contact", "definition": wide}))
    assert fields == {"definition.rules[199]": "the filter has more than 200 rules and groups"}


def test_preview_refuses_a_bad_envelope(admin):
    fields = error_fields(admin.post(PREVIEW, {"entityType": "lead", "definition": group("and")}))
    assert "entityType" in fields
    fields = error_fields(admin.post(PREVIEW, {"definition": group("and"), "sampleSize": 500}))
    assert set(fields) == {"entityType", "sampleSize"}
    fields = error_fields(admin.post(PREVIEW, body=b"[" * 100_000))
    assert fields == {"body": "is nested too deeply"}
    fields = error_fields(admin.post(PREVIEW, body=b"{nope"))
    assert "body" in fields


@pytest.mark.parametrize("role,status", [(Role.DATA_STEWARD, 200), (Role.AGENT, 403)])
def test_preview_needs_audience_read(login, role, status):
    res = login(role).post(PREVIEW, {"entityType": "contact", "definition": group("and")})
    assert res.status_int == status


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=12)
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)
FIELD_NAMES = st.sampled_from(
    [
        "contact.email",
        "account.employee_count",
        "contact.tags",
        "contact.created_at",
        "list",
        "segment",
        "compliance.suppressed",
        "contact.seniority",
        "contact.has_email",
        "account.custom.nope",
        "nope",
    ]
)
OPERATOR_NAMES = st.sampled_from(
    [
        "equals",
        "not_in",
        "between",
        "has_any",
        "within_last_days",
        "is_empty",
        "in_list",
        "in_segment",
        "suppressed",
        "contains",
        "gt",
        "before",
        "bogus",
    ]
)
PLAUSIBLE = st.one_of(
    st.sampled_from(["a", "%", "vip", "2026-01-31", "DE", "email", "manager", "", "\x00"]),
    st.integers(-3, 3),
    st.sampled_from([1.5, 10**20, float("inf"), True, None]),
    st.lists(st.sampled_from(["a", "2026-01-01", 1, 5, None]), max_size=3),
)
RULES = st.fixed_dictionaries(
    {"field": FIELD_NAMES, "operator": OPERATOR_NAMES},
    optional={"value": st.one_of(*[PLAUSIBLE] * 4, JSON)},
)
GROUP_OPS = st.sampled_from(["and", "or", "not"] * 3 + ["xor", None, 1, ["and"]])
DSL_SHAPED = st.recursive(
    RULES,
    lambda children: st.fixed_dictionaries(
        {"op": GROUP_OPS, "rules": st.lists(st.one_of(children, JSON_SCALARS), max_size=4)}
    ),
    max_leaves=15,
).map(lambda node: node if "op" in node else {"op": "and", "rules": [node]})
PATH = re.compile(r"^(body|entityType|sampleSize|definition((\.[^.\[]*)|\[\d+\])*)$")
FUZZ = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def assert_400_with_paths_or_200(admin, body: Any, envelope_ok: bool) -> None:
    raw = json.dumps(body).encode()  # NaN and Infinity included, as Python's parser accepts
    res = admin.post(PREVIEW, body=raw)
    assert res.status_int in (200, 400), res.text
    if res.status_int == 200:
        assert isinstance(res.json["count"], int)
        assert isinstance(res.json["sampleIds"], list)
        return
    error = res.json["error"]
    assert error["code"] == "validation_failed"
    assert error["fields"]
    assert all(message for message in error["fields"].values())
    if envelope_ok:
        for path in error["fields"]:
            assert PATH.match(path), path


@FUZZ
@given(
    body=JSON
    | st.fixed_dictionaries(
        {"entityType": st.sampled_from(["contact", "account"]) | JSON_SCALARS, "definition": JSON}
    )
)
def test_fuzz_preview_with_arbitrary_json(admin, body):
    assert_400_with_paths_or_200(admin, body, envelope_ok=False)


@FUZZ
@given(entity=st.sampled_from(["contact", "account"]), definition=DSL_SHAPED | JSON)
def test_fuzz_preview_with_filter_shaped_json(admin, entity, definition):
    """Definitions that look like filters get past the envelope into the DSL's checks."""
    body = {"entityType": entity, "definition": definition}
    assert_400_with_paths_or_200(admin, body, envelope_ok=True)


# --------------------------------------------------------------------------
# Saved filters
# --------------------------------------------------------------------------


def test_saved_filter_crud(admin, crowd, dbsession):
    body = {"name": "  Germans  ", "entityType": "contact", "definition": GERMANS}
    res = admin.post(f"{API}/saved-filters", body)
    assert res.status_int == 201, res.text
    saved = res.json
    assert saved["name"] == "Germans"
    assert saved["visibilityScope"] == "private"
    assert saved["ownerId"] == admin.user.id
    assert saved["definition"] == GERMANS
    url = f"{API}/saved-filters/{saved['id']}"
    assert admin.get(url).json == saved
    res = admin.patch(url, {"name": "DE", "visibilityScope": "team"})
    assert res.status_int == 200, res.text
    assert (res.json["name"], res.json["visibilityScope"]) == ("DE", "team")
    listed = admin.get(f"{API}/saved-filters", {"entityType": "contact", "q": "d"}).json
    assert [item["id"] for item in listed["items"]] == [saved["id"]]
    assert admin.get(f"{API}/saved-filters", {"entityType": "account"}).json["items"] == []
    fields = error_fields(admin.patch(url, {"definition": group("and", rule("x", "equals", 1))}))
    assert fields == {"definition.rules[0].field": "is not a known field for contacts"}
    fields = error_fields(admin.patch(url, {"entityType": "account"}))
    assert "definition.rules[0].field" in fields, "the definition is checked for the new entity"
    fields = error_fields(admin.patch(url, {"name": " \t", "visibilityScope": None}))
    assert fields == {"name": "may not be empty", "visibilityScope": "may not be empty"}
    assert admin.delete(url).status_int == 200
    assert admin.get(url).status_int == 404
    events = dbsession.scalars(
        select(AuditEvent.action).where(
            AuditEvent.entity == "saved_filter", AuditEvent.entity_id == saved["id"]
        )
    ).all()
    assert {"create", "update", "delete"} == set(events)


def test_saved_filter_refuses_bad_input(admin):
    res = admin.post(f"{API}/saved-filters", {"name": "x", "entityType": "contact"})
    assert error_fields(res) == {"definition": "Required"}
    body = {"name": "x", "entityType": "contact", "definition": GERMANS, "colour": "red"}
    assert error_fields(admin.post(f"{API}/saved-filters", body)) == {
        "colour": "is not a known field"
    }
    body = {"name": "x", "entityType": "contact", "definition": GERMANS, "description": "\x00"}
    assert error_fields(admin.post(f"{API}/saved-filters", body)) == {
        "description": "must not contain NUL characters or invalid Unicode"
    }
    res = admin.post(f"{API}/saved-filters", {**body, "name": "a\tb\x00", "description": None})
    assert res.json["name"] == "a b", "names are single-line text"


# --------------------------------------------------------------------------
# Visibility and permissions, for every kind of audience
# --------------------------------------------------------------------------

KINDS = {
    "saved-filters": {"definition": GERMANS},
    "segments": {"definition": GERMANS},
    "lists": {},
}


@pytest.mark.parametrize("plural", list(KINDS))
def test_a_private_audience_is_invisible_to_other_users(login, plural):
    owner, other = login(Role.CAMPAIGN_MANAGER), login(Role.ADMIN)
    body = {"name": "Mine", "entityType": "contact", **KINDS[plural]}
    created = owner.post(f"{API}/{plural}", body)
    assert created.status_int == 201, created.text
    url = f"{API}/{plural}/{created.json['id']}"
    for res in (other.get(url), other.patch(url, {"name": "Theirs"}), other.delete(url)):
        assert error_fields(res, 404) == {}
    assert other.get(f"{API}/{plural}").json["items"] == []
    assert owner.get(f"{API}/{plural}").json["items"][0]["name"] == "Mine"


@pytest.mark.parametrize("plural", list(KINDS))
def test_team_audiences_are_changed_by_owner_and_managers(login, plural):
    owner, colleague, manager = (
        login(Role.CAMPAIGN_MANAGER),
        login(Role.CAMPAIGN_MANAGER),
        login(Role.MANAGER),
    )
    body = {"name": "Ours", "entityType": "contact", "visibilityScope": "team", **KINDS[plural]}
    url = f"{API}/{plural}/{owner.post(f'{API}/{plural}', body).json['id']}"
    assert colleague.get(url).status_int == 200
    res = colleague.patch(url, {"name": "Mine now"})
    assert res.status_int == 403
    assert "team" in res.json["error"]["message"]
    assert manager.patch(url, {"name": "Managed"}).json["name"] == "Managed"
    assert owner.patch(url, {"visibilityScope": "global"}).status_int == 200
    assert colleague.patch(url, {"name": "Everyone's"}).status_int == 200
    res = colleague.patch(url, {"visibilityScope": "private"})
    assert res.status_int == 403, "only the owner or a manager says who sees it"
    assert colleague.delete(url).status_int == 200


@pytest.mark.parametrize("plural", list(KINDS))
def test_roles_without_audience_write_are_refused(login, plural):
    steward = login(Role.DATA_STEWARD)
    body = {"name": "x", "entityType": "contact", **KINDS[plural]}
    assert error_fields(steward.post(f"{API}/{plural}", body), 403) == {}
    assert steward.get(f"{API}/{plural}").status_int == 200
    assert login(Role.QA_REVIEWER).get(f"{API}/{plural}").status_int == 403


@pytest.mark.parametrize("plural", list(KINDS))
def test_a_deleted_audience_is_listed_apart_and_restored(login, dbsession, plural):
    owner, colleague = login(Role.CAMPAIGN_MANAGER), login(Role.CAMPAIGN_MANAGER)
    body = {"name": "Oops", "entityType": "contact", "visibilityScope": "team", **KINDS[plural]}
    created = owner.post(f"{API}/{plural}", body).json
    kept = owner.post(f"{API}/{plural}", {**body, "name": "Kept"}).json
    url = f"{API}/{plural}/{created['id']}"
    assert created["deletedAt"] is None
    deleted = owner.delete(url).json
    assert deleted["deletedAt"] is not None
    assert [i["name"] for i in owner.get(f"{API}/{plural}").json["items"]] == ["Kept"]
    gone = owner.get(f"{API}/{plural}", {"deleted": "only"}).json["items"]
    assert [(i["id"], i["deletedAt"]) for i in gone] == [(created["id"], deleted["deletedAt"])]
    res = owner.get(f"{API}/{plural}", {"deleted": "all"})
    assert error_fields(res) == {"deleted": '"all" is not one of exclude, only'}
    # A team audience is the owner's (and managers') to bring back, as to change.
    assert colleague.post(f"{url}/restore").status_int == 403
    assert login(Role.DATA_STEWARD).post(f"{url}/restore").status_int == 403
    assert error_fields(owner.post(f"{API}/{plural}/999999/restore"), 404) == {}
    restored = owner.post(f"{url}/restore")
    assert restored.status_int == 200, restored.text
    assert restored.json["deletedAt"] is None
    assert restored.json["name"] == "Oops"
    assert owner.get(url).status_int == 200
    assert owner.get(f"{API}/{plural}", {"deleted": "only"}).json["items"] == []
    again = owner.post(f"{url}/restore")
    assert (again.status_int, again.json["deletedAt"]) == (200, None), "a live one stays"
    assert owner.post(f"{API}/{plural}/{kept['id']}/restore").json["deletedAt"] is None
    events = dbsession.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.entity_id == created["id"], AuditEvent.action.in_(["delete", "restore"]))
        .order_by(AuditEvent.id)
    ).all()
    assert events == ["delete", "restore"], "one restore event, none for the no-op"


def test_a_private_deleted_audience_is_invisible_to_others_too(login):
    owner, admin = login(Role.CAMPAIGN_MANAGER), login(Role.ADMIN)
    body = {"name": "Mine", "entityType": "contact", "definition": GERMANS}
    url = f"{API}/segments/{owner.post(f'{API}/segments', body).json['id']}"
    owner.delete(url)
    assert admin.get(f"{API}/segments", {"deleted": "only"}).json["items"] == []
    assert error_fields(admin.post(f"{url}/restore"), 404) == {}


def test_a_restored_segment_is_counted_again(admin, crowd, make_contact, dbsession):
    segment = create_segment(admin, GERMANS)
    url = f"{API}/segments/{segment['id']}"
    admin.delete(url)
    make_contact(first_name="Late", country="DE")
    restored = admin.post(f"{url}/restore").json
    assert restored["recordCountCache"] == segment["recordCountCache"] + 1
    assert restored["lastRefreshedAt"] > segment["lastRefreshedAt"]


def test_a_restored_segment_whose_list_is_gone_keeps_its_error(admin, crowd, dbsession):
    doomed = admin.post(f"{API}/lists", {"name": "Doomed", "entityType": "contact"}).json
    segment = create_segment(admin, group("and", rule("list", "in_list", doomed["id"])))
    url = f"{API}/segments/{segment['id']}"
    admin.delete(url)
    assert admin.delete(f"{API}/lists/{doomed['id']}").status_int == 200
    restored = admin.post(f"{url}/restore")
    assert restored.status_int == 200, "restoring does not depend on the list"
    assert restored.json["deletedAt"] is None
    assert "list" in restored.json["refreshError"]
    assert restored.json["recordCountCache"] == segment["recordCountCache"]


# --------------------------------------------------------------------------
# Segments
# --------------------------------------------------------------------------


def create_segment(client, definition: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = {"name": "Segment", "entityType": "contact", "definition": definition, **extra}
    res = client.post(f"{API}/segments", body)
    assert res.status_int == 201, res.text
    return res.json


def test_segment_crud_counts_and_refresh(admin, crowd, make_contact):
    segment = create_segment(admin, GERMANS, tags=["Q3", "abm "], isActive=True)
    assert segment["entityType"] == "contact"
    assert segment["isActive"] is True
    assert segment["tags"] == ["abm", "q3"]
    assert segment["recordCountCache"] == 2
    assert segment["lastRefreshedAt"]
    url = f"{API}/segments/{segment['id']}"
    make_contact(email="eve@acme.com", country="DE")
    assert admin.get(url).json["recordCountCache"] == 2, "a cache until refreshed"
    refreshed = admin.post(f"{url}/refresh")
    assert refreshed.status_int == 200, refreshed.text
    assert refreshed.json["recordCountCache"] == 3
    assert refreshed.json["lastRefreshedAt"] >= segment["lastRefreshedAt"]
    res = admin.patch(
        url, {"definition": group("and", GERMANS, rule("contact.tags", "has_any", ["VIP"]))}
    )
    assert res.status_int == 200, res.text
    assert res.json["recordCountCache"] == 1
    assert admin.patch(url, {"isActive": False}).json["isActive"] is False
    assert error_fields(admin.patch(url, {"isActive": None})) == {"isActive": "may not be empty"}
    listed = admin.get(f"{API}/segments", {"sort": "-createdAt", "limit": 1}).json
    assert listed["items"][0]["id"] == segment["id"]
    assert error_fields(admin.get(f"{API}/segments", {"sort": "colour"})) == {
        "sort": "must be one of createdAt, id, name, updatedAt (prefix - to reverse)"
    }
    assert admin.delete(url).status_int == 200
    assert admin.get(url).status_int == 404
    assert admin.post(f"{url}/refresh").status_int == 404


def test_segment_of_segments_and_cycles(admin, crowd):
    germans = create_segment(admin, GERMANS)
    at_acme = create_segment(
        admin,
        group(
            "and",
            rule("segment", "in_segment", germans["id"]),
            rule("account.domain", "equals", "acme.com"),
        ),
    )
    assert at_acme["recordCountCache"] == 1
    res = admin.patch(
        f"{API}/segments/{germans['id']}",
        {"definition": group("or", GERMANS, rule("segment", "in_segment", at_acme["id"]))},
    )
    fields = error_fields(res, 422)
    assert fields == {
        "definition.rules[1].value": f"segment {at_acme['id']}: segment {germans['id']} would "
        "contain itself"
    }
    res = admin.patch(
        f"{API}/segments/{germans['id']}",
        {"definition": group("and", rule("segment", "in_segment", germans["id"]))},
    )
    assert error_fields(res, 422) == {
        "definition.rules[0].value": f"segment {germans['id']} would contain itself"
    }
    res = admin.delete(f"{API}/segments/{germans['id']}")
    assert error_fields(res, 409) == {"id": f"used by segment {at_acme['id']}"}
    accounts = create_segment(admin, group("and"), entityType="account")
    res = admin.post(
        PREVIEW,
        {
            "entityType": "contact",
            "definition": group("and", rule("segment", "in_segment", accounts["id"])),
        },
    )
    assert error_fields(res) == {
        "definition.rules[0].value": f"segment {accounts['id']} does not hold contacts"
    }


def test_convert_segment_to_list_snapshots_members(admin, crowd, dbsession):
    segment = create_segment(admin, GERMANS, tags=["abm"])
    res = admin.post(f"{API}/segments/{segment['id']}/convert-to-list", {"name": "DE snapshot"})
    assert res.status_int == 201, res.text
    snapshot = res.json
    assert snapshot["name"] == "DE snapshot"
    assert snapshot["sourceType"] == "segment"
    assert snapshot["sourceRef"] == {"segmentId": segment["id"], "definition": GERMANS}
    assert snapshot["snapshotTs"]
    assert snapshot["tags"] == ["abm"]
    assert snapshot["memberCount"] == 2
    members = admin.get(f"{API}/lists/{snapshot['id']}/members").json
    assert members == {"recordIds": sorted([crowd["ada"].id, crowd["cy"].id]), "next_cursor": None}
    unnamed = admin.post(f"{API}/segments/{segment['id']}/convert-to-list", {}).json
    assert unnamed["name"].startswith("Segment (")
    events = dbsession.scalars(
        select(AuditEvent.field).where(
            AuditEvent.entity == "list", AuditEvent.entity_id == snapshot["id"]
        )
    ).all()
    assert set(events) == {"*", "members"}, "its creation, then the members it got"


def test_periodic_refresh_counts_active_segments_and_records_errors(app, admin, crowd, dbsession):
    good = create_segment(admin, GERMANS)
    idle = create_segment(admin, GERMANS, isActive=False)
    broken = create_segment(admin, group("and"))
    doomed = admin.post(f"{API}/lists", {"name": "Doomed", "entityType": "contact"}).json
    assert admin.delete(f"{API}/lists/{doomed['id']}").status_int == 200
    # A definition naming a deleted list (the API refuses to delete a list a segment uses).
    dbsession.execute(
        Segment.__table__.update()
        .where(Segment.id == broken["id"])
        .values(definition=group("and", rule("list", "in_list", doomed["id"])))
    )
    dbsession.execute(
        Segment.__table__.update()
        .where(Segment.id.in_([good["id"], idle["id"], broken["id"]]))
        .values(record_count_cache=None)
    )
    dbsession.commit()
    registered_task(app.registry["pivotal.huey"], REFRESH_TASK)()
    dbsession.expire_all()
    assert dbsession.get(Segment, good["id"]).record_count_cache == 2
    assert dbsession.get(Segment, idle["id"]).record_count_cache is None
    failed = dbsession.get(Segment, broken["id"])
    assert failed.record_count_cache is None
    assert f"no list with id {doomed['id']}" in failed.refresh_error


# --------------------------------------------------------------------------
# Lists
# --------------------------------------------------------------------------


def test_list_with_members_by_ids_and_by_filter(admin, crowd, dbsession):
    ids = sorted(crowd[name].id for name in ("ada", "bob", "cy", "di"))
    res = admin.post(
        f"{API}/lists",
        {"name": "Picked", "entityType": "contact", "recordIds": [ids[0], ids[1], ids[0]]},
    )
    assert res.status_int == 201, res.text
    picked = res.json
    assert (picked["sourceType"], picked["memberCount"]) == ("selection", 2)
    url = f"{API}/lists/{picked['id']}"
    res = admin.post(f"{url}/members", {"recordIds": [ids[1], ids[2]]})
    assert res.json == {"added": 1, "memberCount": 3}
    res = admin.post(
        f"{url}/members", {"filter": group("and", rule("contact.first_name", "equals", "di"))}
    )
    assert res.json == {"added": 1, "memberCount": 4}
    page = admin.get(f"{url}/members", {"limit": 3}).json
    assert page["recordIds"] == ids[:3]
    rest = admin.get(f"{url}/members", {"limit": 3, "cursor": page["next_cursor"]}).json
    assert rest == {"recordIds": ids[3:], "next_cursor": None}
    res = admin.post(f"{url}/members/remove", {"filter": GERMANS})
    assert res.json == {"removed": 2, "memberCount": 2}
    res = admin.post(f"{url}/members/remove", {"recordIds": [ids[1], 999999]})
    assert res.json == {"removed": 1, "memberCount": 1}
    count = dbsession.scalar(
        select(func.count()).select_from(ListMember).where(ListMember.list_id == picked["id"])
    )
    assert count == 1
    by_filter = admin.post(
        f"{API}/lists", {"name": "DE", "entityType": "contact", "filter": GERMANS}
    ).json
    assert (by_filter["sourceType"], by_filter["memberCount"]) == ("filter", 2)
    assert by_filter["sourceRef"] == {"definition": GERMANS}
    res = admin.patch(url, {"name": "Renamed", "tags": ["x"]})
    assert (res.json["name"], res.json["tags"]) == ("Renamed", ["x"])
    in_list = group("and", rule("list", "in_list", [picked["id"]]))
    assert admin.post(PREVIEW, {"entityType": "contact", "definition": in_list}).json["count"] == 1


def test_lists_refuse_bad_input(admin, crowd, make_account):
    account = make_account()
    fields = error_fields(
        admin.post(
            f"{API}/lists", {"name": "x", "entityType": "contact", "recordIds": [account.id + 1000]}
        )
    )
    assert fields == {"recordIds": f"no contact with id {account.id + 1000}"}
    fields = error_fields(
        admin.post(f"{API}/lists", {"name": "x", "entityType": "contact", "recordIds": ["1"]})
    )
    assert fields == {"recordIds.0": "must be a whole number"}
    fields = error_fields(
        admin.post(f"{API}/lists", {"name": "x", "entityType": "contact", "recordIds": "1,2"})
    )
    assert fields == {"recordIds": "must be a list of ids"}
    body = {"name": "x", "entityType": "contact", "recordIds": [crowd["ada"].id], "filter": GERMANS}
    assert "filter" in error_fields(admin.post(f"{API}/lists", body))
    body = {"name": "x", "entityType": "contact", "filter": GERMANS, "sourceType": "selection"}
    assert "sourceType" in error_fields(admin.post(f"{API}/lists", body))
    fields = error_fields(
        admin.post(f"{API}/lists", {"name": "x", "entityType": "contact", "filter": group("or", 1)})
    )
    assert fields == {
        "filter.rules[0]": 'must be a group {"op", "rules"} or a rule {"field", '
        '"operator", "value"}'
    }
    created = admin.post(f"{API}/lists", {"name": "x", "entityType": "account"}).json
    url = f"{API}/lists/{created['id']}"
    assert error_fields(admin.post(f"{url}/members", {})) == {
        "body": "give either recordIds or filter"
    }
    assert error_fields(admin.post(f"{url}/members", {"recordIds": [crowd["ada"].id + 10**6]}))
    fields = error_fields(admin.post(f"{url}/members", {"filter": GERMANS}))
    assert fields == {"filter.rules[0].field": "is not a known field for accounts"}
    assert error_fields(admin.get(f"{url}/members", {"cursor": "abc"})) == {
        "cursor": "is not a valid cursor for this list"
    }
    assert admin.get(f"{API}/lists/999999/members").status_int == 404
    assert admin.post(f"{API}/lists/999999/members", {"recordIds": [1]}).status_int == 404
    assert admin.patch(url, {"entityType": "contact"}).status_int == 400, "fixed once created"


def test_a_list_used_by_a_segment_cannot_be_deleted(admin, crowd):
    used = admin.post(f"{API}/lists", {"name": "Used", "entityType": "contact"}).json
    segment = create_segment(admin, group("and", rule("list", "in_list", used["id"])))
    res = admin.delete(f"{API}/lists/{used['id']}")
    assert error_fields(res, 409) == {"id": f"used by segment {segment['id']}"}
    assert admin.delete(f"{API}/segments/{segment['id']}").status_int == 200
    assert admin.delete(f"{API}/lists/{used['id']}").status_int == 200
    res = admin.post(
        PREVIEW,
        {"entityType": "contact", "definition": group("and", rule("list", "in_list", used["id"]))},
    )
    assert error_fields(res) == {"definition.rules[0].value": f"no list with id {used['id']}"}


def test_members_of_another_users_private_list_are_hidden(login, crowd):
    owner, other = login(Role.CAMPAIGN_MANAGER), login(Role.CAMPAIGN_MANAGER)
    private = owner.post(
        f"{API}/lists", {"name": "Mine", "entityType": "contact", "recordIds": [crowd["ada"].id]}
    ).json
    url = f"{API}/lists/{private['id']}"
    assert other.get(f"{url}/members").status_int == 404
    assert other.post(f"{url}/members", {"recordIds": [crowd["bob"].id]}).status_int == 404
    res = other.post(
        PREVIEW,
        {
            "entityType": "contact",
            "definition": group("and", rule("list", "in_list", private["id"])),
        },
    )
    assert error_fields(res) == {"definition.rules[0].value": f"no list with id {private['id']}"}
