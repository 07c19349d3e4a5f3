"""Imports in a real browser: the wizard from upload to report (a bad row shown in the
preview, the run followed live while a worker does the job, the report and its rejected
rows), and undo from the import history with the values put back and the created records
gone. Each page is photographed in the light and the dark theme.

These tests run their own server on the browser tests' database, with a queue that does
not run jobs by itself: the test plays the worker, so the page is seen waiting for the job
and then updating itself when the job is done.
"""

from __future__ import annotations

import csv
import itertools
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from pivotal_core.audit.services import Actor
from pivotal_core.contacts.models import Contact
from pivotal_core.contacts.services import create_contact
from pivotal_core.dataquality import services, uploads
from pivotal_core.dataquality.models import ImportBatch
from pivotal_core.dataquality.prepare import prepared_rows
from pivotal_core.testing.fixtures import test_settings

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect
_runs = itertools.count(1)


@dataclass
class WorkerServer:
    """A Pivotal server whose jobs wait in the queue until :meth:`run_jobs`."""

    url: str
    app: Any
    engine: Any

    def session(self) -> Session:
        session = Session(self.engine, expire_on_commit=False)
        session.info["pivotal.hooks"] = self.app.registry.pivotal_hooks.hook
        return session

    def queued(self) -> int:
        return self.app.registry["pivotal.huey"].pending_count()

    def run_jobs(self) -> int:
        """Do what a worker would: run every queued job; how many ran."""
        huey = self.app.registry["pivotal.huey"]
        ran = 0
        while (task := huey.dequeue()) is not None:
            huey.execute(task)
            ran += 1
        return ran


@pytest.fixture(scope="module")
def worker_server(live_server, live_database_url, tmp_path_factory) -> Iterator[WorkerServer]:
    import waitress

    from pivotal_core.app import make_app

    app = make_app(
        {},
        test_settings(
            **{
                "sqlalchemy.url": live_database_url,
                "huey.url": "memory://",
                "huey.immediate": "false",
                "dataquality.imports_dir": str(tmp_path_factory.mktemp("imports")),
            }
        ),
    )
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, name="pivotal-imports-ui", daemon=True)
    thread.start()
    try:
        yield WorkerServer(
            f"http://127.0.0.1:{server.effective_port}",
            app,
            app.registry.settings["pivotal.engine"],
        )
    finally:
        server.close()
        server.task_dispatcher.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def import_page(browser, worker_server, signed_in_state) -> Iterator[Callable[..., Any]]:
    """``import_page(theme)`` -> a page of the worker server, signed in as the admin (the
    session cookie of the shared sign-in: cookies do not depend on the port)."""
    contexts = []

    def factory(theme: str = "light") -> Any:
        context = browser.new_context(
            base_url=worker_server.url,
            viewport={"width": 1366, "height": 860},
            color_scheme=theme,
            accept_downloads=True,
            storage_state=signed_in_state("admin"),
        )
        contexts.append(context)
        return context.new_page()

    yield factory
    for context in contexts:
        context.close()


def _screenshot(page, folder: Path, name: str, theme: str) -> None:
    expect(page.locator("html")).to_have_attribute("data-theme", theme)
    page.evaluate("document.fonts.ready.then(() => true)")
    page.screenshot(path=folder / f"{name}-{theme}.png", full_page=True)


def contact(server: WorkerServer, email: str) -> Contact | None:
    with server.session() as session:
        stmt = select(Contact).where(Contact.email == email)
        return session.scalars(stmt.execution_options(include_deleted=True)).first()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_import_wizard_end_to_end(import_page, worker_server, screenshots, tmp_path, theme):
    n = next(_runs)
    people = tmp_path / f"fair-{n}.csv"
    people.write_text(
        "First Name,Last Name,Email,Phone,Job Title,Company\n"
        f"Ada,Lovelace,ada@analytical{n}.example,(650) 253-0000,Countess,Analytical Engines\n"
        f"Grace,Hopper,grace@navy{n}.example,12,Rear Admiral,Navy\n"
        f"Alan,Turing,alan@bletchley{n}.example,,Cryptanalyst,Bletchley Park\n",
        encoding="utf-8",
    )
    page = import_page(theme)
    page.goto("/imports")
    page.locator(".sidebar").get_by_role("link", name="Imports").click()
    page.get_by_role("link", name="New import").first.click()

    # 1. Upload.
    expect(page.locator(".wizard-steps [aria-current=step]")).to_contain_text("Upload")
    page.get_by_label("Each row is a").select_option("contact")
    page.get_by_label("Source").fill("fair-2026")
    page.get_by_label("File").set_input_files(str(people))
    _screenshot(page, screenshots, "import-upload", theme)
    page.get_by_role("button", name="Upload and map columns").click()

    # 2. Map: every column comes with the field suggested for it.
    expect(page).to_have_url(re.compile(r"/imports/uploads/[0-9a-f]{32}/map$"))
    expect(page.get_by_label("Phone", exact=True)).to_have_value("phone")
    expect(page.get_by_label("Company", exact=True)).to_have_value("account_name")
    expect(page.locator("tr[data-column='Phone'] .sample")).to_have_text(["(650) 253-0000", "12"])
    _screenshot(page, screenshots, "import-map", theme)
    page.get_by_role("button", name="Preview").click()

    # 3. Preview: the row with the bad phone number is marked, with the reason.
    bad_row = page.locator("tr[data-row='3']")
    expect(bad_row).to_have_class(re.compile(r"\brow-invalid\b"))
    expect(bad_row.locator("td.cell-error")).to_contain_text("is not a valid phone number")
    expect(page.locator("tr[data-row='2']")).not_to_have_class(re.compile(r"row-invalid"))
    expect(page.locator("[data-invalid-rows]")).to_have_text("1")
    # A phone number is stored in international form; the file's text is shown beneath.
    phone = page.locator("tr[data-row='2'] td.cell-normalized")
    expect(phone.locator(".stored")).to_have_text("+16502530000")
    expect(phone.locator(".in-file")).to_have_text("file: (650) 253-0000")
    _screenshot(page, screenshots, "import-preview", theme)

    # 4. Run for real; the page waits for the job, then shows the report by itself.
    page.get_by_label("Create the accounts contacts' companies are missing").check()
    page.get_by_label("Import for real").check()
    page.get_by_role("button", name="Run").click()
    detail = page.locator("#import-detail")
    expect(detail).to_have_attribute("data-status", "queued")
    expect(page.get_by_role("heading", name="Importing")).to_be_visible()
    expect(detail.locator(".progress").first).to_be_visible()
    _screenshot(page, screenshots, "import-running", theme)
    assert worker_server.queued() == 1
    assert worker_server.run_jobs() == 1

    # 5. The report, without reloading the page.
    expect(detail).to_have_attribute("data-status", "succeeded", timeout=15_000)
    expect(page.locator("[data-count='created'] .stat-value")).to_have_text("2")
    expect(page.locator("[data-count='skipped'] .stat-value")).to_have_text("1")
    expect(page.locator("[data-count='accounts_created'] .stat-value")).to_have_text("2")
    expect(page.locator(".skipped-reasons")).to_contain_text("Phone")
    _screenshot(page, screenshots, "import-report", theme)
    with page.expect_download() as download_info:
        page.get_by_role("link", name=re.compile(r"Download the 1 rejected row")).click()
    download = download_info.value
    assert re.fullmatch(rf"rejected-rows-\d+-fair-{n}\.csv", download.suggested_filename)
    with open(download.path(), newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    assert rows[1][:3] == ["phone: is not a valid phone number", "3", "Grace"]

    ada = contact(worker_server, f"ada@analytical{n}.example")
    assert (ada.phone, ada.title, ada.account_id is not None) == ("+16502530000", "Countess", True)
    assert contact(worker_server, f"grace@navy{n}.example") is None


@pytest.fixture
def finished_import(worker_server, tmp_path) -> tuple[int, int, int, str]:
    """A contact that an import then changed, and a contact it created: (batch id, changed
    contact id, created contact id, the changed contact's title before the import)."""
    n = next(_runs)
    with worker_server.session() as session:
        grace = create_contact(
            session,
            Actor.system("test"),
            {"first_name": "Grace", "last_name": f"Hopper{n}", "email": f"grace{n}@navy.example",
             "title": "Captain"},
        )  # fmt: skip
        session.commit()
        path = tmp_path / f"crm-{n}.csv"
        path.write_text(
            "Email,First Name,Last Name,Job Title\n"
            f"grace{n}@navy.example,Grace,Hopper{n},Rear Admiral\n"
            f"linus{n}@kernel.example,Linus,Torvalds{n},Maintainer\n",
            encoding="utf-8",
        )
        settings = worker_server.app.registry.settings
        with path.open("rb") as stream:
            stored = uploads.store_import_file(settings, stream, path.name)
        batch = uploads.create_import_batch(
            session, Actor.system("test"), stored, entity="contact", source="crm-export"
        )
        rows = prepared_rows(batch, "US", session)
        services.run_batch(session, batch, rows, settings=settings)
        session.commit()
        session.expire_all()  # the engine writes with SQL statements, past the ORM
        created = session.scalar(
            select(Contact.id).where(Contact.email == f"linus{n}@kernel.example")
        )
        assert session.get(Contact, grace.id).title == "Rear Admiral"
        return batch.id, grace.id, created, "Captain"


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_undo_an_import_from_the_history(
    import_page, worker_server, screenshots, finished_import, theme
):
    batch_id, changed_id, created_id, before = finished_import
    page = import_page(theme)
    page.goto("/imports")
    row = page.locator(f".imports-table tr[data-id='{batch_id}']")
    expect(row).to_have_attribute("data-status", "succeeded")
    _screenshot(page, screenshots, "import-history", theme)
    row.get_by_role("link", name=str(batch_id), exact=True).click()
    expect(page.locator("#import-detail")).to_have_attribute("data-status", "succeeded")

    page.get_by_role("link", name="Undo").click()
    expect(
        page.get_by_role("heading", name=re.compile(rf"Undo import {batch_id}\?"))
    ).to_be_visible()
    _screenshot(page, screenshots, "import-undo-confirm", theme)
    page.get_by_role("button", name=f"Undo import {batch_id}").click()

    # The undo waits for a worker; the page follows it and shows the undo report.
    expect(page.locator(".flash-info")).to_contain_text(f"Undoing import {batch_id}")
    expect(page.locator("#undo")).to_contain_text("Undoing")
    assert worker_server.run_jobs() == 1
    expect(page.locator("#import-detail")).to_have_attribute(
        "data-status", "undone", timeout=15_000
    )
    expect(page.locator("[data-undo='restored_fields']")).to_have_text("1")
    expect(page.locator("[data-undo='deleted_contacts']")).to_have_text("1")
    expect(page.get_by_role("link", name="Undo")).to_have_count(0)
    _screenshot(page, screenshots, "import-undone", theme)

    with worker_server.session() as session:
        assert session.get(Contact, changed_id).title == before
        gone = session.scalars(
            select(Contact).where(Contact.id == created_id).execution_options(include_deleted=True)
        ).one()
        assert gone.deleted_at is not None
        assert session.get(ImportBatch, batch_id).status == "undone"
    # The created contact's page says so.
    page.goto(f"/contacts/{created_id}")
    expect(page.locator(".deleted-banner")).to_be_visible()
