"""The audience field registry: built-in fields, custom fields registering themselves, plugin
fields through ``pivotal_filter_fields``, and GET /api/v1/filter-fields."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func

from pivotal_core import hookimpl
from pivotal_core.audience.fields import (
    BUILTIN_FIELDS,
    CATEGORIES,
    OPERATORS,
    OPERATORS_BY_TYPE,
    FieldRegistryError,
    FilterField,
    field_registry,
)
from pivotal_core.authnz.permissions import Role

URL = "/api/v1/filter-fields"


def listed(res) -> dict[str, dict[str, Any]]:
    assert res.status_int == 200, res.text
    return {
        field["key"]: {**field, "group": category["key"]}
        for category in res.json["categories"]
        for field in category["fields"]
    }


def test_builtin_fields_are_typed_with_operators_in_every_category():
    assert len(BUILTIN_FIELDS) >= 52
    assert len({f.key for f in BUILTIN_FIELDS}) == len(BUILTIN_FIELDS)
    assert {f.category for f in BUILTIN_FIELDS} == set(CATEGORIES) - {"custom"}
    for item in BUILTIN_FIELDS:
        assert item.operators, item.key
        assert set(item.operators) <= set(OPERATORS), item.key
        if item.condition is None:
            assert set(item.operators) <= set(OPERATORS_BY_TYPE[item.type]), item.key
        if item.type == "enum":
            assert item.choices, item.key


def test_filter_fields_for_contacts_lists_at_least_52_grouped_by_category(admin):
    fields = listed(admin.get(URL, {"entity": "contact"}))
    assert len(fields) >= 52
    assert fields["contact.email"]["group"] == "contact"
    assert fields["contact.email"]["type"] == "text"
    assert "contains" in fields["contact.email"]["operators"]
    assert fields["account.industry"]["label"] == "Account: industry"
    assert fields["account.employee_count"]["operators"][:3] == ["equals", "not_equals", "gt"]
    assert "DE" in fields["contact.country"]["choices"]
    assert fields["contact.seniority"]["choices"][0] == "c_level"
    assert fields["list"]["operators"] == ["in_list"]
    assert fields["list"]["references"] == "list"
    assert fields["compliance.consent"]["operators"] == ["has_consent"]
    assert fields["contact.tags"]["operators"] == ["has_any", "has_all", "has_none"] + [
        "is_empty",
        "is_not_empty",
    ]
    assert "is_empty" not in fields["contact.has_email"]["operators"]
    body = admin.get(URL).json
    assert body["entity"] == "contact", "contacts are the default"
    assert body["operators"]["between"]["value"] == "range"
    assert body["limits"] == {"maxDepth": 8, "maxRules": 200, "maxValues": 1000}


def test_filter_fields_for_accounts_hold_no_contact_fields(admin):
    fields = listed(admin.get(URL, {"entity": "account"}))
    assert "account.industry" in fields
    assert fields["account.industry"]["label"] == "Industry"
    assert not [key for key in fields if key.startswith("contact.")]
    assert "compliance.consent" not in fields
    assert "account.list" not in fields, "an account's own lists are the 'list' field"
    assert {"list", "segment", "compliance.suppressed"} <= set(fields)


def test_filter_fields_refuse_an_unknown_entity(admin):
    res = admin.get(URL, {"entity": "lead"})
    assert res.status_int == 400
    assert "entity" in res.json["error"]["fields"]


def test_custom_fields_register_themselves_by_type(admin):
    for entity, key, kind, options in (
        ("contact", "score", "number", None),
        ("contact", "plan", "enum", ["Free", "Pro"]),
        ("account", "tier", "enum", ["Gold", "Silver"]),
        ("account", "renewal", "date", None),
    ):
        body = {"entity": entity, "key": key, "label": key.title(), "type": kind}
        if options:
            body["options"] = options
        assert admin.post("/api/v1/custom-fields", body).status_int == 201
    contact_fields = listed(admin.get(URL, {"entity": "contact"}))
    assert contact_fields["contact.custom.score"]["group"] == "custom"
    assert contact_fields["contact.custom.score"]["type"] == "number"
    assert contact_fields["contact.custom.plan"]["choices"] == ["Free", "Pro"]
    assert contact_fields["account.custom.tier"]["label"] == "Account: Tier"
    assert "within_last_days" in contact_fields["account.custom.renewal"]["operators"]
    account_fields = listed(admin.get(URL, {"entity": "account"}))
    assert "account.custom.tier" in account_fields
    assert "contact.custom.score" not in account_fields


@pytest.mark.parametrize(
    "role,status",
    [(Role.DATA_STEWARD, 200), (Role.CAMPAIGN_MANAGER, 200), (Role.AGENT, 403)],
)
def test_filter_fields_need_audience_read(login, role, status):
    assert login(role).get(URL).status_int == status


# --------------------------------------------------------------------------
# pivotal_filter_fields
# --------------------------------------------------------------------------


class AddsEmailLength:
    """A throwaway plugin field: the length of a contact's email address."""

    @hookimpl
    def pivotal_filter_fields(self) -> list[FilterField]:
        return [
            FilterField(
                "throwaway.email_length",
                "Email length",
                "activity",
                "number",
                {"contact": lambda ctx: func.length(ctx.root.email)},
            )
        ]


@pytest.fixture
def with_plugin(app):
    pm = app.registry.pivotal_hooks

    def register(plugin: object) -> None:
        pm.register(plugin)
        registered.append(plugin)

    registered: list[object] = []
    yield register
    for plugin in registered:
        pm.unregister(plugin)


def test_hook_pivotal_filter_fields(with_plugin, admin, make_contact):
    make_contact(email="ab@x.io")  # 7 characters
    make_contact(email="abcdefgh@example.com")
    definition = {
        "op": "and",
        "rules": [{"field": "throwaway.email_length", "operator": "lt", "value": 10}],
    }
    preview = {"entityType": "contact", "definition": definition}
    res = admin.post("/api/v1/segments/preview", preview)
    assert res.status_int == 400, "no such field while the plugin is absent"
    assert res.json["error"]["fields"] == {
        "definition.rules[0].field": "is not a known field for contacts"
    }
    with_plugin(AddsEmailLength())
    fields = listed(admin.get(URL))
    assert fields["throwaway.email_length"]["group"] == "activity"
    assert "throwaway.email_length" not in listed(admin.get(URL, {"entity": "account"}))
    res = admin.post("/api/v1/segments/preview", preview)
    assert res.status_int == 200, res.text
    assert res.json["count"] == 1


def test_hook_pivotal_filter_fields_refuses_a_clashing_key(dbsession, with_plugin):
    class Clashes:
        @hookimpl
        def pivotal_filter_fields(self):
            return [BUILTIN_FIELDS[1]]

    with_plugin(Clashes())
    with pytest.raises(FieldRegistryError, match="two filter fields are named"):
        field_registry(dbsession, "contact")


def test_hook_pivotal_filter_fields_checked_at_start_up(monkeypatch, tmp_path):
    from pivotal_core.app import make_app
    from pivotal_core.plugins import build_plugin_manager
    from pivotal_core.testing.fixtures import test_settings

    class NotAField:
        @hookimpl
        def pivotal_filter_fields(self):
            return [{"key": "x"}]

    def build(enabled):
        pm = build_plugin_manager(enabled)
        pm.register(NotAField())
        return pm

    monkeypatch.setattr("pivotal_core.app.build_plugin_manager", build)
    settings = test_settings(**{"sqlalchemy.url": f"sqlite:///{tmp_path / 'x.sqlite'}"})
    with pytest.raises(FieldRegistryError, match="return FilterField objects"):
        make_app({}, settings)


def test_filter_field_declarations_are_checked():
    with pytest.raises(ValueError, match="type must be one of"):
        FilterField("x", "X", "contact", "colour", {"contact": lambda ctx: None})
    with pytest.raises(ValueError, match="category"):
        FilterField("x", "X", "misc", "text", {"contact": lambda ctx: None})
    with pytest.raises(ValueError, match="needs choices"):
        FilterField("x", "X", "contact", "enum", {"contact": lambda ctx: None})
    with pytest.raises(ValueError, match="value function or a condition"):
        FilterField("x", "X", "contact", "text", {"contact": None})
