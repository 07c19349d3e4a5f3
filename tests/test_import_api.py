"""Imports over the JSON API: upload a file, preview a mapping with row-level errors, run a
batch as a job, list and read batches, download rejected rows, undo as a job, saved
mappings; and every way a request can be wrong, each refused without writing anything."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from pivotal_core.audit.models import AuditEvent
from pivotal_core.authnz.permissions import Role
from pivotal_core.contacts.models import Contact
from pivotal_core.dataquality.models import ImportBatch, ImportMapping
from pivotal_core.dataquality.services import UNDO_TASK
from pivotal_core.dataquality.uploads import MAX_UPLOAD_SETTING
from pivotal_core.jobs.models import Job

API = "/api/v1"
PEOPLE = (
    b"First Name,Last Name,Email,Phone,Job Title,Company,Website\n"
    b"Ada,Lovelace,ada@analytical.io,(650) 253-0000,Countess,Analytical Engines,analytical.io\n"
    b"Grace,Hopper,grace@navy.example,12,Rear Admiral,Navy,\n"
    b"Alan,Turing,alan@bletchley.example,,Cryptanalyst,Bletchley,\n"
    b'"=HYPERLINK(""http://evil.example"")",Mallory,mallory@evil.example,,,,\n'
)
MAPPING = {
    "First Name": "first_name",
    "Last Name": "last_name",
    "Email": "email",
    "Phone": "phone",
    "Job Title": "title",
    "Company": "account_name",
    "Website": "account_domain",
}


pytestmark = pytest.mark.usefixtures("imports_dir")  # uploads of each test apart


@pytest.fixture
def steward(login):
    return login(Role.DATA_STEWARD)


def upload(client, content: bytes | None, filename: str = "people.csv", **fields: str):
    files = [("file", filename, content)] if content is not None else []
    return client.testapp.post(
        f"{API}/imports/uploads",
        list(fields.items()),
        upload_files=files,
        content_type="multipart/form-data",
        headers=client._headers(None),
        expect_errors=True,
    )


def uploaded(client, content: bytes = PEOPLE, **fields: str) -> str:
    res = upload(client, content, **fields)
    assert res.status_int == 201, res.text
    return res.json["id"]


def start(client, upload_id: str, **body: Any):
    body = {"upload_id": upload_id, "entity": "contact", "source": "tradeshow", **body}
    return client.post(f"{API}/imports", body)


def count(session, model, *where) -> int:
    stmt = select(func.count()).select_from(model).where(*where)
    return session.scalar(stmt.execution_options(include_deleted=True))


def contact(session, email: str) -> Contact | None:
    session.expire_all()
    stmt = select(Contact).where(Contact.email == email).execution_options(include_deleted=True)
    return session.scalars(stmt).first()


def kept_files(folder: Path) -> list[str]:
    """The import files kept (the upload notes aside)."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_file())


# ---------------------------------------------------------------- upload


def test_upload_reads_the_file_and_suggests_a_mapping(steward, imports_dir):
    res = upload(steward, PEOPLE, entity="contact")
    assert res.status_int == 201, res.text
    body = res.json
    assert len(body["id"]) == 32
    assert (body["filename"], body["size"]) == ("people.csv", len(PEOPLE))
    fmt = body["format"]
    assert (fmt["kind"], fmt["encoding"], fmt["delimiter"]) == ("csv", "utf-8", ",")
    assert fmt["headers"] == list(MAPPING)
    assert fmt["description"] == "CSV, utf-8, comma-separated"
    assert body["suggested_mapping"] == MAPPING
    assert {"name": "email", "label": "Email", "hint": "an email address"} in body["fields"]
    assert kept_files(imports_dir) == [f"{body['sha256']}.csv"]


def test_the_uploaded_file_name_is_only_a_name(steward):
    res = upload(steward, PEOPLE, filename="C:\\Users\\ada\\people\x00 2026.csv")
    assert res.status_int == 201, res.text
    assert res.json["filename"] == "people 2026.csv"


def test_upload_without_an_entity_suggests_nothing(steward):
    res = upload(steward, PEOPLE)
    assert res.status_int == 201, res.text
    assert (res.json["entity"], res.json["suggested_mapping"], res.json["fields"]) == (
        None,
        None,
        None,
    )


def test_an_xlsx_upload_is_read_by_content(steward):
    openpyxl = pytest.importorskip("openpyxl")
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "People"
    sheet.append(["Email", "First Name"])
    sheet.append(["ada@analytical.io", "Ada"])
    data = io.BytesIO()
    workbook.save(data)
    res = upload(steward, data.getvalue(), filename="export.csv", entity="contact")
    assert res.status_int == 201, res.text
    assert (res.json["format"]["kind"], res.json["format"]["sheet"]) == ("xlsx", "People")
    assert res.json["suggested_mapping"] == {"Email": "email", "First Name": "first_name"}


@pytest.mark.parametrize(
    ("content", "filename", "message"),
    [
        (b"", "people.csv", "The file is empty."),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "people.csv", "a PNG image"),
        (bytes(range(256)) * 8, "people.csv", "This file is not text"),
        (b"PK\x03\x04" + b"\x00" * 64, "people.xlsx", "damaged ZIP archive"),
        (b"Email,First Name\n", "people.csv", "a header row but no data rows"),
    ],
    ids=["empty", "png-renamed", "binary", "broken-xlsx", "header-only"],
)
def test_file_problems_name_the_file_field_and_keep_nothing(
    steward, imports_dir, content, filename, message
):
    res = upload(steward, content, filename=filename, entity="contact")
    assert res.status_int == 422, res.text
    error = res.json["error"]
    assert error["code"] == "file_problem"
    assert message in error["fields"]["file"]
    assert kept_files(imports_dir) == []


def test_upload_input_errors_are_400_naming_the_field(steward, imports_dir):
    res = upload(steward, None, entity="contact")
    assert res.status_int == 400
    assert res.json["error"]["fields"] == {"file": "choose a CSV or XLSX file"}

    res = upload(steward, PEOPLE, entity="lead")
    assert res.status_int == 400
    assert set(res.json["error"]["fields"]) == {"entity"}

    res = upload(steward, PEOPLE, colour="blue")
    assert res.json["error"]["fields"] == {"colour": "is not a known field"}

    res = steward.post(f"{API}/imports/uploads", {"file": "people.csv"})
    assert res.status_int == 400
    assert res.json["error"]["fields"] == {"body": "must be multipart/form-data"}
    assert kept_files(imports_dir) == []


def test_a_file_over_the_limit_is_413_and_not_kept(app, steward, imports_dir, monkeypatch):
    # Over the limit but within the request's allowance: refused while it is stored.
    monkeypatch.setitem(app.registry.settings, MAX_UPLOAD_SETTING, len(PEOPLE) - 1)
    res = upload(steward, PEOPLE)
    assert res.status_int == 413, res.text
    assert res.json["error"]["code"] == "payload_too_large"
    assert "people.csv is larger than the" in res.json["error"]["fields"]["file"]
    # Far over: refused from its Content-Length, before it is read.
    monkeypatch.setitem(app.registry.settings, MAX_UPLOAD_SETTING, 10)
    res = upload(steward, PEOPLE * 2000)
    assert res.status_int == 413
    assert "file" in res.json["error"]["fields"]
    assert kept_files(imports_dir) == []


# ---------------------------------------------------------------- preview


def test_preview_shows_each_rows_errors(steward):
    upload_id = uploaded(steward)
    res = steward.post(f"{API}/imports/preview", {"upload_id": upload_id, "entity": "contact"})
    assert res.status_int == 200, res.text
    body = res.json
    assert body["mapping"] == body["suggested_mapping"] == MAPPING
    assert (body["valid"], body["invalid"]) == (2, 2)
    rows = {row["number"]: row for row in body["rows"]}
    assert rows[2]["valid"] and rows[2]["values"]["phone"] == "+16502530000"
    assert rows[3]["errors"] == {"phone": "is not a valid phone number"}
    assert "spreadsheet formula" in rows[5]["errors"]["first_name"]
    assert body["field_errors"] == {"first_name": 1, "phone": 1}


def test_preview_with_a_chosen_mapping(steward):
    upload_id = uploaded(steward)
    mapping = {"Email": "email", "Phone": None}
    res = steward.post(
        f"{API}/imports/preview",
        {"upload_id": upload_id, "entity": "contact", "mapping": mapping, "limit": 2},
    )
    assert res.status_int == 200, res.text
    assert [row["number"] for row in res.json["rows"]] == [2, 3]
    assert res.json["invalid"] == 0
    assert "Phone" in res.json["unmapped_headers"]


def test_preview_refuses_a_bad_mapping_naming_the_column(steward):
    upload_id = uploaded(steward)

    def preview(mapping: dict[str, Any]):
        return steward.post(
            f"{API}/imports/preview",
            {"upload_id": upload_id, "entity": "contact", "mapping": mapping},
        )

    res = preview({"Email": "emial"})
    assert res.status_int == 400
    assert res.json["error"]["fields"] == {
        "mapping.Email": "'emial' is not a field a contact import can fill"
    }
    res = preview({"Email": "email", "Fax": "phone"})
    assert res.json["error"]["fields"] == {"mapping.Fax": "is not a column of the file"}
    res = preview({"Job Title": "title"})
    assert "mapping" in res.json["error"]["fields"]  # nothing identifies a contact
    res = preview({"Email": "email", "First Name": "external_id"})
    assert res.json["error"]["fields"] == {"mapping": "an external id column needs the source name"}


def test_preview_of_an_unknown_or_foreign_upload(steward, login):
    upload_id = uploaded(steward)
    other = login(Role.DATA_STEWARD)
    res = other.post(f"{API}/imports/preview", {"upload_id": upload_id, "entity": "contact"})
    assert res.status_int == 404
    res = steward.post(f"{API}/imports/preview", {"upload_id": "0" * 32, "entity": "contact"})
    assert res.status_int == 404
    assert res.json["error"]["code"] == "not_found"
    res = steward.post(f"{API}/imports/preview", {"upload_id": "../etc", "entity": "contact"})
    assert res.status_int == 400
    assert res.json["error"]["fields"] == {"upload_id": "is not an upload id"}


# ---------------------------------------------------------------- running


def test_an_import_runs_as_a_job_and_reports(steward, dbsession):
    upload_id = uploaded(steward)
    res = start(steward, upload_id, create_accounts=True)
    assert res.status_int == 202, res.text
    created = res.json
    assert (created["status"], created["job"]["status"]) == ("queued", "queued")
    assert created["created_by_id"] == steward.user.id

    res = steward.get(f"{API}/imports/{created['id']}")
    assert res.status_int == 200
    batch = res.json
    assert batch["status"] == "succeeded"
    assert batch["job"]["status"] == "succeeded"
    assert batch["finished_at"] is not None
    counts = batch["counts"]
    assert (counts["rows"], counts["created"], counts["skipped"]) == (4, 2, 2)
    assert counts["skipped_reasons"] == {"first_name": 1, "phone": 1}
    assert counts["accounts_created"] == 2
    assert batch["rejected_rows"] == 2
    assert (batch["options"]["create_accounts"], batch["dry_run"]) == (True, False)
    ada = contact(dbsession, "ada@analytical.io")
    assert (ada.phone, ada.title, ada.account_id is not None) == ("+16502530000", "Countess", True)
    # A rejected row is not imported in part: Grace's valid email did not make a contact.
    assert contact(dbsession, "grace@navy.example") is None
    assert contact(dbsession, "mallory@evil.example") is None


def test_an_import_job_knows_how_many_rows_it_has_before_it_starts(
    steward, dbsession, session_factory, monkeypatch
):
    """The progress bar of an import has an end: the job counts the file's rows first."""
    from pivotal_core.jobs.services import Progress

    seen: list[tuple[int, int | None, str | None, str]] = []
    report = Progress.__call__

    def watch(self, current, total=None, message=None, force=False):
        report(self, current, total, message, force)
        with session_factory() as reader:
            job = reader.get(Job, self.job_id)
            seen.append((job.progress_current, job.progress_total, job.message, job.status))

    monkeypatch.setattr(Progress, "__call__", watch)
    res = start(steward, uploaded(steward))
    assert res.status_int == 202, res.text

    assert seen[0] == (0, 4, "4 rows to import", "running")  # before any row is read
    assert {total for _, total, _, _ in seen} == {4}  # the chunks' reports keep it
    job = steward.get(f"{API}/imports/{res.json['id']}").json["job"]
    assert (job["status"], job["progress_current"], job["progress_total"]) == ("succeeded", 4, 4)
    assert job["percent"] == 100.0


def test_rejected_rows_download_as_a_safe_csv(steward):
    batch_id = start(steward, uploaded(steward)).json["id"]
    res = steward.get(f"{API}/imports/{batch_id}/rejected")
    assert res.status_int == 200
    assert res.content_type == "text/csv"
    assert res.headers["Content-Disposition"].startswith(
        f'attachment; filename="rejected-rows-{batch_id}-people.csv"'
    )
    rows = list(csv.reader(io.StringIO(res.body.decode("utf-8-sig"))))
    assert rows[0] == ["Rejected because", "Row", *MAPPING]
    assert rows[1][:2] == ["phone: is not a valid phone number", "3"]
    assert rows[2][1] == "5"
    # The formula comes back as text a spreadsheet will not evaluate.
    assert rows[2][2] == '\'=HYPERLINK("http://evil.example")'


def test_a_dry_run_writes_nothing_but_its_report(steward, dbsession):
    res = start(steward, uploaded(steward), dry_run=True, create_accounts=True)
    assert res.status_int == 202, res.text
    batch = steward.get(f"{API}/imports/{res.json['id']}").json
    assert (batch["status"], batch["dry_run"]) == ("succeeded", True)
    assert (batch["counts"]["created"], batch["counts"]["skipped"]) == (2, 2)
    assert batch["rejected_rows"] == 2
    assert contact(dbsession, "ada@analytical.io") is None
    res = steward.post(f"{API}/imports/{batch['id']}/undo")
    assert res.status_int == 409
    assert "dry run" in res.json["error"]["message"]


def test_bad_import_requests_are_refused_and_write_nothing(steward, dbsession):
    upload_id = uploaded(steward)

    def totals() -> tuple[int, int, int, int]:
        return (
            count(dbsession, ImportBatch),
            count(dbsession, Job),
            count(dbsession, Contact),
            count(dbsession, AuditEvent),
        )

    before = totals()
    cases = [
        ({"source": "Hub Spot!"}, {"source"}),
        ({"source": "manual"}, {"source"}),
        ({"entity": "lead"}, {"entity"}),
        ({"mapping": {"Email": "email", "Phone": "fax"}}, {"mapping.Phone"}),
        ({"mapping": {"Email": "email", "Phone": "email"}}, {"mapping.Phone"}),
        ({"create_accounts": "yes"}, {"create_accounts"}),
        ({"colour": "blue"}, {"colour"}),
        ({"as_of": "2026-01-01T00:00:00"}, {"as_of"}),
        ({"source": "Hub Spot!", "mapping": {"Email": "emial"}}, {"source", "mapping.Email"}),
    ]
    for body, fields in cases:
        res = start(steward, upload_id, **body)
        assert res.status_int == 400, (body, res.text)
        assert set(res.json["error"]["fields"]) == fields, (body, res.json)
    res = start(steward, "f" * 32)
    assert res.status_int == 404
    assert totals() == before


def test_an_upload_can_be_imported_twice(steward, dbsession):
    upload_id = uploaded(steward)
    first = start(steward, upload_id).json
    second = start(steward, upload_id, source="crm-export").json
    assert first["id"] != second["id"]
    report = steward.get(f"{API}/imports/{second['id']}").json["counts"]
    assert (report["created"], report["unchanged"]) == (0, 2)


# ---------------------------------------------------------------- list and read


def test_batches_are_listed_newest_first_in_keyset_pages(steward, make_import_batch):
    ids = [make_import_batch(entity=e).id for e in ("contact", "account", "contact")]
    res = steward.get(f"{API}/imports", params={"limit": 2})
    assert res.status_int == 200
    assert [b["id"] for b in res.json["items"]] == [ids[2], ids[1]]
    assert res.json["items"][0]["status"] == "uploaded"
    res = steward.get(f"{API}/imports", params={"limit": 2, "cursor": res.json["next_cursor"]})
    assert [b["id"] for b in res.json["items"]][:1] == [ids[0]]
    res = steward.get(f"{API}/imports", params={"entity": "account"})
    assert [b["id"] for b in res.json["items"]] == [ids[1]]
    assert steward.get(f"{API}/imports", params={"status": "lost"}).status_int == 400
    assert steward.get(f"{API}/imports", params={"cursor": "junk"}).status_int == 400


def test_missing_batches_are_404(steward):
    for method, path in (
        ("get", "/imports/999999"),
        ("get", "/imports/999999/rejected"),
        ("post", "/imports/999999/undo"),
    ):
        res = getattr(steward, method)(f"{API}{path}")
        assert res.status_int == 404, path
        assert res.json["error"]["code"] == "not_found"


def test_roles_without_the_import_permission_get_403(login):
    agent = login(Role.AGENT)
    for method, path in (
        ("post", "/imports/uploads"),
        ("post", "/imports/preview"),
        ("post", "/imports"),
        ("get", "/imports"),
        ("get", "/imports/1"),
        ("get", "/imports/1/rejected"),
        ("post", "/imports/1/undo"),
        ("get", "/import-mappings"),
        ("post", "/import-mappings"),
    ):
        res = getattr(agent, method)(f"{API}{path}")
        assert res.status_int == 403, path
        assert res.json["error"]["code"] == "forbidden"
    for role in (Role.ADMIN, Role.MANAGER, Role.DATA_STEWARD):
        assert login(role).get(f"{API}/imports").status_int == 200


# ---------------------------------------------------------------- undo


def test_undo_runs_as_a_job_and_reports_what_changed_later(steward, dbsession, make_contact):
    grace = make_contact(
        first_name="Grace", last_name="Hopper", email="grace@navy.example", title="Captain"
    )
    csv_text = (
        "Email,First Name,Last Name,Job Title,City\n"
        "grace@navy.example,Grace,Hopper,Rear Admiral,Arlington\n"
        "ada@analytical.io,Ada,Lovelace,Countess,London\n"
        "alan@bletchley.example,Alan,Turing,Cryptanalyst,Bletchley\n"
    )
    batch_id = start(steward, uploaded(steward, csv_text.encode())).json["id"]
    alan = contact(dbsession, "alan@bletchley.example")
    # After the import, people change Grace's city and Alan's title.
    for record, change in ((grace, {"city": "Washington"}), (alan, {"title": "Professor"})):
        res = steward.patch(f"{API}/contacts/{record.id}", change)
        assert res.status_int == 200, res.text

    res = steward.post(f"{API}/imports/{batch_id}/undo")
    assert res.status_int == 202, res.text
    assert res.json["undo_job"]["status"] == "queued"
    batch = steward.get(f"{API}/imports/{batch_id}").json
    assert batch["status"] == "undone"
    assert batch["undo_job"]["status"] == "succeeded"
    assert batch["undone_at"] is not None
    report = batch["undo_report"]
    assert report["deleted"] == {"contact": 1, "account": 0}
    assert report["conflicts"] == [
        {"entity": "contact", "id": grace.id, "field": "city", "reason": "changed later (api)"}
    ]
    assert report["kept"] == [
        {"entity": "contact", "id": alan.id, "reason": "changed after the import"}
    ]
    grace_now = contact(dbsession, "grace@navy.example")
    assert (grace_now.title, grace_now.city) == ("Captain", "Washington")
    assert contact(dbsession, "ada@analytical.io").deleted_at is not None
    assert contact(dbsession, "alan@bletchley.example").deleted_at is None

    again = steward.post(f"{API}/imports/{batch_id}/undo")
    assert again.status_int == 409
    assert "already been undone" in again.json["error"]["message"]


def test_undo_is_refused_while_the_batch_or_an_undo_is_pending(
    steward, dbsession, make_import_batch
):
    waiting = make_import_batch()
    res = steward.post(f"{API}/imports/{waiting.id}/undo")
    assert res.status_int == 409
    assert "is uploaded" in res.json["error"]["message"]

    batch_id = start(steward, uploaded(steward)).json["id"]
    dbsession.add(Job(kind=UNDO_TASK, status="queued", params={"batch_id": batch_id}))
    dbsession.commit()
    jobs_before = count(dbsession, Job)
    res = steward.post(f"{API}/imports/{batch_id}/undo")
    assert res.status_int == 409
    assert "being undone already" in res.json["error"]["message"]
    assert count(dbsession, Job) == jobs_before


# ---------------------------------------------------------------- saved mappings


def test_saved_mappings(steward, dbsession):
    res = steward.post(
        f"{API}/import-mappings",
        {"entity": "contact", "name": "Trade show", "columns": {"E-mail": "email", "Notes": None}},
    )
    assert res.status_int == 200, res.text
    assert res.json["columns"] == {"E-mail": "email", "Notes": None}
    steward.post(
        f"{API}/import-mappings",
        {"entity": "account", "name": "Firms", "columns": {"Domain": "domain"}},
    )
    names = [m["name"] for m in steward.get(f"{API}/import-mappings").json["items"]]
    assert names == ["Firms", "Trade show"]
    res = steward.get(f"{API}/import-mappings", params={"entity": "contact"})
    assert [m["name"] for m in res.json["items"]] == ["Trade show"]

    before = count(dbsession, ImportMapping)
    res = steward.post(
        f"{API}/import-mappings",
        {"entity": "contact", "name": "Broken", "columns": {"E-mail": "emial"}},
    )
    assert res.status_int == 400
    assert set(res.json["error"]["fields"]) == {"columns.E-mail"}
    res = steward.post(f"{API}/import-mappings", {"entity": "lead", "name": "x", "columns": {}})
    assert set(res.json["error"]["fields"]) == {"entity"}
    assert count(dbsession, ImportMapping) == before


def test_openapi_describes_the_upload_as_multipart(anonymous):
    doc = anonymous.get(f"{API}/openapi.json").json
    operation = doc["paths"]["/api/v1/imports/uploads"]["post"]
    schema = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    form = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    assert form["properties"]["file"]["contentMediaType"] == "application/octet-stream"
    assert form["required"] == ["file"]
    assert {"201", "400", "413"} <= set(operation["responses"])
    assert "dataquality:import" in operation["description"]


def test_erased_people_come_back_only_when_a_privacy_officer_says_so(steward, login, dbsession):
    ada = steward.post(f"{API}/contacts", {"first_name": "Ada", "email": "ada@analytical.io"}).json
    res = steward.post(f"{API}/contacts/{ada['id']}/erase", {"reason": "request #7"})
    assert res.status_int == 200, res.text

    # By default the erased person's row is rejected with the reason.
    batch = start(steward, uploaded(steward)).json
    counts = steward.get(f"{API}/imports/{batch['id']}").json["counts"]
    assert counts["skipped_reasons"]["erased"] == 1
    assert contact(dbsession, "ada@analytical.io") is None

    # Bringing people back is a privacy decision: an importer without privacy:erase is refused.
    manager = login(Role.MANAGER)
    batches = count(dbsession, ImportBatch)
    res = start(manager, uploaded(manager), allow_erased=True)
    assert res.status_int == 403, res.text
    assert "privacy:erase" in res.json["error"]["message"]
    assert count(dbsession, ImportBatch) == batches

    res = start(steward, uploaded(steward), allow_erased=True)
    assert res.status_int == 202, res.text
    batch = steward.get(f"{API}/imports/{res.json['id']}").json
    assert batch["options"]["allow_erased"] is True
    assert "erased" not in batch["counts"]["skipped_reasons"]
    assert contact(dbsession, "ada@analytical.io").first_name == "Ada"
