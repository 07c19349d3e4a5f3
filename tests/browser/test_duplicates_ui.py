"""Duplicates, merges and erase in a real browser: scan from the queue, review a pair, change
a field's choice, merge, follow the merged record's old address to the survivor, revert the
merge from the history and see both records back; erase a contact after confirming. Each
step is photographed in the light and the dark theme."""

from __future__ import annotations

import io
import itertools
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from pivotal_core.audit.services import Actor
from pivotal_core.contacts.models import Contact
from pivotal_core.contacts.services import create_contact
from pivotal_core.dataquality.files import sniff
from pivotal_core.dataquality.models import DuplicateCandidate, Merge
from pivotal_core.dataquality.services import create_batch
from pivotal_core.dataquality.storage import store_upload

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect
_numbers = itertools.count(1)
HUBSPOT_TITLE = "Head of Field Operations"
SALESFORCE_TITLE = "VP Field Operations"


def path_is(live_server, path: str) -> re.Pattern[str]:
    return re.compile(re.escape(live_server.url + path) + r"(\?.*)?$")


def _screenshot(page, folder, name: str, theme: str) -> None:
    expect(page.locator("html")).to_have_attribute("data-theme", theme)
    page.evaluate("document.fonts.ready.then(() => true)")
    page.screenshot(path=folder / f"{name}-{theme}.png", full_page=True)


@pytest.fixture
def duplicate_pair(live_server) -> tuple[int, int]:
    """Two records of one person from HubSpot and Salesforce that share a phone number; the
    first is more complete, so the merge screen keeps it by default."""
    n = next(_numbers)
    phone = f"+1 312 555 01{n:02d}"
    with live_server.session() as session:
        older = create_contact(
            session,
            Actor.system("import:hubspot"),
            {
                "first_name": "Olivia",
                "last_name": f"Dunham{n}",
                "email": f"olivia{n}@fringe.example",
                "phone": phone,
                "title": HUBSPOT_TITLE,
                "city": "Boston",
                "external_ids": {"hubspot": f"H-{n}"},
            },
        )
        newer = create_contact(
            session,
            Actor.system("import:salesforce"),
            {
                "first_name": "Olivia",
                "last_name": f"Dunham{n}",
                "email": f"o.dunham{n}@fbi.example",
                "phone": phone,
                "title": SALESFORCE_TITLE,
            },
        )
        session.commit()
        return older.id, newer.id


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_review_merge_and_revert_a_pair(new_page, live_server, screenshots, duplicate_pair, theme):
    older, newer = duplicate_pair
    page = new_page("admin", theme=theme)
    page.goto("/contacts")
    page.locator(".sidebar").get_by_role("link", name="Duplicates").click()
    expect(page).to_have_url(path_is(live_server, "/duplicates"))

    # Scan now: the scan runs as a job and the queue shows what it found.
    page.get_by_role("button", name="Scan contacts now").click()
    expect(page.locator("#scan-status")).to_have_attribute("data-status", "succeeded")
    with live_server.session() as session:
        candidate = session.scalars(
            select(DuplicateCandidate).where(
                DuplicateCandidate.record_a == older, DuplicateCandidate.record_b == newer
            )
        ).one()
    row = page.locator(f".duplicates-table tr[data-id='{candidate.id}']")
    expect(row.locator(".reason-badge")).to_have_text(["Same phone or mobile number"])
    _screenshot(page, screenshots, "duplicates-queue", theme)

    # Open the pair: Salesforce's title is the default; keep HubSpot's instead.
    row.get_by_role("link", name="Review").click()
    expect(page).to_have_url(path_is(live_server, f"/duplicates/{candidate.id}"))
    title = page.locator("#merge-form tr[data-field='title']")
    ours = title.locator(f"input[type=radio][value='{older}']")
    theirs = title.locator(f"input[type=radio][value='{newer}']")
    expect(theirs).to_be_checked()
    expect(title.locator(".default-reason")).to_contain_text("salesforce (#2) ranks above")
    ours.check()
    expect(ours).to_be_checked()
    expect(theirs).not_to_be_checked()
    # Where the survivor's email came from, opened in place.
    email = page.locator("#merge-form tr[data-field='email'] td[data-side='a'] details.provenance")
    email.locator("summary").click()
    expect(email.locator(".rule")).to_contain_text("Source priority")
    _screenshot(page, screenshots, "merge-screen", theme)

    page.get_by_role("button", name=re.compile(r"^Merge into ")).click()
    expect(page.locator(".flash-success")).to_contain_text(f"Merged contact {newer} into Olivia")
    expect(page.locator("h1 .badge")).to_have_text("merged")
    _screenshot(page, screenshots, "merge-detail", theme)

    # The survivor has the values chosen: HubSpot's title, Salesforce's (newer) email.
    page.locator("#merge-result [data-role='survivor'] a.pair-name").click()
    expect(page).to_have_url(path_is(live_server, f"/contacts/{older}"))
    expect(page.locator("dd[data-field='title']")).to_contain_text(HUBSPOT_TITLE)
    expect(page.locator("dd[data-field='email']")).to_contain_text("o.dunham")
    provenance = page.locator("dd[data-field='email'] details.provenance")
    provenance.locator("summary").click()
    expect(provenance.get_by_role("link", name=re.compile(r"^merge \d+$"))).to_be_visible()
    _screenshot(page, screenshots, "contact-provenance", theme)

    # The merged record's old address leads to the survivor.
    page.goto(f"/contacts/{newer}")
    expect(page).to_have_url(path_is(live_server, f"/contacts/{older}"))
    expect(page.locator(".flash-info")).to_contain_text(f"Contact {newer} was merged into")

    # Revert from the merge history: both records come back.
    page.goto("/merges")
    with live_server.session() as session:
        merge_id = session.scalar(select(Merge.id).where(Merge.merged_id == newer))
    history_row = page.locator(f".merges-table tr[data-id='{merge_id}']")
    expect(history_row.locator(".merge-status")).to_have_text("merged")
    _screenshot(page, screenshots, "merge-history", theme)
    history_row.get_by_role("link", name=str(merge_id), exact=True).click()
    expect(page).to_have_url(path_is(live_server, f"/merges/{merge_id}"))
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revert merge").click()
    expect(page.locator(".flash-success")).to_contain_text("both records are back")
    expect(page.locator("h1 .badge")).to_have_text("reverted")
    expect(page.locator("#revert-report [data-report='restored']")).to_contain_text("Email")
    _screenshot(page, screenshots, "merge-reverted", theme)

    page.goto(f"/contacts/{newer}")
    expect(page).to_have_url(path_is(live_server, f"/contacts/{newer}"))
    expect(page.locator("dd[data-field='title']")).to_contain_text(SALESFORCE_TITLE)
    expect(page.locator(".deleted-banner")).to_have_count(0)
    page.goto(f"/contacts/{older}")
    expect(page.locator("dd[data-field='email']")).to_contain_text("olivia")
    with live_server.session() as session:
        back = {
            c.id: c for c in session.scalars(select(Contact).where(Contact.id.in_((older, newer))))
        }
        assert set(back) == {older, newer}
        assert back[newer].merged_into_id is None and back[newer].deleted_at is None
        assert back[older].title == HUBSPOT_TITLE and back[newer].title == SALESFORCE_TITLE


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_erase_a_contact_after_confirming(
    new_page, live_server, screenshots, duplicate_pair, theme, tmp_path
):
    contact_id, _ = duplicate_pair
    # A file kept from an earlier import that names the person: the erase rewrites it.
    with live_server.session() as session:
        email = session.get(Contact, contact_id).email
        path, digest = store_upload(
            {"dataquality.imports_dir": str(tmp_path / "imports")},
            io.BytesIO(f"Email,First Name\r\n{email},Olivia\r\nx@else.example,X\r\n".encode()),
            "fair.csv",
        )
        create_batch(
            session,
            Actor.system("test"),
            entity="contact",
            source="fair",
            filename="fair.csv",
            stored_path=path,
            file_sha256=digest,
            file_format=sniff(path).as_dict(),
            mapping={"Email": "email", "First Name": "first_name"},
        )
        session.commit()
    page = new_page("admin", theme=theme)
    page.goto(f"/contacts/{contact_id}")
    page.get_by_role("link", name="Erase personal data…").click()
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("for good?")
    expect(dialog.locator("[data-erase='identifiers']")).to_contain_text("external:hubspot")
    expect(dialog.locator("[data-erase='import-files']")).to_contain_text("kept for repeat runs")
    page.get_by_role("button", name="Erase permanently").click()
    expect(page.locator("#e-reason")).to_contain_text("is required")
    _screenshot(page, screenshots, "erase-confirm", theme)
    with live_server.session() as session:
        assert session.get(Contact, contact_id) is not None

    page.get_by_label("Reason").fill("Erasure request received 2026-03-01")
    page.get_by_role("button", name="Erase permanently").click()
    expect(page).to_have_url(path_is(live_server, "/contacts"))
    expect(page.locator(".flash-success")).to_contain_text(f"Erased contact {contact_id}")
    expect(page.locator(".flash-success")).to_contain_text(
        "Emptied 1 row naming them in 1 kept import file."
    )
    assert not Path(path).exists()
    (rewritten,) = (tmp_path / "imports").glob("*.csv")
    assert email.encode() not in rewritten.read_bytes()
    assert b"x@else.example" in rewritten.read_bytes()
    with live_server.session() as session:
        assert session.get(Contact, contact_id) is None
    assert page.goto(f"/contacts/{contact_id}").status == 404
