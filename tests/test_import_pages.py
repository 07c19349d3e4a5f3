"""The import wizard and import history in the staff UI, through WebTest signed in with the
form: upload, map (suggested fields, saved mappings), preview with row errors, run as a
job, the report, rejected rows, a dry run run for real, and undo with its report. Errors
show beside their field and save nothing."""

from __future__ import annotations

import csv
import io
import re

import pytest
import webtest
from bs4 import BeautifulSoup
from sqlalchemy import select
from test_import_api import contact, count  # the same checks of the database

from pivotal_core.authnz.permissions import Role
from pivotal_core.dataquality import pages
from pivotal_core.dataquality.models import ImportBatch, ImportMapping
from pivotal_core.jobs.models import Job

PEOPLE = (
    b"First Name,Last Name,Email,Phone,Job Title\n"
    b"Ada,Lovelace,ada@analytical.io,(650) 253-0000,Countess\n"
    b"Grace,Hopper,grace@navy.example,12,Rear Admiral\n"
    b"Alan,Turing,alan@bletchley.example,,Cryptanalyst\n"
)
MAP_URL = re.compile(r"/imports/uploads/([0-9a-f]{32})/map$")


pytestmark = pytest.mark.usefixtures("imports_dir")  # uploads of each test apart


@pytest.fixture
def steward(web_login):
    return web_login(Role.DATA_STEWARD)


def html(res) -> BeautifulSoup:
    return BeautifulSoup(res.text, "html.parser")


def field_error(res, name: str) -> str:
    node = html(res).select_one(f"#e-{name}")
    return node.get_text(strip=True) if node else ""


def upload_form(client, content: bytes | None = PEOPLE, entity="contact", source="tradeshow"):
    form = client.get("/imports/new").forms["upload-form"]
    form["entity"] = entity
    form["source"] = source
    if content is not None:
        form["file"] = webtest.Upload("people.csv", content)
    return form.submit(expect_errors=True)


def mapped(client, content: bytes = PEOPLE, **kw) -> str:
    """Upload through the form; the map page's URL."""
    res = upload_form(client, content, **kw)
    assert res.status_int == 303, res.text
    assert MAP_URL.search(res.location), res.location
    return res.location


def previewed(client, content: bytes = PEOPLE, **kw):
    res = client.get(mapped(client, content, **kw)).forms["map-form"].submit()
    assert res.status_int == 303, res.text
    return client.get(res.location)


def run(client, mode: str = "import", **options: str):
    form = previewed(client).forms["run-form"]
    form["mode"] = mode
    for name, value in options.items():
        form[name] = value
    res = form.submit()
    assert res.status_int == 303, res.text
    return res


# ---------------------------------------------------------------- access


def test_imports_are_in_the_sidebar_of_those_who_may_import(web_login):
    for role in (Role.ADMIN, Role.MANAGER, Role.DATA_STEWARD):
        page = html(web_login(role).get("/"))
        assert [a.get_text(strip=True) for a in page.select("a.nav-item[href='/imports']")] == [
            "Imports"
        ], role
    for role in (Role.CAMPAIGN_MANAGER, Role.AGENT, Role.QA_REVIEWER):
        client = web_login(role)
        assert not html(client.get("/")).select("a.nav-item[href='/imports']"), role
        assert client.get("/imports").status_int == 403
        assert client.get("/imports/new").status_int == 403


# ---------------------------------------------------------------- the wizard


def test_the_preview_shows_values_as_they_will_be_stored(steward):
    """Where normalization changes a cell, the preview shows the value stored with the
    file's text beneath it; cells stored as written, and cells in error, show the file."""
    messy = (
        b"First Name,Email,Phone,Website,Country,Tags,Labels\n"
        b"ADA,Ada@Analytical.IO,(650) 253-0000,https://www.analytical.io/about,united states,"
        b"VIP;Prospect,trial\n"
        b"Grace,grace@navy.example,12,navy.example,US,,\n"
    )
    map_page = steward.get(mapped(steward, messy))
    form = map_page.forms["map-form"]
    headers = ["First Name", "Email", "Phone", "Website", "Country", "Tags", "Labels"]
    for i, field in enumerate(
        ["first_name", "email", "phone", "account_domain", "country", "tags", "tags"]
    ):
        assert form[f"column-{i}"].value == field or headers[i] == "Labels"
        form[f"column-{i}"] = field
    res = form.submit()
    assert res.status_int == 303, res.text
    page = html(steward.get(res.location))

    def cells(number: int) -> dict[str, tuple[str | None, str]]:
        row = page.select_one(f"tr[data-row='{number}']")
        shown = {}
        for header, cell in zip(headers, row.select("td")[1:], strict=True):
            stored = cell.select_one(".stored")
            in_file = cell.select_one(".in-file")
            if stored is None:
                assert in_file is None and "cell-normalized" not in cell["class"]
                shown[header] = (None, cell.get_text(" ", strip=True))
            else:
                assert "cell-normalized" in cell["class"]
                shown[header] = (stored.get_text(), in_file.get_text())
        return shown

    assert cells(2) == {
        "First Name": ("Ada", "file: ADA"),
        "Email": ("ada@analytical.io", "file: Ada@Analytical.IO"),
        "Phone": ("+16502530000", "file: (650) 253-0000"),
        "Website": ("analytical.io", "file: https://www.analytical.io/about"),
        "Country": ("US", "file: united states"),
        # Two columns fill the tags: each shows its own text, the value is both together.
        "Tags": (None, "VIP;Prospect"),
        "Labels": (None, "trial"),
    }
    assert cells(3) == {
        "First Name": (None, "Grace"),
        "Email": (None, "grace@navy.example"),
        "Phone": (None, "12 is not a valid phone number"),
        "Website": (None, "navy.example"),
        "Country": (None, "US"),
        "Tags": (None, ""),
        "Labels": (None, ""),
    }


def test_a_lone_list_column_shows_the_list_it_becomes(steward):
    page = html(previewed(steward, b"Email,Tags\nann@example.com,VIP; Prospect\n"))
    cell = page.select("tr[data-row='2'] td")[2]
    assert cell.select_one(".stored").get_text() == "prospect, vip"
    assert cell.select_one(".in-file").get_text() == "file: VIP; Prospect"


def test_the_wizard_from_upload_to_report(steward, dbsession):
    res = upload_form(steward)
    assert res.status_int == 303
    map_page = steward.get(res.location)
    assert map_page.status_int == 200
    page = html(map_page)
    assert page.select_one("[data-upload-file]").get_text() == "people.csv"
    assert "CSV, utf-8, comma-separated" in page.select_one(".upload-summary").get_text()
    form = map_page.forms["map-form"]
    # Each column comes with the suggested field and its first values.
    assert [form[f"column-{i}"].value for i in range(5)] == [
        "first_name",
        "last_name",
        "email",
        "phone",
        "title",
    ]
    phone_row = page.select_one("tr[data-column='Phone']")
    assert [s.get_text() for s in phone_row.select(".sample")] == ["(650) 253-0000", "12"]

    preview = steward.get(form.submit().location)
    page = html(preview)
    assert page.select_one("[data-valid-rows]").get_text() == "2"
    assert page.select_one("[data-invalid-rows]").get_text() == "1"
    bad = page.select_one("tr[data-row='3']")
    assert "row-invalid" in bad["class"]
    error_cell = bad.select_one("td.cell-error")
    assert error_cell.get_text(" ", strip=True) == "12 is not a valid phone number"
    assert not page.select("tr[data-row='2'].row-invalid")

    form = preview.forms["run-form"]
    form["mode"] = "import"
    form["create_accounts"] = True
    res = form.submit()
    assert res.status_int == 303
    batch_id = int(res.location.rsplit("/", 1)[1])
    report = html(steward.get(res.location))
    counts = {
        stat["data-count"]: stat.select_one(".stat-value").get_text()
        for stat in report.select("[data-count]")
    }
    assert (counts["rows"], counts["created"], counts["skipped"]) == ("3", "2", "1")
    assert [td.get_text(strip=True) for td in report.select(".skipped-reasons td")] == [
        "Phone",
        "1",
    ]
    link = report.select_one("[data-rejected-download]")
    assert link.get_text(" ", strip=True).startswith("Download the 1 rejected row")
    download = steward.get(link["href"])
    assert download.headers["Content-Disposition"].startswith(
        f'attachment; filename="rejected-rows-{batch_id}-people.csv"'
    )
    rows = list(csv.reader(io.StringIO(download.body.decode("utf-8-sig"))))
    assert rows[1][:3] == ["phone: is not a valid phone number", "3", "Grace"]

    batch = dbsession.get(ImportBatch, batch_id)
    assert (batch.status, batch.source, batch.created_by_id) == (
        "succeeded",
        "tradeshow",
        steward.user.id,
    )
    assert batch.options["create_accounts"] is True
    assert contact(dbsession, "ada@analytical.io").phone == "+16502530000"
    assert contact(dbsession, "grace@navy.example") is None


def test_upload_errors_show_beside_their_fields_and_keep_nothing(steward, imports_dir):
    res = upload_form(steward, None, source="Hub Spot!")
    assert res.status_int == 400
    assert "lower-case letters" in field_error(res, "source")
    assert field_error(res, "file") == "choose a CSV or XLSX file"
    assert "Nothing was saved" in html(res).select_one(".flash-error").get_text()
    # The source typed is kept in the form.
    assert res.forms["upload-form"]["source"].value == "hub spot!"

    res = upload_form(steward, b"")
    assert res.status_int == 422
    assert field_error(res, "file") == "The file is empty."
    res = upload_form(steward, b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    assert "a PNG image" in field_error(res, "file")
    res = upload_form(steward, source="manual")
    assert "name the real source" in field_error(res, "source")
    assert not imports_dir.exists() or not any(p.is_file() for p in imports_dir.rglob("*"))


def test_a_file_over_the_limit_is_refused_beside_the_file_field(app, steward, monkeypatch):
    monkeypatch.setitem(app.registry.settings, "dataquality.max_upload_bytes", 40)
    res = upload_form(steward)
    assert res.status_int == 413
    assert "is larger than the 40 bytes" in field_error(res, "file")


def test_forms_without_the_csrf_token_are_refused(steward, imports_dir):
    res = steward.testapp.post(
        "/imports/new",
        {"entity": "contact", "source": "tradeshow"},
        upload_files=[("file", "people.csv", PEOPLE)],
        expect_errors=True,
    )
    assert res.status_int == 400
    assert not imports_dir.exists() or not any(imports_dir.rglob("*.csv"))


def test_mapping_errors_show_beside_the_column_and_save_nothing(steward, dbsession):
    map_url = mapped(steward)
    form = steward.get(map_url).forms["map-form"]
    form["column-3"].force_value("fax")
    form["column-4"] = "email"
    form["save_as"] = "Broken"
    res = form.submit(expect_errors=True)
    assert res.status_int == 400
    assert field_error(res, "column-3") == "'fax' is not a field a contact import can fill"
    assert field_error(res, "column-4") == "email is already filled from the column 'Email'"
    assert res.forms["map-form"]["save_as"].value == "Broken"
    assert count(dbsession, ImportMapping) == 0
    # Nothing identifies a contact: the error is about the whole mapping.
    form = steward.get(map_url).forms["map-form"]
    for i in (0, 1, 2, 3):
        form[f"column-{i}"] = ""
    res = form.submit(expect_errors=True)
    assert res.status_int == 400
    assert "map at least one column to" in html(res).select_one("#mapping-error").get_text()
    # The refused mapping was not kept: the preview still asks for one.
    res = steward.get(map_url.replace("/map", "/preview"))
    assert res.status_int == 303 and res.location.endswith("/map")


def test_a_mapping_saved_by_name_applies_to_the_next_file(steward, dbsession):
    form = steward.get(mapped(steward)).forms["map-form"]
    form["column-4"] = ""  # Job Title not imported
    form["save_as"] = "Trade show"
    res = form.submit()
    assert res.status_int == 303
    saved = dbsession.scalars(select(ImportMapping)).one()
    assert (saved.name, saved.columns["Job Title"], saved.columns["Email"]) == (
        "Trade show",
        None,
        "email",
    )
    map_url = mapped(steward)
    page = steward.get(map_url)
    assert [o.get_text() for o in html(page).select("select[name=saved] option")] == ["Trade show"]
    assert page.forms["map-form"]["column-4"].value == "title"  # the suggestion
    applied = steward.get(map_url, params={"saved": saved.id})
    assert applied.forms["map-form"]["column-4"].value == ""
    assert applied.forms["map-form"]["column-2"].value == "email"


def test_another_users_upload_is_not_found(steward, web_login):
    map_url = mapped(steward)
    other = web_login(Role.DATA_STEWARD)
    assert other.get(map_url).status_int == 404
    assert steward.get("/imports/uploads/" + "0" * 32 + "/map").status_int == 404


def test_a_dry_run_writes_nothing_and_can_then_run_for_real(steward, dbsession):
    res = run(steward, mode="dry_run")
    dry = steward.get(res.location)
    page = html(dry)
    assert "A dry run: nothing was written." in page.get_text()
    assert page.select_one("[data-count='created'] .stat-value").get_text() == "2"
    assert not page.select("a[href$='/undo']")
    assert contact(dbsession, "ada@analytical.io") is None

    res = dry.forms["repeat-form"].submit()  # Import for real
    assert res.status_int == 303
    assert res.location != dry.request.url
    real = dbsession.get(ImportBatch, int(res.location.rsplit("/", 1)[1]))
    assert (real.dry_run, real.status) == (False, "succeeded")
    assert contact(dbsession, "ada@analytical.io") is not None


# ---------------------------------------------------------------- history, progress, undo


def test_the_history_lists_batches_newest_first_in_pages(steward, make_import_batch, monkeypatch):
    monkeypatch.setattr(pages, "HISTORY_PAGE", 2)
    batches = [make_import_batch(source=s) for s in ("hubspot", "salesforce", "zoominfo")]
    res = steward.get("/imports")
    rows = html(res).select(".imports-table tbody tr[data-id]")
    assert [int(r["data-id"]) for r in rows] == [batches[2].id, batches[1].id]
    assert rows[0].select("td")[2].get_text() == "zoominfo"
    assert rows[0]["data-status"] == "uploaded"
    older = html(res).select_one("a[rel=next]")["href"]
    rows = html(steward.get(older)).select(".imports-table tbody tr[data-id]")
    assert [int(r["data-id"]) for r in rows] == [batches[0].id]
    res = steward.get("/imports", params={"status": "undone"})
    assert "No undone imports yet." in html(res).get_text()


def test_a_running_import_is_followed_live(steward, dbsession, make_import_batch):
    batch = make_import_batch()
    job = Job(kind="dataquality.run_import", status="running", progress_current=5000)
    dbsession.add(job)
    dbsession.flush()
    batch.status, batch.job_id = "running", job.id
    dbsession.commit()
    page = html(steward.get(f"/imports/{batch.id}"))
    live = page.select_one("#import-detail")
    assert live["hx-trigger"] == "every 1s" and live["hx-select"] == "#import-detail"
    assert "5,000 done" in live.get_text()
    assert page.select_one("#import-history") is None
    history = html(steward.get("/imports")).select_one("#import-history")
    assert history["hx-trigger"] == "every 2s"

    batch.status, job.status = "succeeded", "succeeded"
    batch.counts = {"rows": 5000, "created": 5000}
    dbsession.commit()
    page = html(steward.get(f"/imports/{batch.id}"))
    assert not page.select_one("#import-detail").has_attr("hx-get")
    assert page.select_one("[data-count='created'] .stat-value").get_text() == "5,000"


def test_undo_from_the_batch_page(steward, dbsession, make_contact):
    grace = make_contact(
        first_name="Grace", last_name="Hopper", email="grace@navy.example", title="Captain"
    )
    people = (
        b"Email,First Name,Last Name,Job Title,City\n"
        b"grace@navy.example,Grace,Hopper,Rear Admiral,Arlington\n"
        b"ada@analytical.io,Ada,Lovelace,Countess,London\n"
    )
    res = steward.get(mapped(steward, people)).forms["map-form"].submit()
    form = steward.get(res.location).forms["run-form"]
    form["mode"] = "import"
    batch_url = form.submit().location
    batch_id = int(batch_url.rsplit("/", 1)[1])
    # Someone edits Grace's city after the import.
    edit = steward.get(f"/contacts/{grace.id}/edit").forms["record-form"]
    edit["city"] = "Washington"
    assert edit.submit().status_int == 303

    page = steward.get(batch_url)
    confirm = steward.get(html(page).select_one("a[href$='/undo']")["href"])
    assert "Undo import" in html(confirm).select_one("h1").get_text()
    res = confirm.forms["undo-form"].submit()
    assert res.status_int == 303
    page = html(steward.get(res.location))
    assert page.select_one(".badge.status-undone")
    assert page.select_one("[data-undo='restored_fields']").get_text() == "1"
    assert page.select_one("[data-undo='deleted_contacts']").get_text() == "1"
    cells = [td.get_text(strip=True) for td in page.select(".undo-conflicts td")]
    assert cells == [f"contact {grace.id}", "City", "changed later (ui)"]
    assert page.select_one(".undo-conflicts a")["href"] == f"/contacts/{grace.id}"
    assert not page.select("a[href$='/undo']")
    grace_now = contact(dbsession, "grace@navy.example")
    assert (grace_now.title, grace_now.city) == ("Captain", "Washington")
    assert contact(dbsession, "ada@analytical.io").deleted_at is not None

    # Again: refused, with the reason, and nothing queued.
    jobs_before = count(dbsession, Job)
    res = steward.post(f"/imports/{batch_id}/undo")
    assert res.status_int == 303
    assert "already been undone" in html(steward.get(res.location)).select_one(".flash-error").text
    assert count(dbsession, Job) == jobs_before
    assert "undone already" in html(steward.get(f"/imports/{batch_id}/undo")).get_text()


def test_a_missing_batch_is_a_404_page(steward):
    for path in ("/imports/999999", "/imports/999999/undo", "/imports/999999/rejected.csv"):
        assert steward.get(path).status_int == 404, path


def test_only_those_who_may_erase_can_bring_erased_people_back(steward, web_login, dbsession):
    form = previewed(steward).forms["run-form"]
    assert "allow_erased" in form.fields
    manager = web_login(Role.MANAGER)
    preview = previewed(manager)
    assert "allow_erased" not in preview.forms["run-form"].fields
    # A hand-made post from someone without privacy:erase does not set it either.
    token = html(preview).select_one("#run-form input[name='csrf_token']")["value"]
    action = html(preview).select_one("#run-form")["action"]
    res = manager.post(action, {"csrf_token": token, "mode": "import", "allow_erased": "1"})
    assert res.status_int == 303, res.text
    batch = dbsession.get(ImportBatch, int(res.location.rsplit("/", 1)[1]))
    assert batch.options["allow_erased"] is False

    res = run(steward, allow_erased=True)
    batch = dbsession.get(ImportBatch, int(res.location.rsplit("/", 1)[1]))
    assert batch.options["allow_erased"] is True
