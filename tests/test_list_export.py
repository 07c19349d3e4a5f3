"""Exports: a list's members, a segment's current members and any selection, as CSV or
JSON over the API and from the staff UI; chosen columns (an unknown one is a 400 naming
it), formula-safe cells, Content-Disposition names (RFC 6266), permissions, and rows
streamed from one cursor in batches, never gathered in memory."""

from __future__ import annotations

import csv
import html
import io
import json
import types
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import Select, text
from sqlalchemy.engine import Connection

from pivotal_core.audience import bulk, exports
from pivotal_core.audience.models import AudienceList
from pivotal_core.authnz.permissions import Role
from pivotal_core.customfields.services import create_definition
from pivotal_core.exports import attachment_filename

API = "/api/v1"
FORMULA = '=HYPERLINK("http://evil.example","click")'


def csv_rows(res) -> list[dict[str, str]]:
    assert res.content_type == "text/csv", res.text
    return list(csv.DictReader(io.StringIO(res.body.decode("utf-8-sig"))))


def header(res) -> list[str]:
    return next(csv.reader(io.StringIO(res.body.decode("utf-8-sig"))))


@pytest.fixture
def listed(admin, make_account, make_contact):
    """A contact list named with non-ASCII letters: two members (one named as a formula),
    a contact outside the list."""
    acme = make_account(name="Acme", domain="acme.com", industry="Software")
    formula = make_contact(first_name=FORMULA, last_name="Evil", email="evil@acme.com")
    plain = make_contact(
        first_name="Ada",
        last_name="Lovelace",
        email="ada@acme.com",
        tags=["vip", "q3"],
        phone="+4930123456",
    )
    outside = make_contact(first_name="Out", last_name="Side")
    created = admin.post(
        f"{API}/lists",
        {"name": "Kunden München/Q3", "entityType": "contact", "recordIds": [plain.id, formula.id]},
    )
    assert created.status_int == 201, created.text
    return {
        "list": created.json,
        "acme": acme,
        "formula": formula,
        "plain": plain,
        "outside": outside,
    }


def test_list_export_as_csv_is_formula_safe_and_named(admin, listed):
    res = admin.post(f"{API}/lists/{listed['list']['id']}/export", {})
    assert res.status_int == 200, res.text
    assert res.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert res.headers["Cache-Control"] == "no-store"
    disposition = res.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="Kunden-M-nchen-Q3-')
    assert f"filename*=UTF-8''{quote('Kunden München/Q3', safe='')}-" in disposition
    assert disposition.endswith(".csv")
    assert res.body.startswith(b"\xef\xbb\xbf")  # a BOM: spreadsheets read UTF-8
    rows = csv_rows(res)
    formula, plain = listed["formula"], listed["plain"]
    assert [int(r["id"]) for r in rows] == sorted([formula.id, plain.id])
    by_id = {int(r["id"]): r for r in rows}
    # Opened in a spreadsheet, the cell is text, not a formula.
    assert by_id[formula.id]["first_name"] == "'" + FORMULA
    assert by_id[plain.id]["tags"] == "q3, vip"
    assert by_id[plain.id]["phone"] == "'+4930123456"
    assert by_id[plain.id]["account_name"] == "Acme"
    assert by_id[plain.id]["account_id"] == str(listed["acme"].id)
    assert by_id[plain.id]["created_at"].endswith("+00:00")
    assert by_id[plain.id]["deleted_at"] == ""
    assert header(res)[:6] == [
        "id",
        "first_name",
        "last_name",
        "email",
        "account_id",
        "account_name",
    ]


def test_chosen_columns_and_unknown_ones(admin, listed, dbsession, system_actor):
    create_definition(
        dbsession,
        system_actor,
        {"entity": "contact", "key": "score", "label": "Score", "type": "number"},
    )
    dbsession.commit()
    list_id = listed["list"]["id"]
    columns = ["email", "account.industry", "custom_fields.score", "contact.has_email", "id"]
    res = admin.post(f"{API}/lists/{list_id}/export", {"columns": columns})
    assert header(res) == columns
    rows = csv_rows(res)
    assert rows[0]["account.industry"] == "Software"
    assert rows[0]["contact.has_email"] == "true"
    # Unknown and repeated columns are refused, each named.
    bad = admin.post(
        f"{API}/lists/{list_id}/export",
        {"columns": ["email", "shoe_size", "email", "list"]},
    )
    assert bad.status_int == 400
    fields = bad.json["error"]["fields"]
    assert set(fields) == {"columns[1]", "columns[2]", "columns[3]"}
    assert "'shoe_size' is not a column of contacts" in fields["columns[1]"]
    assert "given twice" in fields["columns[2]"]
    # The default columns end with the custom fields.
    assert header(admin.post(f"{API}/lists/{list_id}/export", {}))[-1] == "custom_fields.score"


def test_json_export_keeps_values_as_they_are(admin, listed):
    res = admin.post(
        f"{API}/lists/{listed['list']['id']}/export",
        {"format": "json", "columns": ["id", "first_name", "tags", "account_id", "updated_at"]},
    )
    assert res.status_int == 200, res.text
    assert res.headers["Content-Type"].split(";")[0] == "application/json"  # UTF-8 by definition
    assert res.headers["Content-Disposition"].endswith(".json")
    items = json.loads(res.body)
    by_id = {item["id"]: item for item in items}
    assert by_id[listed["formula"].id]["first_name"] == FORMULA  # JSON is not a spreadsheet
    assert by_id[listed["plain"].id]["tags"] == ["q3", "vip"]
    assert by_id[listed["plain"].id]["account_id"] == listed["acme"].id
    assert "T" in by_id[listed["plain"].id]["updated_at"]
    empty = admin.post(
        f"{API}/bulk/contacts/export",
        {"selection": {"q": "nobody-here"}, "format": "json"},
    )
    assert json.loads(empty.body) == []
    assert (
        admin.post(f"{API}/lists/{listed['list']['id']}/export", {"format": "xml"}).status_int
        == 400
    )


def test_segment_export_has_its_current_members(admin, listed, make_contact):
    segment = admin.post(
        f"{API}/segments",
        {
            "name": "At Acme",
            "entityType": "contact",
            "definition": {
                "op": "and",
                "rules": [{"field": "account.domain", "operator": "equals", "value": "acme.com"}],
            },
        },
    ).json
    late = make_contact(first_name="Late", email="late@acme.com")
    res = admin.post(f"{API}/segments/{segment['id']}/export", {"columns": ["id"]})
    assert res.headers["Content-Disposition"].startswith('attachment; filename="At-Acme-')
    assert sorted(int(r["id"]) for r in csv_rows(res)) == sorted(
        [listed["formula"].id, listed["plain"].id, late.id]
    )


def test_selection_export_with_exclusions_and_deleted_records(admin, listed, make_account):
    plain, formula = listed["plain"], listed["formula"]
    res = admin.post(
        f"{API}/bulk/contacts/export",
        {"selection": {"all": True, "exclude": [formula.id]}, "columns": ["id", "email"]},
    )
    assert res.headers["Content-Disposition"].startswith('attachment; filename="contacts-')
    assert [int(r["id"]) for r in csv_rows(res)] == sorted([plain.id, listed["outside"].id])
    admin.delete(f"{API}/contacts/{plain.id}")
    deleted = admin.post(
        f"{API}/bulk/contacts/export",
        {"selection": {"all": True, "deleted": True}, "columns": ["id", "deleted_at"]},
    )
    rows = csv_rows(deleted)
    assert [int(r["id"]) for r in rows] == [plain.id] and rows[0]["deleted_at"]
    # The list export leaves deleted members out.
    members = csv_rows(
        admin.post(f"{API}/lists/{listed['list']['id']}/export", {"columns": ["id"]})
    )
    assert [int(r["id"]) for r in members] == [formula.id]
    # Accounts: their own columns.
    parent = make_account(name="=cmd|' /C calc'!A0")
    make_account(name="Child", parent_id=parent.id)
    accounts = admin.post(
        f"{API}/bulk/accounts/export",
        {"selection": {"q": "child"}, "columns": ["name", "parent_name", "account.contact_count"]},
    )
    assert csv_rows(accounts) == [
        {"name": "Child", "parent_name": "'=cmd|' /C calc'!A0", "account.contact_count": "0"}
    ]


def test_exports_check_permissions(login, listed, dbsession):
    list_id = listed["list"]["id"]
    # Another user's private list does not exist for them.
    assert login(Role.MANAGER).post(f"{API}/lists/{list_id}/export", {}).status_int == 404
    # Agents read contacts but not audiences; campaign managers read both.
    assert login(Role.AGENT).post(f"{API}/lists/{list_id}/export", {}).status_int == 403
    manager = login(Role.CAMPAIGN_MANAGER)
    audience = dbsession.get(AudienceList, list_id)
    audience.visibility_scope = "global"
    dbsession.commit()
    assert manager.post(f"{API}/lists/{list_id}/export", {}).status_int == 200
    # A client user reads no contacts.
    client = login(Role.CLIENT)
    res = client.post(f"{API}/bulk/contacts/export", {"selection": {"all": True}})
    assert res.status_int == 403


def _export(app, dbsession, fmt: str) -> exports.Export:
    kind = bulk.record_type(app.registry, "contact")
    return exports.export_selection(
        dbsession,
        kind,
        bulk.Selection("contact", all=True),
        viewer=None,
        permissions=frozenset({kind.read_permission}),
        columns=["id", "first_name"],
        fmt=fmt,
        filename="contacts",
    )


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_exports_stream_rows_from_one_cursor_in_batches(
    app, admin, listed, dbsession, monkeypatch, make_contact, fmt
):
    """Memory stays flat: the body is an iterator over one query's cursor (server-side on
    PostgreSQL), fetched ``BATCH`` rows at a time with ``yield_per`` and written batch by
    batch — never the whole result in memory. (CSV on PostgreSQL goes through COPY: see
    the next test.)"""
    if fmt == "csv" and dbsession.get_bind().dialect.name == "postgresql":
        pytest.skip("CSV on PostgreSQL is written by COPY")
    for n in range(5):
        make_contact(first_name=f"Streamed{n}")
    monkeypatch.setattr(exports, "BATCH", 3)
    export = _export(app, dbsession, fmt)
    executed: list[dict[str, Any]] = []
    batches: list[int] = []
    original_execute = Connection.execute

    def spy(connection, statement, *args, **kw):
        result = original_execute(connection, statement, *args, **kw)
        if not isinstance(statement, Select):
            return result  # the session's own savepoints
        executed.append(dict(statement.get_execution_options()))
        partitions = result.partitions

        def counted(*a, **k):
            for rows in partitions(*a, **k):
                batches.append(len(rows))
                yield rows

        result.partitions = counted
        return result

    monkeypatch.setattr(Connection, "execute", spy)
    body = export.body(app.registry["dbsession_factory"])
    assert isinstance(body, types.GeneratorType)
    first = next(body)
    assert batches == []  # the start of the file, before any row is read
    second = next(body)
    assert batches == [3]  # one batch read, one written
    if dbsession.get_bind().dialect.name == "postgresql":
        # The rest waits in a server-side cursor, not in this process.
        open_cursors = original_execute(
            dbsession.connection(), text("SELECT count(*) FROM pg_cursors")
        )
        assert open_cursors.scalar() == 1
    rest = list(body)
    assert batches == [3, 3, 2]  # 8 contacts
    assert [o.get("yield_per") for o in executed] == [3]  # one query, streamed
    document = b"".join([first, second, *rest]).decode("utf-8-sig")
    if fmt == "json":
        assert len(json.loads(document)) == 8
    else:
        assert len(list(csv.DictReader(io.StringIO(document)))) == 8


def test_csv_on_postgresql_streams_copy_in_chunks(
    app, listed, dbsession, monkeypatch, make_contact
):
    """On PostgreSQL the database writes the CSV (``COPY (query) TO STDOUT``) and the
    body passes it on in chunks of about ``COPY_CHUNK`` bytes as it arrives."""
    if dbsession.get_bind().dialect.name != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    for n in range(30):
        make_contact(first_name=f"=Copied{n}")
    monkeypatch.setattr(exports, "COPY_CHUNK", 64)
    export = _export(app, dbsession, "csv")
    body = export.body(app.registry["dbsession_factory"])
    assert isinstance(body, types.GeneratorType)
    assert next(body) == b"\xef\xbb\xbfid,first_name\n"
    chunks = list(body)
    assert len(chunks) > 3  # passed on as COPY's output arrives, not gathered
    rows = list(csv.DictReader(io.StringIO("id,first_name\n" + b"".join(chunks).decode())))
    assert len(rows) == 33  # with the three of the fixture
    assert {r["first_name"] for r in rows if r["first_name"].startswith("'")} == {
        f"'=Copied{n}" for n in range(30)
    } | {"'" + FORMULA}


def test_copy_binds_every_kind_of_selection_value(admin, listed, make_contact, dbsession):
    """The COPY statement gets the selection's values bound by the driver (quoted as
    literals): texts with quotes, lists, dates, tags and ids give the same rows as the
    cursor does (the JSON export)."""
    make_contact(first_name="O'Brien", last_name="Quote", tags=["it's"], country="IE")
    selection = {
        "filter": {
            "op": "or",
            "rules": [
                {"field": "contact.first_name", "operator": "in", "value": ["o'brien", "ada"]},
                {"field": "contact.tags", "operator": "has_any", "value": ["it's", "vip"]},
                {"field": "contact.created_at", "operator": "after", "value": "2000-01-01"},
            ],
        },
        "q": "o'b",
        "exclude": [listed["outside"].id],
    }
    as_csv = admin.post(
        f"{API}/bulk/contacts/export", {"selection": selection, "columns": ["id", "first_name"]}
    )
    as_json = admin.post(
        f"{API}/bulk/contacts/export",
        {"selection": selection, "columns": ["id", "first_name"], "format": "json"},
    )
    assert [r["first_name"] for r in csv_rows(as_csv)] == ["O'Brien"]
    assert [int(r["id"]) for r in csv_rows(as_csv)] == [i["id"] for i in json.loads(as_json.body)]


def test_staff_ui_exports_a_list_and_its_errors(web_login, listed, dbsession):
    audience = dbsession.get(AudienceList, listed["list"]["id"])
    audience.visibility_scope = "global"
    dbsession.commit()
    client = web_login(Role.CAMPAIGN_MANAGER)
    res = client.post(f"/lists/{audience.id}/export")
    rows = csv_rows(res)
    assert {int(r["id"]) for r in rows} == {listed["formula"].id, listed["plain"].id}
    assert res.headers["Content-Disposition"].startswith('attachment; filename="Kunden-M-nchen')
    as_json = client.post(f"/lists/{audience.id}/export", {"format": "json"})
    assert len(json.loads(as_json.body)) == 2
    refused = client.post(f"/lists/{audience.id}/export", [("columns", "nope")])
    assert refused.status_int == 303
    assert "'nope' is not a column" in html.unescape(client.get(refused.headers["Location"]).text)
    # Without the CSRF token nothing is exported.
    assert client.post(f"/lists/{audience.id}/export", csrf=False).status_int == 400
    # The list page's Export button posts here.
    page = client.get(f"/lists/{audience.id}")
    assert f'action="/lists/{audience.id}/export"' in page.text


def test_attachment_filename_follows_rfc_6266():
    assert attachment_filename("report") == (
        "attachment; filename=\"report.csv\"; filename*=UTF-8''report.csv"
    )
    # No quote, backslash, semicolon or slash reaches the header unencoded.
    value = attachment_filename('a"b\\c; d/é', "json")
    assert value == (
        "attachment; filename=\"a-b-c-d.json\"; filename*=UTF-8''a%22b%5Cc%3B%20d%2F%C3%A9.json"
    )
    assert attachment_filename("ñ").startswith('attachment; filename="export.csv"')
