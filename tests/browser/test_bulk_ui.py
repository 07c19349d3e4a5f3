"""The bulk toolbar in a real browser: ticked rows tagged after a confirmation that shows
their count, a cancelled confirmation changing nothing, and "all matching" less a row
updated as a background job whose page the browser lands on."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from pivotal_core.audience import bulk
from pivotal_core.audit.services import Actor
from pivotal_core.contacts.models import Contact
from pivotal_core.contacts.services import create_contact

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture
def toolbar_people(live_server, request):
    """Contacts of this test's own (the demo data stays as it is for the other tests)."""
    name = re.sub(r"[^a-z]", "", request.node.name.lower())[-12:].capitalize() + "son"
    with live_server.session() as session:
        people = [
            create_contact(
                session,
                Actor.system("test"),
                {"first_name": f"Bulk{n}", "last_name": name, "email": f"{name}{n}@bulk.example"},
            )
            for n in range(4)
        ]
        session.commit()
        return name, [p.id for p in people]


def contacts(live_server, ids: list[int]) -> list[Contact]:
    with live_server.session() as session:
        return list(
            session.scalars(select(Contact).where(Contact.id.in_(ids)).order_by(Contact.id))
        )


def test_tag_ticked_rows_after_confirming_their_count(new_page, live_server, toolbar_people):
    name, ids = toolbar_people
    page = new_page("admin")
    page.goto(f"/contacts?q={name.lower()}")
    for record_id in ids[:3]:
        page.locator(f"input[data-select-row][value='{record_id}']").check()
    bar = page.locator("[data-bulk-bar]")
    expect(bar.locator("[data-selected-count]")).to_have_text("3")

    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    bar.locator("summary", has_text="Tag").first.click()
    menu = bar.locator("details[open] form")
    menu.locator("input[name=tags]").fill("trade-fair")
    menu.get_by_role("button", name="Tag").click()
    expect(page.locator(".flash-success")).to_have_count(0)
    assert asked == ["Tag 3 contacts?"]
    assert all(c.tags == [] for c in contacts(live_server, ids))  # cancelled: nothing changed

    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    menu.get_by_role("button", name="Tag").click()
    expect(page.locator(".flash-success")).to_have_text(re.compile("Tagged 3 contacts"))
    assert [c.tags for c in contacts(live_server, ids)] == [["trade-fair"]] * 3 + [[]]
    # Done: the selection is cleared.
    expect(page.locator("[data-bulk-bar]")).to_be_hidden()


def test_all_matching_less_one_runs_as_a_job_with_its_page(
    new_page, live_server, toolbar_people, monkeypatch
):
    name, ids = toolbar_people
    monkeypatch.setattr(bulk, "INLINE_LIMIT", 2)  # the server runs in this process
    page = new_page("admin")
    page.goto(f"/contacts?q={name.lower()}")
    bar = page.locator("[data-bulk-bar]")
    page.locator(f"input[data-select-row][value='{ids[0]}']").check()
    bar.locator("[data-select-all-matching]").click()
    page.locator(f"input[data-select-row][value='{ids[0]}']").uncheck()
    expect(bar.locator("[data-selected-count]")).to_have_text("3")

    page.once("dialog", lambda dialog: dialog.accept())
    bar.locator("summary", has_text="Update field").click()
    menu = bar.locator("details[open] form")
    menu.locator("select[name=field]").select_option("title")
    menu.locator("input[name=value]").fill("Booth staff")
    menu.get_by_role("button", name="Update field").click()

    expect(page).to_have_url(re.compile(r"/jobs/\d+$"))
    expect(page.locator(".flash-info")).to_contain_text("Updating 3 contacts in the background")
    expect(page.locator("h1 .badge")).to_have_text("succeeded")
    expect(page.locator("#job-detail")).to_contain_text("Updated 3 contacts")
    assert [c.title for c in contacts(live_server, ids)] == [None] + ["Booth staff"] * 3
