"""The filter DSL: validation errors name their path; limits; NULL semantics; case-insensitive
text with literal wildcards; segments inside segments and the refusal of cycles."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import update

from pivotal_core.accounts.models import Account
from pivotal_core.audience.filters import MAX_DEPTH, MAX_NODES, compile_filter
from pivotal_core.audience.models import AudienceList, ListMember, Segment
from pivotal_core.audience.services import count_matching, iter_matching_ids
from pivotal_core.compliance.models import Consent, Suppression
from pivotal_core.contacts.models import Contact
from pivotal_core.errors import Unprocessable, ValidationFailed


def rule(field: str, operator: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "operator": operator, "value": value}


def group(op: str, *rules: dict[str, Any]) -> dict[str, Any]:
    return {"op": op, "rules": list(rules)}


def errors_of(dbsession, definition: Any, entity: str = "contact") -> dict[str, str]:
    with pytest.raises(ValidationFailed) as caught:
        compile_filter(dbsession, entity, definition)
    return caught.value.fields


def matching(dbsession, definition: dict[str, Any], entity: str = "contact", **kw) -> set[int]:
    ids = {i for chunk in iter_matching_ids(dbsession, entity, definition, **kw) for i in chunk}
    assert count_matching(dbsession, entity, definition, **kw) == len(ids)
    return ids


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


def test_errors_name_the_path_inside_the_definition(dbsession):
    definition = group(
        "and",
        rule("contact.email", "contains", "a"),
        rule("contact.first_name", "equals", "x"),
        group(
            "or",
            rule("contact.created_at", "before", "2024-02-30"),
            rule("no.such.field", "equals", "x"),
            rule("account.employee_count", "contains", "x"),
            rule("contact.tags", "has_any", ["ok", 3]),
            {"field": "contact.city", "operator": "equals", "value": "x", "extra": 1},
        ),
    )
    assert errors_of(dbsession, definition) == {
        "definition.rules[2].rules[0].value": "must be a date (YYYY-MM-DD)",
        "definition.rules[2].rules[1].field": "is not a known field for contacts",
        "definition.rules[2].rules[2].operator": (
            "must be one of equals, not_equals, gt, gte, lt, lte, between, is_empty, "
            "is_not_empty for number field account.employee_count"
        ),
        "definition.rules[2].rules[3].value[1]": "must be a string",
        "definition.rules[2].rules[4].extra": (
            "is not a known key of a rule (field, operator, value)"
        ),
    }


@pytest.mark.parametrize(
    "definition,path,message",
    [
        (None, "definition", "must be a group"),
        ([], "definition", "must be a group"),
        ("and", "definition", "must be a group"),
        (rule("contact.email", "equals", "a"), "definition", "must be a group"),
        ({"op": "xor", "rules": []}, "definition.op", "must be one of and, or, not"),
        ({"op": "and", "rules": {}}, "definition.rules", "must be a list"),
        ({"op": "and"}, "definition.rules", "must be a list"),
        (group("and", 5), "definition.rules[0]", "must be a group"),
        (group("and", {"value": 1}), "definition.rules[0]", "must be a group"),
        (group("and", {"field": 7, "operator": "equals"}), "definition.rules[0].field", "known"),
        (group("and", rule("contact.email", None)), "definition.rules[0].operator", "one of"),
        (group("and", rule("contact.email", "equals", "")), "definition.rules[0].value", "empty"),
        (group("and", rule("contact.email", "equals", 5)), "definition.rules[0].value", "string"),
        (group("and", rule("contact.email", "in", [])), "definition.rules[0].value", "non-empty"),
        (group("and", rule("contact.email", "in", "a")), "definition.rules[0].value", "list"),
        (
            group("and", rule("account.employee_count", "gt", True)),
            "definition.rules[0].value",
            "number",
        ),
        (
            group("and", rule("account.employee_count", "gt", 1e300)),
            "definition.rules[0].value",
            "between",
        ),
        (
            group("and", rule("account.employee_count", "gt", float("nan"))),
            "definition.rules[0].value",
            "finite",
        ),
        (
            group("and", rule("account.employee_count", "between", [5, 1])),
            "definition.rules[0].value",
            "greater",
        ),
        (
            group("and", rule("account.employee_count", "between", [1])),
            "definition.rules[0].value",
            "two",
        ),
        (
            group("and", rule("contact.created_at", "within_last_days", 0)),
            "definition.rules[0].value",
            "days",
        ),
        (
            group("and", rule("contact.created_at", "after", "9999-12-31")),
            "definition.rules[0].value",
            "before",
        ),
        (
            group("and", rule("contact.created_at", "after", "20240101")),
            "definition.rules[0].value",
            "date",
        ),
        (
            group("and", rule("contact.seniority", "equals", "boss")),
            "definition.rules[0].value",
            "c_level",
        ),
        (
            group("and", rule("contact.has_email", "equals", "yes")),
            "definition.rules[0].value",
            "true or false",
        ),
        (group("and", rule("contact.id", "equals", -1)), "definition.rules[0].value", "id"),
        (group("and", rule("contact.id", "in", [1, 2**64])), "definition.rules[0].value[1]", "id"),
        (group("and", rule("list", "in_list", "1")), "definition.rules[0].value", "id"),
        (group("and", rule("list", "in_list", [])), "definition.rules[0].value", "non-empty"),
        (
            group("and", rule("compliance.suppressed", "suppressed", "fax")),
            "definition.rules[0].value",
            "any, email, phone",
        ),
        (
            group("and", rule("contact.tags", "has_any", [" , "])),
            "definition.rules[0].value",
            "one tag",
        ),
    ],
)
def test_bad_definitions_are_refused_with_a_path(dbsession, definition, path, message):
    errors = errors_of(dbsession, definition)
    assert path in errors, errors
    assert message in errors[path]


def test_fields_belong_to_an_entity(dbsession):
    definition = group("and", rule("contact.email", "equals", "a@b.c"))
    assert errors_of(dbsession, definition, "account") == {
        "definition.rules[0].field": "is not a known field for accounts"
    }
    with pytest.raises(ValidationFailed) as caught:
        compile_filter(dbsession, "lead", definition)
    assert "entityType" in caught.value.fields


def test_depth_and_size_limits(dbsession):
    deep: dict[str, Any] = group("and", rule("contact.email", "is_empty"))
    for _ in range(MAX_DEPTH - 1):
        deep = group("and", deep)
    compile_filter(dbsession, "contact", deep)  # exactly at the limit
    errors = errors_of(dbsession, group("and", deep))
    path = "definition" + ".rules[0]" * MAX_DEPTH
    assert errors == {path: f"is nested too deeply (at most {MAX_DEPTH} levels of groups)"}

    wide = group("and", *[rule("contact.email", "is_empty")] * (MAX_NODES - 1))
    compile_filter(dbsession, "contact", wide)
    errors = errors_of(dbsession, group("and", *[rule("contact.email", "is_empty")] * MAX_NODES))
    message = f"the filter has more than {MAX_NODES} rules and groups"
    assert errors == {f"definition.rules[{MAX_NODES - 1}]": message}


def test_errors_are_capped(dbsession):
    errors = errors_of(dbsession, group("and", *[rule("x", "equals", 1)] * 150))
    assert len(errors) == 50


def test_no_value_operators_take_no_value(dbsession, make_contact):
    contact = make_contact(title=None)
    assert contact.id in matching(dbsession, group("and", rule("contact.title", "is_empty")))
    definition = group("and", {"field": "contact.title", "operator": "is_not_empty"})
    assert contact.id not in matching(dbsession, definition)
    errors = errors_of(dbsession, group("and", rule("contact.title", "is_empty", "x")))
    assert errors == {"definition.rules[0].value": "must be empty: is_empty takes no value"}


@pytest.mark.parametrize("text", ["a\x00b", "\ud800"])
def test_text_the_databases_cannot_take_is_refused(dbsession, text):
    errors = errors_of(dbsession, group("and", rule("contact.tags", "has_any", ["ok", text])))
    assert errors == {
        "definition.rules[0].value[1]": "must not contain NUL characters or invalid Unicode"
    }


# --------------------------------------------------------------------------
# Semantics
# --------------------------------------------------------------------------


@pytest.fixture
def people(make_account, make_contact):
    acme = make_account(name="Acme", domain="acme.com", industry="Software", employee_count=40)
    bare = make_account(name="Bare", domain="bare.com")
    return {
        "ada": make_contact(first_name="Ada", email="ada@acme.com", city="Berlin", tags=["vip"]),
        "bob": make_contact(first_name="Bob", email="bob@bare.com", city=None),
        "cy": make_contact(first_name="Cy", email="cy@nowhere.org", city="berlin"),
        "di": make_contact(first_name="Di", email="100%_sure@acme.com", city="Bern"),
        "acme": acme,
        "bare": bare,
    }


def ids(people: dict[str, Any], *names: str) -> set[int]:
    return {people[name].id for name in names}


def test_text_is_case_insensitive_and_wildcards_are_literal(dbsession, people):
    assert matching(dbsession, group("and", rule("contact.city", "equals", "BERLIN"))) == ids(
        people, "ada", "cy"
    )
    assert matching(dbsession, group("and", rule("contact.email", "contains", "%_"))) == ids(
        people, "di"
    )
    assert matching(dbsession, group("and", rule("contact.email", "starts_with", "_"))) == set()
    assert matching(dbsession, group("and", rule("contact.city", "starts_with", "ber"))) == ids(
        people, "ada", "cy", "di"
    )
    assert matching(dbsession, group("and", rule("contact.email", "ends_with", ".ORG"))) == ids(
        people, "cy"
    )
    assert matching(dbsession, group("and", rule("contact.city", "in", ["bern", "Paris"]))) == ids(
        people, "di"
    )


def test_non_ascii_letters_fold_too(dbsession, make_contact):
    muller = make_contact(first_name="Jörg", last_name="MÜLLER")
    found = matching(dbsession, group("and", rule("contact.last_name", "contains", "müll")))
    assert muller.id in found


def test_negations_include_empty_values_and_not_is_the_complement(dbsession, people):
    everyone = ids(people, "ada", "bob", "cy", "di")
    berlin = group("and", rule("contact.city", "equals", "berlin"))
    assert matching(dbsession, berlin) == ids(people, "ada", "cy")
    not_berlin = group("and", rule("contact.city", "not_equals", "berlin"))
    assert matching(dbsession, not_berlin) == ids(people, "bob", "di"), "bob has no city"
    assert matching(dbsession, group("not", berlin)) == everyone - ids(people, "ada", "cy")
    industry = rule("account.industry", "equals", "software")
    assert matching(dbsession, group("and", industry)) == ids(people, "ada", "di")
    assert matching(dbsession, group("not", industry)) == ids(people, "bob", "cy")
    assert matching(dbsession, group("and", rule("account.employee_count", "lt", 100))) == ids(
        people, "ada", "di"
    ), "a comparison never matches an empty value"
    assert matching(dbsession, group("not", rule("account.employee_count", "lt", 100))) == ids(
        people, "bob", "cy"
    )
    assert matching(dbsession, group("and", rule("account.industry", "is_empty"))) == ids(
        people, "bob", "cy"
    ), "a contact without an account has empty account fields"


def test_empty_groups(dbsession, people):
    everyone = ids(people, "ada", "bob", "cy", "di")
    assert matching(dbsession, group("and")) == everyone
    assert matching(dbsession, group("or")) == set()
    assert matching(dbsession, group("not")) == set()
    assert matching(dbsession, group("not", group("or"))) == everyone


def test_numbers_compare_exactly_with_fractions(dbsession, people):
    assert matching(dbsession, group("and", rule("account.employee_count", "gt", 39.5))) == ids(
        people, "ada", "di"
    )
    assert matching(dbsession, group("and", rule("account.employee_count", "gt", 40.5))) == set()
    assert matching(
        dbsession, group("and", rule("account.employee_count", "between", [40, 40]))
    ) == ids(people, "ada", "di")


def test_dates_are_whole_days_in_utc(dbsession, people):
    noon = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
    midnight = dt.datetime(2026, 3, 11, 0, 0, tzinfo=dt.UTC)
    dbsession.execute(update(Contact).where(Contact.id == people["ada"].id).values(created_at=noon))
    dbsession.execute(
        update(Contact).where(Contact.id == people["bob"].id).values(created_at=midnight)
    )
    created = "contact.created_at"
    assert matching(dbsession, group("and", rule(created, "equals", "2026-03-10"))) == ids(
        people, "ada"
    )
    assert matching(dbsession, group("and", rule(created, "after", "2026-03-10"))) >= ids(
        people, "bob"
    )
    assert people["ada"].id not in matching(
        dbsession, group("and", rule(created, "after", "2026-03-10"))
    )
    assert matching(dbsession, group("and", rule(created, "before", "2026-03-11"))) == ids(
        people, "ada"
    )
    span = group("and", rule(created, "between", ["2026-03-10", "2026-03-11"]))
    assert matching(dbsession, span) == ids(people, "ada", "bob")
    recent = group("and", rule(created, "within_last_days", 1))
    assert matching(dbsession, recent, now=midnight + dt.timedelta(days=1)) == ids(people, "bob")


def test_tags(dbsession, make_contact):
    a = make_contact(tags=["vip", "partner"])
    b = make_contact(tags=["vip"])
    c = make_contact(tags=[])
    mine = {a.id, b.id, c.id}

    def found(operator: str, value: Any = None) -> set[int]:
        return matching(dbsession, group("and", rule("contact.tags", operator, value))) & mine

    assert found("has_any", ["VIP ", "other"]) == {a.id, b.id}
    assert found("has_all", ["vip", "partner"]) == {a.id}
    assert found("has_none", ["partner"]) == {b.id, c.id}
    assert found("is_empty") == {c.id}
    assert found("is_not_empty") == {a.id, b.id}


def test_custom_fields(dbsession, admin, make_contact):
    for key, kind in (("score", "number"), ("vip", "bool"), ("renewal", "date")):
        body = {"entity": "contact", "key": key, "label": key, "type": kind}
        assert admin.post("/api/v1/custom-fields", body).status_int == 201
    a = make_contact(custom_fields={"score": 7, "vip": True, "renewal": "2026-05-01"})
    b = make_contact(custom_fields={"score": 2.5, "vip": False})
    c = make_contact()
    mine = {a.id, b.id, c.id}

    def found(*rules: dict[str, Any]) -> set[int]:
        return matching(dbsession, group("and", *rules)) & mine

    assert found(rule("contact.custom.score", "gte", 2.5)) == {a.id, b.id}
    assert found(rule("contact.custom.score", "not_equals", 7)) == {b.id, c.id}
    assert found(rule("contact.custom.vip", "equals", True)) == {a.id}
    assert found(rule("contact.custom.vip", "equals", False)) == {b.id}
    assert found(rule("contact.custom.vip", "is_empty")) == {c.id}
    assert found(rule("contact.custom.renewal", "after", "2026-04-30")) == {a.id}
    assert found(rule("contact.custom.renewal", "before", "2026-04-30")) == set()


def test_soft_deleted_records_and_accounts(dbsession, people, system_actor):
    from pivotal_core.accounts.services import delete_account
    from pivotal_core.contacts.services import delete_contact

    delete_contact(dbsession, system_actor, people["di"])
    delete_account(dbsession, system_actor, people["acme"])
    dbsession.flush()
    software = group("and", rule("account.industry", "equals", "software"))
    assert matching(dbsession, software) == set(), "a deleted account is no account"
    has_account = group("and", rule("contact.has_account", "equals", True))
    assert people["ada"].id not in matching(dbsession, has_account)
    everyone = matching(dbsession, group("and"))
    assert people["di"].id not in everyone
    assert people["di"].id in matching(dbsession, group("and"), include_deleted=True)


def test_compliance_fields(dbsession, people):
    dbsession.add_all(
        [
            Suppression(kind="email", value="ada@acme.com", reason="unsubscribe", source="test"),
            Suppression(kind="domain", value="nowhere.org", reason="complaint", source="test"),
            Suppression(kind="domain", value="bare.com", reason="manual", source="test"),
            Consent(contact_id=people["bob"].id, channel="email", status="granted"),
            Consent(contact_id=people["cy"].id, channel="email", status="withdrawn"),
        ]
    )
    dbsession.flush()
    suppressed = group("and", rule("compliance.suppressed", "suppressed", "EMAIL"))
    assert matching(dbsession, suppressed) == ids(people, "ada", "bob", "cy"), "bob by domain"
    by_phone = group("and", rule("compliance.suppressed", "suppressed", "phone"))
    assert matching(dbsession, by_phone) == set()
    consent = group("and", rule("compliance.consent", "has_consent", "email"))
    assert matching(dbsession, consent) == ids(people, "bob")
    accounts = matching(dbsession, suppressed, "account")
    assert people["bare"].id in accounts and people["acme"].id not in accounts


# --------------------------------------------------------------------------
# Lists and segments inside filters
# --------------------------------------------------------------------------


def make_list(dbsession, entity: str, members: set[int], **kw: Any) -> AudienceList:
    audience_list = AudienceList(
        name="L", entity_type=entity, source_type="selection", tags=[], member_count=0, **kw
    )
    audience_list.visibility_scope = kw.get("visibility_scope", "global")
    dbsession.add(audience_list)
    dbsession.flush()
    dbsession.add_all([ListMember(list_id=audience_list.id, record_id=i) for i in members])
    dbsession.flush()
    return audience_list


def make_segment(dbsession, entity: str, definition: dict[str, Any], **kw: Any) -> Segment:
    kw.setdefault("visibility_scope", "global")
    segment = Segment(name="S", entity_type=entity, definition=definition, tags=[], **kw)
    dbsession.add(segment)
    dbsession.flush()
    return segment


def test_in_list_and_account_in_list(dbsession, people):
    contacts = make_list(dbsession, "contact", ids(people, "ada", "bob"))
    accounts = make_list(dbsession, "account", {people["acme"].id})
    in_list = group("and", rule("list", "in_list", contacts.id))
    assert matching(dbsession, in_list) == ids(people, "ada", "bob")
    at_listed_account = group("and", rule("account.list", "in_list", [accounts.id]))
    assert matching(dbsession, at_listed_account) == ids(people, "ada", "di")
    errors = errors_of(dbsession, group("and", rule("list", "in_list", accounts.id)))
    assert errors == {"definition.rules[0].value": f"list {accounts.id} does not hold contacts"}
    errors = errors_of(dbsession, group("and", rule("list", "in_list", [contacts.id, 99999])))
    assert errors == {"definition.rules[0].value": "no list with id 99999"}


def test_segments_nest_and_cycles_are_refused(dbsession, people):
    berliners = make_segment(
        dbsession, "contact", group("and", rule("contact.city", "equals", "berlin"))
    )
    big = make_segment(
        dbsession, "account", group("and", rule("account.employee_count", "gte", 10))
    )
    nested = make_segment(
        dbsession,
        "contact",
        group(
            "and",
            rule("segment", "in_segment", berliners.id),
            rule("account.segment", "in_segment", big.id),
        ),
    )
    assert matching(dbsession, group("and", rule("segment", "in_segment", nested.id))) == ids(
        people, "ada"
    )
    assert matching(dbsession, group("not", rule("segment", "in_segment", [berliners.id]))) == ids(
        people, "bob", "di"
    )
    # berliners -> nested -> berliners
    berliners.definition = group("or", rule("segment", "in_segment", nested.id))
    dbsession.flush()
    with pytest.raises(Unprocessable) as caught:
        compile_filter(dbsession, "contact", group("and", rule("segment", "in_segment", nested.id)))
    assert caught.value.fields == {
        "definition.rules[0].value": f"segment {nested.id}: segment {berliners.id}: "
        f"segment {nested.id} would contain itself"
    }
    with pytest.raises(Unprocessable):
        compile_filter(dbsession, "contact", berliners.definition, segment_id=berliners.id)


def test_a_segment_whose_definition_broke_is_unprocessable(dbsession, people):
    gone = make_list(dbsession, "contact", set())
    broken = make_segment(dbsession, "contact", group("and", rule("list", "in_list", gone.id)))
    gone.deleted_at = dt.datetime.now(dt.UTC)
    dbsession.flush()
    with pytest.raises(Unprocessable) as caught:
        compile_filter(dbsession, "contact", group("and", rule("segment", "in_segment", broken.id)))
    assert "no list with id" in caught.value.fields["definition.rules[0].value"]


def test_private_lists_and_segments_are_invisible_to_others(dbsession, people, make_user):
    owner, other = make_user("campaign_manager"), make_user("campaign_manager")
    private = make_list(dbsession, "contact", set(), owner_id=owner.id, visibility_scope="private")
    from pivotal_core.audience.services import Viewer

    definition = group("and", rule("list", "in_list", private.id))
    compile_filter(dbsession, "contact", definition, viewer=Viewer(owner.id, owner.role))
    with pytest.raises(ValidationFailed) as caught:
        compile_filter(dbsession, "contact", definition, viewer=Viewer(other.id, other.role))
    assert caught.value.fields == {"definition.rules[0].value": f"no list with id {private.id}"}


def test_compiled_filter_is_one_select_without_sql_strings(dbsession, people):
    definition = group(
        "or",
        rule("account.industry", "equals", "x"),
        rule("account.name", "contains", "y"),
        rule("contact.tags", "has_any", ["vip"]),
    )
    sql = str(compile_filter(dbsession, "contact", definition).compile(dbsession.get_bind()))
    assert sql.count("JOIN accounts") == 1, "one join however many account fields"
    assert sql.lstrip().startswith("SELECT contacts.id")
    assert "'x'" not in sql, "values are bound parameters"


def test_account_filters_are_untouched_by_contact_ids(dbsession, people):
    assert Account  # accounts are filtered on their own table
    definition = group("and", rule("account.contact_count", "gte", 2))
    assert matching(dbsession, definition, "account") == {people["acme"].id}
