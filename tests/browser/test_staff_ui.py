"""The staff UI in a real browser: signing in, keyboard navigation, forms with errors,
selection across pages with a CSV export, the theme toggle, access by role, and
screenshots of the main pages in both themes."""

from __future__ import annotations

import csv
import re

import pytest
from sqlalchemy import select

from pivotal_core.accounts.models import Account
from pivotal_core.contacts.models import Contact
from pivotal_core.jobs.models import Job
from pivotal_core.testing.fixtures import TEST_PASSWORD
from pivotal_core.users.models import User

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect
CONTACT_DETAIL = re.compile(r"/contacts/(\d+)$")


def path_is(live_server, path: str) -> re.Pattern[str]:
    return re.compile(re.escape(live_server.url + path) + r"$")


def test_sign_in_through_the_form_returns_to_the_page_asked_for(new_page, live_server):
    page = new_page()
    page.goto("/users")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fusers$"))
    page.get_by_label("Email").fill(live_server.emails["admin"])
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".flash-error")).to_be_visible()
    expect(page.get_by_label("Email")).to_have_value(live_server.emails["admin"])

    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(path_is(live_server, "/users"))
    expect(page.locator(".flash-success")).to_contain_text(
        f"Signed in as {live_server.emails['admin']}"
    )
    expect(page.locator("h1")).to_have_text("Users")


def test_g_then_c_jumps_to_contacts(new_page, live_server):
    page = new_page("admin")
    page.goto("/users")
    page.keyboard.press("g")
    page.keyboard.press("c")
    expect(page).to_have_url(path_is(live_server, "/contacts"))
    expect(page.locator(".data-table tbody tr[data-id]").first).to_be_visible()


def test_j_and_k_move_the_row_cursor_and_enter_opens_the_row(new_page, live_server):
    page = new_page("admin")
    page.goto("/contacts")
    rows = page.locator(".data-table tbody tr[data-id]")
    expect(rows.nth(2)).to_be_visible()
    for key in ("j", "j", "j", "k"):
        page.keyboard.press(key)
    expect(rows.nth(1)).to_have_class(re.compile(r"\bcursor\b"))
    expect(page.locator("tr.cursor")).to_have_count(1)
    href = rows.nth(1).get_attribute("data-href")
    assert CONTACT_DETAIL.search(href)
    page.keyboard.press("Enter")
    expect(page).to_have_url(path_is(live_server, href))


def test_an_invalid_phone_is_shown_beside_the_field_and_not_saved(new_page, live_server):
    with live_server.session() as session:
        contact = session.scalars(
            select(Contact).where(Contact.phone.is_not(None)).order_by(Contact.id).limit(1)
        ).one()
    page = new_page("admin")
    page.goto(f"/contacts/{contact.id}/edit")
    phone = page.locator("input[name=phone]")
    expect(phone).to_have_value(re.compile(r"\S"))
    phone.fill("12")
    phone.press("Enter")  # submits the form the field belongs to
    error = page.locator("label.field.has-error", has=page.locator("input[name=phone]"))
    expect(error.locator(".field-error")).to_be_visible()
    expect(page.locator("input[name=phone]")).to_have_attribute("aria-invalid", "true")
    # Only the phone is marked, and the form shows what was typed.
    expect(page.locator(".field-error")).to_have_count(1)
    expect(page.locator("input[name=phone]")).to_have_value("12")
    with live_server.session() as session:
        assert session.get(Contact, contact.id).phone == contact.phone


def test_select_all_matching_across_pages_and_export_csv(new_page, live_server):
    page = new_page("admin")
    page.goto("/contacts")
    table = page.locator(".data-table")
    total = int(table.get_attribute("data-total"))
    shown = page.locator(".data-table tbody tr[data-id]").count()
    assert total > shown > 0, "the demo data must span more than one page"

    page.locator("[data-select-page]").check()
    bar = page.locator("[data-bulk-bar]")
    expect(bar).to_be_visible()
    expect(bar.locator("[data-selected-count]")).to_have_text(f"{shown:,}")
    bar.locator("[data-select-all-matching]").click()
    expect(bar.locator("[data-selected-count]")).to_have_text(f"{total:,}")

    with page.expect_download() as download_info:
        bar.get_by_role("button", name="Export CSV").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    with open(download.path(), newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    header = [name.strip().lower() for name in rows[0]]
    assert "email" in header and "id" in header
    assert len(rows) - 1 == total
    ids = {row[header.index("id")] for row in rows[1:]}
    assert len(ids) == total


def test_dark_mode_survives_a_reload(new_page):
    page = new_page("admin")
    page.goto("/users")
    html = page.locator("html")
    expect(html).to_have_attribute("data-theme", "light")
    page.locator("#theme-toggle").click()
    expect(html).to_have_attribute("data-theme", "dark")
    page.reload()
    expect(html).to_have_attribute("data-theme", "dark")
    assert page.evaluate("localStorage.getItem('pivotal-theme')") == "dark"
    page.locator("#theme-toggle").click()
    expect(html).to_have_attribute("data-theme", "light")
    page.goto("/jobs")
    expect(html).to_have_attribute("data-theme", "light")


@pytest.mark.parametrize(
    "path", ["/users", "/users/roles", "/jobs", "/admin/plugins", "/contacts", "/accounts"]
)
def test_a_client_user_cannot_open_staff_pages(new_page, path):
    page = new_page("client")
    response = page.goto(path)
    assert response.status == 403
    expect(page.locator(".status-code")).to_have_text("403")
    expect(page.locator("h1")).to_have_text("Not allowed")
    expect(page.locator("main table")).to_have_count(0)


def test_question_mark_opens_the_shortcut_sheet_and_escape_closes_it(new_page):
    page = new_page("admin")
    page.goto("/users")
    sheet = page.locator("dialog#shortcuts")
    expect(sheet).to_be_hidden()
    page.keyboard.press("?")
    expect(sheet).to_be_visible()
    expect(sheet).to_contain_text("Keyboard shortcuts")
    page.keyboard.press("Escape")
    expect(sheet).to_be_hidden()


def test_shortcuts_do_not_fire_while_typing_in_the_search_box(new_page, live_server):
    page = new_page("admin")
    page.goto("/users")
    search = page.locator("#global-search")
    page.keyboard.press("/")
    expect(search).to_be_focused()
    page.keyboard.type("gjk?x")
    expect(search).to_have_value("gjk?x")
    expect(page.locator("dialog#shortcuts")).to_be_hidden()
    expect(page.locator("tr.cursor")).to_have_count(0)
    # Leave the box: the same keys work again, and nothing happened in the meantime.
    page.keyboard.press("Escape")
    page.locator("main h1").click()
    expect(search).not_to_be_focused()
    page.keyboard.press("?")
    expect(page.locator("dialog#shortcuts")).to_be_visible()
    expect(page).to_have_url(path_is(live_server, "/users"))


def test_jobs_page_shows_progress_of_running_jobs_live(new_page, live_server):
    with live_server.session() as session:
        job = session.scalars(select(Job).where(Job.status == "running")).first()
    page = new_page("admin")
    page.goto("/jobs")
    row = page.locator(f"tr[data-id='{job.id}']")
    bar = row.locator(".progress .progress-bar")
    expect(bar).to_have_attribute("style", f"width: {job.percent:g}%")
    expect(row.locator(".badge")).to_have_text("running")
    # The rows are polled while a job is active: progress written now shows up by itself.
    with live_server.session() as session:
        session.get(Job, job.id).progress_current = 1200
        session.commit()
    try:
        expect(bar).to_have_attribute("style", "width: 75%")
        expect(row).to_contain_text("1,200 / 1,600")
    finally:
        with live_server.session() as session:
            session.get(Job, job.id).progress_current = job.progress_current
            session.commit()


def test_admin_deactivates_a_user_after_confirming(new_page, live_server):
    page = new_page("admin")
    page.goto("/users/new")
    page.locator("input[name=email]").fill("leaver@browser.example.com")
    page.locator("input[name=full_name]").fill("Lee Leaver")
    page.locator("select[name=role]").select_option("agent")
    page.locator("input[name=password]").fill("x" * 60 + "é" * 7)  # 74 bytes
    page.get_by_role("button", name="Create user").click()
    expect(page.locator("#e-password")).to_contain_text("longer than 72 bytes")
    page.locator("input[name=password]").fill("a good long password")
    page.get_by_role("button", name="Create user").click()
    expect(page.locator(".flash-success")).to_contain_text("Created user leaver@")

    page.get_by_role("link", name="Edit").click()
    page.locator("input[name=is_active]").uncheck()
    page.get_by_role("button", name="Save").click()
    confirm = page.locator("[data-confirm-deactivation]")
    expect(confirm).to_be_visible()
    confirm.get_by_role("button", name="Deactivate").click()
    expect(page.locator(".flash-success")).to_contain_text("deactivated")
    expect(page.locator("h1 .badge")).to_have_text("deactivated")
    with live_server.session() as session:
        user = session.scalars(select(User).where(User.email == "leaver@browser.example.com")).one()
        assert user.is_active is False


# -- screenshots --------------------------------------------------------------------------


def _screenshot(page, folder, name: str, theme: str) -> None:
    expect(page.locator("html")).to_have_attribute("data-theme", theme)
    page.evaluate("document.fonts.ready.then(() => true)")
    page.screenshot(path=folder / f"{name}-{theme}.png", full_page=True)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_screenshots_of_the_main_pages(new_page, live_server, screenshots, theme):
    with live_server.session() as session:
        account_id = session.scalar(select(Account.id).order_by(Account.id).limit(1))
        contact_id = session.scalar(
            select(Contact.id).where(Contact.phone.is_not(None)).order_by(Contact.id).limit(1)
        )
        job_id = session.scalar(select(Job.id).where(Job.status == "failed").limit(1))
        user_id = session.scalar(select(User.id).where(User.email == live_server.emails["admin"]))

    page = new_page(theme=theme)
    assert page.goto("/login").status == 200
    _screenshot(page, screenshots, "login", theme)

    page = new_page("admin", theme=theme)
    pages = [
        ("dashboard", "/"),
        ("accounts", "/accounts"),
        ("account", f"/accounts/{account_id}"),
        ("contacts", "/contacts"),
        ("contact", f"/contacts/{contact_id}"),
        ("users", "/users"),
        ("user", f"/users/{user_id}"),
        ("user-edit", f"/users/{user_id}/edit"),
        ("roles", "/users/roles"),
        ("jobs", "/jobs"),
        ("job", f"/jobs/{job_id}"),
        ("plugins", "/admin/plugins"),
    ]
    failures = []
    for name, path in pages:
        response = page.goto(path)
        if response.status != 200:
            failures.append(f"{path}: {response.status}")
            continue
        _screenshot(page, screenshots, name, theme)

    page.goto(f"/contacts/{contact_id}/edit")
    page.locator("input[name=phone]").fill("12")
    page.locator("input[name=phone]").press("Enter")
    expect(page.locator(".field-error")).to_be_visible()
    _screenshot(page, screenshots, "contact-edit-error", theme)
    assert not failures, failures
