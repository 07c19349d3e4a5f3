"""Privacy erase: no personal data left in contacts, identifiers, audit values or merges;
keyed digests kept so a later import recognises the person in any spelling."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from pivotal_core.audit.models import AuditEvent
from pivotal_core.audit.services import Actor, field_changes
from pivotal_core.authnz.permissions import Role
from pivotal_core.config import SettingsError, merge_settings
from pivotal_core.contacts.models import Contact, ContactIdentifier
from pivotal_core.contacts.services import update_contact
from pivotal_core.dataquality.erase import erase_contact, is_erased, preview_erase
from pivotal_core.dataquality.files import FileFormat, read_rows, sniff
from pivotal_core.dataquality.identity import erasure_keys, identity_digest
from pivotal_core.dataquality.merge import merge_records, revert_merge
from pivotal_core.dataquality.models import (
    ErasedIdentity,
    ImportRejection,
    Merge,
    RecordRedirect,
)
from pivotal_core.dataquality.storage import store_upload
from pivotal_core.errors import NotFound, ValidationFailed
from pivotal_core.testing.fixtures import TEST_SECRET

API = "/api/v1"
ACTOR = Actor.system("test")
# What must not survive anywhere, in any case.
PERSONAL = ("jane.doe", "+16502530000", "+16502530011", "janedoe-42", "doe", "jdoe-old")


def audit_text(dbsession) -> str:
    """Every column of every audit event as one lower-cased text."""
    table = AuditEvent.__table__
    rows = dbsession.execute(select(table)).mappings().all()
    return json.dumps([dict(row) for row in rows], default=str).lower()


def count(dbsession, model: type, *where: Any) -> int:
    return dbsession.scalar(select(func.count()).select_from(model).where(*where))


@pytest.fixture
def jane(admin):
    res = admin.post(
        f"{API}/contacts",
        {
            "first_name": "Jane",
            "last_name": "Doe",
            "email": "Jane.Doe@Example.com",
            "phone": "+1 650 253 0000",
            "mobile": "(650) 253-0011",
            "linkedin_url": "https://www.linkedin.com/in/janedoe-42/",
            "title": "CTO",
            "external_ids": {"crm": "C-77"},
        },
    )
    assert res.status_int == 201, res.text
    res = admin.patch(f"{API}/contacts/{res.json['id']}", {"title": "CEO", "city": "Boston"})
    assert res.status_int == 200, res.text
    return res.json


def test_erase_leaves_no_personal_data_and_keeps_digests(admin, login, dbsession, jane):
    steward = login(Role.DATA_STEWARD)
    res = steward.post(f"{API}/contacts/{jane['id']}/erase", {"reason": "GDPR request #12"})
    assert res.status_int == 200, res.text
    assert res.json["erased_contacts"] == [jane["id"]]
    assert sorted(i["kind"] for i in res.json["identities"]) == [
        "email",
        "linkedin",
        "phone",
        "phone",
    ]

    assert dbsession.get(Contact, jane["id"]) is None
    assert count(dbsession, Contact) == 0
    assert count(dbsession, ContactIdentifier) == 0
    text = audit_text(dbsession)
    for value in PERSONAL:
        assert value not in text, value
    assert "jane" not in text

    # Field names and times stay; values are gone.
    rows = dbsession.scalars(
        select(AuditEvent)
        .where(AuditEvent.entity == "contact", AuditEvent.entity_id == jane["id"])
        .order_by(AuditEvent.id)
    ).all()
    fields = {(row.action, name) for row in rows for name, _, _ in field_changes(row)}
    assert {("create", "email"), ("update", "title"), ("update", "city")} <= fields
    created = next(row for row in rows if row.action == "create")
    assert set(created.new_value.values()) == {"[erased]"}
    assert all(row.created_at is not None for row in rows)
    erase_events = [row for row in rows if row.action == "erase"]
    assert len(erase_events) == 1
    assert erase_events[0].actor_id == steward.user.id
    assert erase_events[0].new_value == {
        "erased_contacts": [jane["id"]],
        "identities": 4,
        "rejected_rows": 0,
        "import_files": 0,
        "import_file_rows": 0,
    }
    assert {row.old_value for row in rows if row.action != "erase"} == {"[erased]"}

    digests = dbsession.scalars(select(ErasedIdentity)).all()
    assert len(digests) == 4
    assert {d.reason for d in digests} == {"GDPR request #12"}
    assert {d.erased_by_id for d in digests} == {steward.user.id}
    assert identity_digest("email", "jane.doe@example.com", TEST_SECRET) in {
        d.digest for d in digests
    }
    assert not any(v in json.dumps([d.digest for d in digests]) for v in PERSONAL)

    assert admin.get(f"{API}/contacts/{jane['id']}").status_int == 404


def test_is_erased_finds_the_person_in_any_spelling(admin, dbsession, jane):
    assert admin.post(f"{API}/contacts/{jane['id']}/erase", {"reason": "request"}).status_int == 200
    assert is_erased(dbsession, "email", "  JANE.DOE@example.COM ", TEST_SECRET)
    assert is_erased(dbsession, "email", "<jane.doe@EXAMPLE.com>", TEST_SECRET)
    assert is_erased(dbsession, "phone", "(650) 253-0000", TEST_SECRET)
    assert is_erased(dbsession, "mobile", "+1 650 253 0011", TEST_SECRET)
    assert is_erased(dbsession, "phone", "+16502530011", TEST_SECRET)
    assert is_erased(dbsession, "linkedin", "linkedin.com/in/JaneDoe-42", TEST_SECRET)
    assert not is_erased(dbsession, "email", "john.doe@example.com", TEST_SECRET)
    assert not is_erased(dbsession, "email", "not an email", TEST_SECRET)
    assert not is_erased(dbsession, "email", None, TEST_SECRET)
    # Another key, another digest: nothing to find.
    assert not is_erased(dbsession, "email", "jane.doe@example.com", "another-secret-" * 3)


def test_a_later_import_does_not_silently_recreate_the_person(
    admin, dbsession, jane, make_import_batch
):
    from pivotal_core.dataquality.rows import ImportOptions, PreparedRow
    from pivotal_core.dataquality.upsert import import_rows

    assert admin.post(f"{API}/contacts/{jane['id']}/erase", {"reason": "request"}).status_int == 200
    batch = make_import_batch()
    row = PreparedRow(
        number=1,
        values={"email": "jane.doe@example.com", "first_name": "Jane"},
        raw={"E-mail": "Jane.Doe@example.com", "Name": "Jane"},
    )
    importer = Actor(user_id=None, source="import:hubspot")
    counts = import_rows(dbsession, batch, [row], ImportOptions(), importer, secret=TEST_SECRET)
    assert (counts.created, counts.skipped_reasons) == (0, {"erased": 1})
    assert count(dbsession, Contact) == 0
    # The rejected row says why, but keeps none of the person's cells.
    rejection = dbsession.scalars(
        select(ImportRejection).where(ImportRejection.batch_id == batch.id)
    ).one()
    assert rejection.raw == {"E-mail": "[erased]", "Name": "[erased]"}
    assert "allow_erased" in rejection.reasons["erased"]


def test_a_new_erasure_key_still_recognises_people_erased_under_the_old_one(
    app, admin, dbsession, jane, make_contact, make_import_batch, monkeypatch
):
    from pivotal_core.dataquality.rows import ImportOptions, PreparedRow
    from pivotal_core.dataquality.upsert import import_rows

    assert admin.post(f"{API}/contacts/{jane['id']}/erase", {"reason": "r"}).status_int == 200
    old_digest = identity_digest("email", "jane.doe@example.com", TEST_SECRET)
    assert old_digest in set(dbsession.scalars(select(ErasedIdentity.digest)))
    # The key changes: the new one first, the old one kept to recognise earlier erasures.
    new_key = "n" * 40
    keys = erasure_keys({"privacy.erasure_keys": [new_key, TEST_SECRET]})
    assert keys == (new_key, TEST_SECRET)
    assert erasure_keys({"auth.secret": TEST_SECRET, "privacy.erasure_keys": []}) == (TEST_SECRET,)
    assert erasure_keys({"privacy.erasure_keys": f"{new_key}, {TEST_SECRET}"}) == keys
    assert is_erased(dbsession, "email", "Jane.Doe@Example.com", keys)
    assert not is_erased(dbsession, "email", "Jane.Doe@Example.com", new_key)
    row = PreparedRow(number=1, values={"email": "jane.doe@example.com"}, raw={"E": "x"})
    importer = Actor(user_id=None, source="import:hubspot")
    counts = import_rows(
        dbsession, make_import_batch(), [row], ImportOptions(), importer, secret=keys
    )
    assert (counts.created, counts.skipped_reasons) == (0, {"erased": 1})

    # A later erasure keeps its digests under the new key only.
    monkeypatch.setitem(app.registry.settings, "privacy.erasure_keys", [new_key, TEST_SECRET])
    sam = make_contact(email="sam@example.org")
    assert admin.post(f"{API}/contacts/{sam.id}/erase", {"reason": "r"}).status_int == 200
    digests = set(dbsession.scalars(select(ErasedIdentity.digest)))
    assert identity_digest("email", "sam@example.org", new_key) in digests
    assert identity_digest("email", "sam@example.org", TEST_SECRET) not in digests
    # Erasing someone erased before under the old key reuses that digest, not a second one.
    dbsession.expunge_all()  # SQLite gives an erased contact's id to the next one
    again = make_contact(email="jane.doe@example.com")
    res = admin.post(f"{API}/contacts/{again.id}/erase", {"reason": "again"})
    assert res.status_int == 200
    rows = dbsession.scalars(select(ErasedIdentity).where(ErasedIdentity.kind == "email")).all()
    assert sorted(r.digest for r in rows) == sorted(
        [old_digest, identity_digest("email", "sam@example.org", new_key)]
    )


def test_erasure_keys_are_secrets_of_32_characters_or_more():
    with pytest.raises(SettingsError, match="privacy.erasure_keys"):
        merge_settings({"auth.secret": "x" * 40, "privacy.erasure_keys": "short"}, environ={})
    with pytest.raises(SettingsError, match="PIVOTAL_PRIVACY_ERASURE_KEYS"):
        merge_settings(
            {
                "auth.secret": "x" * 40,
                "pivotal.env": "production",
                "privacy.erasure_keys": "k" * 40,
            },
            environ={"PIVOTAL_AUTH_SECRET": "y" * 40},
        )


def test_erase_scrubs_the_rows_imports_rejected_for_the_person(
    admin, dbsession, jane, make_import_batch
):
    batch = make_import_batch(
        source="tradeshow",
        mapping={"Mail": "email", "Tel": "mobile", "Who": "first_name", "In": "linkedin_url"},
    )
    rows = [
        # Jane by her email in another spelling, by her mobile (with an extension), by her
        # LinkedIn URL in other case; then someone else, with Jane's number's digits
        # inside a longer one.
        {"Mail": "Jane <JANE.DOE@Example.com>", "Tel": "12", "Who": "Jane", "In": ""},
        {"Mail": "not-an-email", "Tel": "(650) 253-0011 x7", "Who": "J.", "In": ""},
        {"Mail": "", "Tel": "12", "Who": "J", "In": "linkedin.com/in/JaneDoe-42"},
        {"Mail": "grace@navy.example", "Tel": "+44 20 2530 0119", "Who": "Grace", "In": ""},
    ]
    for number, raw in enumerate(rows, start=2):
        dbsession.add(
            ImportRejection(
                batch_id=batch.id,
                row_number=number,
                reasons={"mobile": f"{raw['Tel']} is not a valid phone number"},
                raw=raw,
            )
        )
    dbsession.flush()

    res = admin.post(f"{API}/contacts/{jane['id']}/erase", {"reason": "request #9"})
    assert res.status_int == 200, res.text
    assert res.json["rejected_rows"] == 3

    dbsession.expire_all()
    kept = {
        r.row_number: (r.raw, r.reasons)
        for r in dbsession.scalars(
            select(ImportRejection).where(ImportRejection.batch_id == batch.id)
        )
    }
    erased = dict.fromkeys(("Mail", "Tel", "Who", "In"), "[erased]")
    assert kept[2] == kept[3] == kept[4] == (erased, {"mobile": "[erased]"})
    assert kept[5] == (rows[3], {"mobile": f"{rows[3]['Tel']} is not a valid phone number"})


def test_erase_reads_national_numbers_in_imported_rows_as_imports_do(
    app, admin, dbsession, make_contact, make_import_batch, monkeypatch
):
    londoner = make_contact(email="sam@example.org", phone="+44 20 7946 0018")
    batch = make_import_batch(source="fair", mapping={"Tel": "phone", "Who": "first_name"})
    dbsession.add(
        ImportRejection(
            batch_id=batch.id, row_number=2, reasons={"Who": "too long"},
            raw={"Tel": "020 7946 0018", "Who": "Sam"},
        )
    )  # fmt: skip
    dbsession.commit()
    # Read in the US plan the number is someone else's (or nobody's); in GB's it is Sam's.
    assert preview_erase(dbsession, londoner.id, default_region="US").rejected_rows == 0
    assert preview_erase(dbsession, londoner.id, default_region="GB").rejected_rows == 1

    monkeypatch.setitem(app.registry.settings, "phone.default_region", "GB")
    res = admin.post(f"{API}/contacts/{londoner.id}/erase", {"reason": "request #11"})
    assert res.status_int == 200, res.text
    assert res.json["rejected_rows"] == 1


# A contact file as people export it: Latin-1, semicolons, a line break inside a cell, a
# blank line. Rows 3 and 6 are Jane (another spelling of her email; her mobile).
LEADS = [
    ["Mail", "Tel", "Who", "Notes"],
    ["grace@navy.example", "+44 20 7946 0018", "Grace", "met at the fair\nsecond line"],
    ["JANE.DOE@example.com", "", "Jane", "wants a demo"],
    ["ada@analytical.example", "(650) 253-0099", "Ada", "Zürich office"],
    [],
    ["", "650.253.0011", "J. D.", "call back"],
    ["alan@turing.example", "", "Alan", ""],
]


def _kept_file(imports_dir, kind: str) -> str:
    """Store LEADS as an upload is stored; returns its path."""
    if kind == "csv":
        lines = [";".join(f'"{c}"' if "\n" in c else c for c in row) for row in LEADS]
        data = ("\r\n".join(lines) + "\r\n").encode("latin-1")
    else:
        from openpyxl import Workbook

        workbook = Workbook()
        sheet = workbook.active
        sheet.title = "Leads"
        for row in LEADS:
            sheet.append(row or [None])
        workbook.create_sheet("Other").append(["Jane's twin", "jane.doe@example.com"])
        buffer = io.BytesIO()
        workbook.save(buffer)
        data = buffer.getvalue()
    path, _ = store_upload(
        {"dataquality.imports_dir": str(imports_dir)}, io.BytesIO(data), f"leads.{kind}"
    )
    return path


def _rows(path: str, file_format: dict[str, Any]) -> dict[int, dict[str, str]]:
    return dict(read_rows(path, FileFormat.from_dict(file_format)))


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_erase_empties_the_persons_rows_in_kept_import_files(
    admin, dbsession, jane, make_import_batch, imports_dir, kind
):
    mapping = {"Mail": "email", "Tel": "mobile", "Who": "first_name", "Notes": None}
    path = _kept_file(imports_dir, kind)
    file_format = sniff(path).as_dict()
    before = _rows(path, file_format)
    assert sorted(before) == [2, 3, 4, 6, 7]
    # The batch and its repeat run share the file; another file does not name Jane.
    batches = [make_import_batch(source="fair", mapping=mapping) for _ in range(2)]
    other = make_import_batch(source="web", mapping=mapping)
    other_path, _ = store_upload(
        {"dataquality.imports_dir": str(imports_dir)},
        io.BytesIO(b"Mail,Tel,Who,Notes\r\nada@analytical.example,,Ada,\r\n"),
        "web.csv",
    )
    for batch, stored in [*((b, path) for b in batches), (other, other_path)]:
        batch.stored_path = stored
        batch.file_format = sniff(stored).as_dict()
    dbsession.commit()
    assert preview_erase(dbsession, jane["id"]).stored_files == 2

    res = admin.post(f"{API}/contacts/{jane['id']}/erase", {"reason": "request #10"})
    assert res.status_int == 200, res.text
    assert (res.json["import_files"], res.json["import_file_rows"]) == (1, 2)

    dbsession.expire_all()
    for batch in batches:
        dbsession.refresh(batch)
    new_path = batches[0].stored_path
    assert {b.stored_path for b in batches} == {new_path} and new_path != path
    assert not Path(path).exists()  # the old file went with the commit
    data = Path(new_path).read_bytes()
    assert batches[0].file_sha256 == hashlib.sha256(data).hexdigest()
    for secret in (b"jane", b"JANE", b"253-0011", b"253.0011", b"J. D."):
        assert secret not in data
    # Every other row reads as before, at its number; Jane's rows are empty (skipped).
    after = _rows(new_path, batches[0].file_format)
    assert after == {n: cells for n, cells in before.items() if n not in (3, 6)}
    assert batches[0].file_format["kind"] == "csv"
    assert batches[0].file_format["headers"] == LEADS[0]
    dbsession.refresh(other)
    assert other.stored_path == other_path and Path(other_path).exists()
    erase_event = dbsession.scalars(select(AuditEvent).where(AuditEvent.action == "erase")).one()
    assert erase_event.new_value["import_file_rows"] == 2


def test_erase_takes_every_record_merged_into_the_person(admin, dbsession, jane, make_contact):
    old = make_contact(
        first_name="J", last_name="Doe", email="jdoe-old@example.com", external_ids={"x": "1"}
    )
    merge = merge_records(dbsession, ACTOR, "contact", jane["id"], old.id, {"email": "merged"})
    dbsession.commit()
    merge_id = merge.id

    # The old id leads to the person.
    res = admin.post(f"{API}/contacts/{old.id}/erase", {"reason": "request"})
    assert res.status_int == 200, res.text
    assert res.json["erased_contacts"] == sorted([jane["id"], old.id])
    assert count(dbsession, Contact) == 0
    assert count(dbsession, ContactIdentifier) == 0
    assert count(dbsession, RecordRedirect) == 0
    text = audit_text(dbsession)
    for value in PERSONAL:
        assert value not in text, value

    dbsession.expire_all()
    merge = dbsession.get(Merge, merge_id)
    merge_text = json.dumps([merge.choices, merge.survivor_before, merge.moved]).lower()
    for value in PERSONAL:
        assert value not in merge_text, value
    assert is_erased(dbsession, "email", "JDOE-OLD@example.com", TEST_SECRET)
    assert is_erased(dbsession, "email", "jane.doe@example.com", TEST_SECRET)
    res = admin.post(f"{API}/merges/{merge_id}/revert")
    assert res.status_int == 409
    assert res.json["error"]["fields"] == {"merge": "a record in it was erased"}


def test_erase_scrubs_the_persons_values_from_a_former_merge_partner(dbsession, jane, make_contact):
    partner = make_contact(first_name="Pat", last_name="Other", email="pat@other.org")
    merge = merge_records(
        dbsession, ACTOR, "contact", partner.id, jane["id"], {"mobile": "merged", "phone": "merged"}
    )
    revert_merge(dbsession, ACTOR, merge.id)
    update_contact(dbsession, ACTOR, partner, {"title": "Buyer"})
    dbsession.commit()
    assert "+16502530011" in audit_text(dbsession)

    erase_contact(dbsession, ACTOR, jane["id"], "request", TEST_SECRET)
    text = audit_text(dbsession)
    for value in PERSONAL:
        assert value not in text, value
    # The partner and its own history stay.
    dbsession.refresh(partner)
    assert (partner.email, partner.title) == ("pat@other.org", "Buyer")
    assert "pat@other.org" in text


def test_erasing_again_later_reuses_the_digests(admin, dbsession, jane, make_contact):
    erase_contact(dbsession, ACTOR, jane["id"], "first request", TEST_SECRET)
    again = make_contact(first_name="Jane", last_name="Doe", email="jane.doe@example.com")
    kept = erase_contact(dbsession, ACTOR, again.id, "second request", TEST_SECRET)
    assert [row.kind for row in kept] == ["email"]
    assert count(dbsession, ErasedIdentity) == 4


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "reason"),
        ({"reason": ""}, "reason"),
        ({"reason": 12}, "reason"),
        ({"reason": "x" * 1001}, "reason"),
        ({"reason": "ok", "hard": True}, "hard"),
    ],
)
def test_bad_erase_input_names_the_field_and_changes_nothing(
    admin, dbsession, jane, payload, field
):
    events_before = count(dbsession, AuditEvent)
    res = admin.post(f"{API}/contacts/{jane['id']}/erase", payload)
    assert res.status_int == 400, res.text
    assert field in res.json["error"]["fields"]
    assert count(dbsession, Contact) == 1
    assert count(dbsession, AuditEvent) == events_before
    assert count(dbsession, ErasedIdentity) == 0
    assert "jane.doe@example.com" in audit_text(dbsession)


def test_erase_service_refusals(dbsession, jane):
    with pytest.raises(ValidationFailed) as exc:
        erase_contact(dbsession, ACTOR, jane["id"], "   ", TEST_SECRET)
    assert "reason" in exc.value.fields
    with pytest.raises(NotFound):
        erase_contact(dbsession, ACTOR, 987654, "request", TEST_SECRET)
    assert count(dbsession, Contact) == 1


def test_only_admins_and_data_stewards_may_erase(login, admin, jane):
    url = f"{API}/contacts/{jane['id']}/erase"
    for role in (Role.MANAGER, Role.CAMPAIGN_MANAGER, Role.AGENT, Role.QA_REVIEWER):
        assert login(role).post(url, {"reason": "x"}).status_int == 403, role
    assert admin.post(f"{API}/contacts/987654/erase", {"reason": "x"}).status_int == 404
    assert login(Role.DATA_STEWARD).post(url, {"reason": "x"}).status_int == 200
