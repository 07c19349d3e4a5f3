"""Segments and lists in a real browser: build a nested filter with the keyboard alone (an
OR group inside an AND) while the live count follows each rule and equals the count the
audience service gives for the same definition; save the segment, find it in the list,
convert it to a list and open the list's members. A rule the server refuses is marked
where it is, before and after saving. A deleted segment is found under "Show deleted" and
restored. Each page is photographed in the light and the dark theme."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest
from sqlalchemy import select

from pivotal_core.audience.models import AudienceList, Segment
from pivotal_core.audience.services import count_matching, iter_matching_ids

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect
_runs = itertools.count(1)


def _screenshot(page, folder, name: str, theme: str) -> None:
    expect(page.locator("html")).to_have_attribute("data-theme", theme)
    page.evaluate("document.fonts.ready.then(() => true)")
    page.screenshot(path=folder / f"{name}-{theme}.png", full_page=True)


def definition_of(page) -> dict[str, Any]:
    return json.loads(page.locator("input[name=definition]").input_value())


def service_count(live_server, definition: dict[str, Any]) -> int:
    with live_server.session() as session:
        return count_matching(session, "contact", definition)


def expect_live_count(page, live_server) -> int:
    """Wait for the builder's count of what it holds now; it must be the service's count."""
    live = page.locator("[data-live-count]")
    expect(live).to_have_attribute("data-state", "ready")
    definition = definition_of(page)
    expected = service_count(live_server, definition)
    expect(live).to_have_attribute("data-count", str(expected))
    # Still the same definition: the count shown belongs to it.
    assert definition_of(page) == definition
    return expected


def pick_field(page, search: str, label: str) -> None:
    """In the open field picker: type, check the highlighted field, take it with Enter."""
    picker = page.locator(".fb-picker")
    expect(picker.locator("input[type=search]")).to_be_focused()
    page.keyboard.type(search)
    expect(picker.locator(".fb-option.active")).to_contain_text(label)
    page.keyboard.press("Enter")
    expect(picker).to_have_count(0)


def focused_row_is(page, kind: str) -> None:
    expect(page.locator(f"[data-node='{kind}']:focus")).to_have_count(1)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_build_a_nested_filter_with_the_keyboard_save_it_and_convert_it_to_a_list(
    new_page, live_server, screenshots, theme
):
    n = next(_runs)
    name = f"Senior people in Germany or engineers {n}"
    page = new_page("admin", theme)
    page.goto("/")
    page.keyboard.press("g")
    page.keyboard.press("s")
    expect(page).to_have_url(re.compile(r"/segments$"))
    page.get_by_role("link", name="New segment").click()
    page.get_by_label("Name").fill(name)
    # Keys typed into a field are text, not shortcuts: no rule appeared.
    page.get_by_label("Name").press("a")
    page.get_by_label("Name").press("g")
    page.get_by_label("Name").fill(name)
    expect(page.locator(".fb-rule")).to_have_count(0)
    everyone = expect_live_count(page, live_server)  # no rules: every live contact

    # Rule 1 (in the outer AND): seniority is any of senior, manager.
    page.locator(".fb-root").focus()
    page.keyboard.press("a")
    pick_field(page, "senior", "Seniority")
    operator = page.locator(".fb-rule").nth(0).locator("select.fb-operator")
    expect(operator).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(operator).to_have_value("in")
    page.keyboard.press("Tab")
    page.keyboard.press("s")  # the value select: "senior"
    expect(page.locator(".fb-rule").nth(0).locator(".fb-chip")).to_have_text(["senior×"])
    page.keyboard.press("m")  # the select comes back focused: "manager"
    expect(page.locator(".fb-rule").nth(0).locator(".fb-chip")).to_have_count(2)
    seniors = expect_live_count(page, live_server)
    assert 0 < seniors < everyone

    # An OR group after it: country is DE, or job title contains "engineer".
    page.keyboard.press("Escape")
    focused_row_is(page, "rule")
    page.keyboard.press("g")
    pick_field(page, "country", "Country")
    page.keyboard.press("Tab")
    page.keyboard.press("d")  # the first country code with D: DE
    inner = page.locator(".fb-group .fb-group")
    expect(inner).to_have_attribute("data-op", "or")
    expect(inner.locator(".fb-rule select[aria-label^='Value']")).to_have_value("DE")
    in_germany = expect_live_count(page, live_server)
    page.keyboard.press("Escape")
    focused_row_is(page, "rule")
    page.keyboard.press("a")
    pick_field(page, "job title", "Job title")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(inner.locator(".fb-rule").nth(1).locator("select.fb-operator")).to_have_value("contains")
    page.keyboard.press("Tab")
    page.keyboard.type("engineer")
    expected = expect_live_count(page, live_server)
    assert expected >= in_germany

    assert definition_of(page) == {
        "op": "and",
        "rules": [
            {"field": "contact.seniority", "operator": "in", "value": ["senior", "manager"]},
            {
                "op": "or",
                "rules": [
                    {"field": "contact.country", "operator": "equals", "value": "DE"},
                    {"field": "contact.title", "operator": "contains", "value": "engineer"},
                ],
            },
        ],
    }
    expect(page.locator("[data-count-label]")).to_contain_text("contact")
    expect(page.locator("[data-sample-list] li").first).to_be_visible()
    _screenshot(page, screenshots, "segment-builder", theme)

    # Save; the segment's page shows the same count, kept.
    page.get_by_role("button", name="Create segment").click()
    expect(page.locator(".flash-success")).to_contain_text(f"{expected:,} contacts match")
    expect(page.locator("[data-count-cache]")).to_have_text(f"{expected:,}")
    expect(page.locator(".definition-summary")).to_contain_text("Job title")
    _screenshot(page, screenshots, "segment-detail", theme)
    with live_server.session() as session:
        segment = session.scalars(select(Segment).where(Segment.name == name)).one()
        assert segment.record_count_cache == expected

    # In the segments list.
    page.keyboard.press("g")
    page.keyboard.press("s")
    row = page.locator(f".segments-table tr[data-id='{segment.id}']")
    expect(row).to_contain_text(name)
    expect(row.locator("[data-count]")).to_have_text(f"{expected:,}")
    _screenshot(page, screenshots, "segments", theme)

    # Convert to a list and open its members.
    row.get_by_role("link", name=name).click()
    page.get_by_label("List name").fill(f"Snapshot {n}")
    page.get_by_role("button", name="Convert to list").click()
    expect(page.locator("h1")).to_have_text(f"Snapshot {n}")
    expect(page.locator("[data-member-count]")).to_have_text(f"{expected:,}")
    table = page.locator(".data-table")
    expect(table).to_have_attribute("data-total", str(expected))
    expect(table.locator("tbody tr[data-id]")).to_have_count(min(expected, 50))
    _screenshot(page, screenshots, "list-detail", theme)
    with live_server.session() as session:
        audience_list = session.scalars(
            select(AudienceList).where(AudienceList.name == f"Snapshot {n}")
        ).one()
        assert audience_list.member_count == expected
    shown = table.locator("tbody tr[data-id]").evaluate_all("rows => rows.map(r => +r.dataset.id)")
    with live_server.session() as session:
        matching = iter_matching_ids(session, "contact", segment.definition)
        assert set(shown) <= {i for chunk in matching for i in chunk}

    # The lists page lists it.
    page.keyboard.press("g")
    page.keyboard.press("l")
    expect(page.locator(f".lists-table tr[data-id='{audience_list.id}']")).to_contain_text(
        f"{expected:,}"
    )
    _screenshot(page, screenshots, "lists", theme)


def test_a_rule_the_server_refuses_is_marked_where_it_is_and_nothing_is_saved(
    new_page, live_server
):
    n = next(_runs)
    page = new_page("admin")
    page.goto("/segments/new")
    page.get_by_label("Name").fill(f"Too many employees {n}")
    page.get_by_role("button", name="+ Group").first.click()
    pick_field(page, "number of contacts", "number of contacts")
    page.locator(".fb-rule select.fb-operator").select_option("gt")
    page.locator(".fb-rule input[type=number]").fill("10000000000000000")
    rule = page.locator(".fb-rule")
    expect(rule).to_have_class(re.compile(r"\bfb-invalid\b"))
    expect(rule.locator(".fb-error")).to_contain_text("Value must be between")
    expect(page.locator("[data-live-count]")).to_have_attribute("data-state", "invalid")
    page.get_by_role("button", name="Create segment").click()
    # The server says the same, at the same rule, and keeps what was built.
    expect(page.locator(".flash-error")).to_contain_text("Nothing was saved")
    expect(page.locator(".fb-rule")).to_have_class(re.compile(r"\bfb-invalid\b"))
    expect(page.locator(".fb-rule .fb-error")).to_contain_text("Value must be between")
    assert definition_of(page)["rules"][0]["rules"][0]["value"] == 10000000000000000
    with live_server.session() as session:
        assert (
            session.scalars(
                select(Segment).where(Segment.name == f"Too many employees {n}")
            ).first()
            is None
        )
    # Fixing the value counts again.
    page.locator(".fb-rule input[type=number]").fill("2")
    expect_live_count(page, live_server)


def test_the_builders_keys_are_in_the_shortcut_sheet_and_rows_move_and_go(new_page, live_server):
    page = new_page("admin")
    page.goto("/segments/new")
    root = page.locator(".fb-root")
    root.focus()
    page.keyboard.press("?")
    sheet = page.locator("#shortcuts")
    expect(sheet).to_be_visible()
    expect(sheet).to_contain_text("Add a group")
    page.keyboard.press("Escape")
    expect(sheet).to_be_hidden()
    root.focus()
    for search in ("city", "region"):
        page.keyboard.press("a")
        pick_field(page, search, search.title())
        page.keyboard.press("Escape")
        page.keyboard.press("Escape")  # the operator select: back to the rule
    rows = page.locator(".fb-rule")
    expect(rows.nth(1).locator(".fb-field")).to_have_text("Region")
    expect(rows.nth(1)).to_be_focused()
    page.keyboard.press("Alt+ArrowUp")
    expect(page.locator(".fb-rule").nth(0).locator(".fb-field")).to_have_text("Region")
    page.keyboard.press("o")
    expect(root).to_have_attribute("data-op", "or")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Delete")
    expect(page.locator(".fb-rule")).to_have_count(1)
    expect(page.locator(".fb-rule .fb-field")).to_have_text("Region")
    assert definition_of(page)["op"] == "or"


def test_value_inputs_follow_the_field_and_operator(new_page, live_server):
    """Chips typed for tags, a list picked for "in list", two inputs for "between"; the
    builder's definition is what the API takes, and the count is the service's."""
    from pivotal_core.audience.services import Viewer, create_list
    from pivotal_core.audit.services import Actor
    from pivotal_core.contacts.models import Contact
    from pivotal_core.users.models import User

    n = next(_runs)
    with live_server.session() as session:
        admin = session.scalars(select(User).where(User.email == live_server.emails["admin"])).one()
        some = list(session.scalars(select(Contact.id).order_by(Contact.id).limit(40)))
        picked = create_list(
            session, Actor.system("test"), Viewer(admin.id, admin.role),
            {"name": f"Picked {n}", "entity_type": "contact"}, some,
        )  # fmt: skip
        session.commit()
    page = new_page("admin")
    page.goto("/segments/new")
    root = page.locator(".fb-root")
    root.focus()
    page.keyboard.press("a")
    pick_field(page, "in list", "In list")
    page.keyboard.press("Tab")
    expect(page.locator(".fb-rule").nth(0).locator("select.fb-chip-add")).to_be_focused()
    page.locator(".fb-rule").nth(0).locator("select.fb-chip-add").select_option(label=f"Picked {n}")
    expect(page.locator(".fb-rule").nth(0).locator(".fb-chip")).to_have_text([f"Picked {n}×"])
    expect_live_count(page, live_server)
    page.keyboard.press("Escape")
    page.keyboard.press("a")
    pick_field(page, "employees", "Account: employees")
    page.locator(".fb-rule").nth(1).locator("select.fb-operator").select_option("between")
    low, high = page.locator(".fb-rule").nth(1).locator("input[type=number]").all()
    low.fill("10")
    expect(page.locator("[data-live-count]")).to_have_attribute("data-state", "incomplete")
    high.fill("5000")
    expect_live_count(page, live_server)
    page.keyboard.press("Escape")
    page.keyboard.press("a")
    pick_field(page, "tags", "Tags")
    chips = page.locator(".fb-rule").nth(2).locator(".fb-chip-input")
    page.keyboard.press("Tab")
    expect(chips).to_be_focused()
    page.keyboard.type("customer")
    page.keyboard.press("Enter")
    page.keyboard.type("VIP,")
    expect(page.locator(".fb-rule").nth(2).locator(".fb-chip")).to_have_count(2)
    expected = expect_live_count(page, live_server)
    assert definition_of(page) == {
        "op": "and",
        "rules": [
            {"field": "list", "operator": "in_list", "value": [picked.id]},
            {"field": "account.employee_count", "operator": "between", "value": [10, 5000]},
            {"field": "contact.tags", "operator": "has_any", "value": ["customer", "VIP"]},
        ],
    }
    assert expected <= 40


def test_start_from_a_saved_filter_and_switch_to_accounts(new_page, live_server):
    from pivotal_core.audience.services import Viewer, create_saved_filter
    from pivotal_core.audit.services import Actor
    from pivotal_core.users.models import User

    n = next(_runs)
    germany = {"op": "and", "rules": [{"field": "contact.country", "operator": "equals",
                                       "value": "DE"}]}  # fmt: skip
    with live_server.session() as session:
        admin = session.scalars(select(User).where(User.email == live_server.emails["admin"])).one()
        create_saved_filter(
            session, Actor.system("test"), Viewer(admin.id, admin.role),
            {"name": f"Germany {n}", "entity_type": "contact", "definition": germany},
        )  # fmt: skip
        session.commit()
    page = new_page("admin")
    page.goto("/segments/new")
    page.get_by_label("Start from a saved filter").select_option(label=f"Germany {n} (contacts)")
    expect(page.locator(".fb-rule .fb-field")).to_have_text("Country")
    assert definition_of(page) == germany
    expect_live_count(page, live_server)
    # Accounts have no contact fields: the rule says so, where it is.
    page.get_by_label("Members are").select_option("account")
    expect(page.locator(".fb-rule .fb-field")).to_have_text("Unknown field contact.country")
    expect(page.locator(".fb-rule .fb-error")).to_contain_text("is not a known field for accounts")
    expect(page.locator("[data-live-count]")).to_have_attribute("data-state", "invalid")


def test_delete_a_segment_then_restore_it_from_the_deleted_view(new_page, live_server, screenshots):
    from pivotal_core.audience.services import Viewer, create_segment
    from pivotal_core.audit.services import Actor
    from pivotal_core.users.models import User

    n = next(_runs)
    name = f"Mistake {n}"
    germany = {"op": "and", "rules": [{"field": "contact.country", "operator": "equals",
                                       "value": "DE"}]}  # fmt: skip
    with live_server.session() as session:
        admin = session.scalars(select(User).where(User.email == live_server.emails["admin"])).one()
        segment = create_segment(
            session, Actor.system("test"), Viewer(admin.id, admin.role),
            {"name": name, "entity_type": "contact", "definition": germany},
        )  # fmt: skip
        session.commit()
        segment_id, counted = segment.id, segment.record_count_cache
    page = new_page("admin")
    page.goto(f"/segments/{segment_id}")
    asked: list[str] = []

    def accept(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_role("button", name="Delete").click()
    expect(page.locator(".flash-success")).to_contain_text("can be restored")
    assert asked and name in asked[0]
    expect(page.locator(f".segments-table tr[data-id='{segment_id}']")).to_have_count(0)

    page.locator("[data-deleted-toggle]").click()
    expect(page.locator("[data-deleted-view]")).to_be_visible()
    row = page.locator(f".segments-table tr[data-id='{segment_id}']")
    expect(row).to_contain_text(name)
    _screenshot(page, screenshots, "segments-deleted", "light")
    row.get_by_role("button", name="Restore").click()
    expect(page.locator(".flash-success")).to_contain_text(f"Restored segment “{name}”")
    expect(page.locator("h1")).to_contain_text(name)
    with live_server.session() as session:
        restored = session.get(Segment, segment_id)
        assert restored.deleted_at is None
        assert restored.record_count_cache == counted
