"""Preparing import rows: mapping and normalizing cells exactly as the API does, row-level
reasons, formula cells, the benchmark's messy file, parallel preparation, batches and the
preview."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pytest

from bench.messy import HEADER as MESSY_HEADER
from bench.messy import write_messy_contacts_csv
from pivotal_core.contacts.services import cleaners as contact_cleaners
from pivotal_core.customfields.models import CustomFieldDefinition
from pivotal_core.dataquality.files import MAX_CELL_CHARS, read_rows, sniff
from pivotal_core.dataquality.mapping import suggest_mapping
from pivotal_core.dataquality.models import ImportBatch
from pivotal_core.dataquality.prepare import (
    FORMULA_REASON,
    PARALLEL_MIN_BYTES,
    CustomField,
    prepare_rows,
    prepare_rows_parallel,
    prepared_rows,
    preparing_workers,
    preview,
)
from pivotal_core.errors import ValidationFailed

CONTACT_MAPPING = {
    "First Name": "first_name",
    "Last Name": "last_name",
    "Email": "email",
    "Phone": "phone",
    "Country": "country",
}


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def prepare_file(path: Path, mapping=None, entity="contact", **options):
    options.setdefault("default_region", "US")
    fmt = sniff(path)
    mapping = mapping if mapping is not None else suggest_mapping(entity, fmt.headers)
    return list(prepare_rows(entity, read_rows(path, fmt), mapping, **options))


def prepare_cells(cells: list[dict[str, str]], mapping, entity="contact", **options):
    options.setdefault("default_region", "US")
    rows = [(number, row) for number, row in enumerate(cells, 2)]
    return list(prepare_rows(entity, rows, mapping, **options))


# ------------------------------------------------------------------ normalization


def test_values_are_normalized_like_the_api(tmp_path):
    path = write(
        tmp_path,
        "c.csv",
        "First Name,Last Name,Email,Phone,Country,Job Title,Tags\n"
        "  JOSÉ ,o'brien, Jose.OBrien@Example.COM ,(650) 253-0000, usa ,VP  Sales,"
        '"Trial; prospect,TRIAL"\n',
    )

    [row] = prepare_file(path)

    assert row.number == 2
    assert row.errors == {}
    assert row.values == {
        "first_name": "José",
        "last_name": "O'Brien",
        "email": "jose.obrien@example.com",
        "phone": "+16502530000",
        "country": "US",
        "title": "VP Sales",
        "tags": ["prospect", "trial"],
    }
    # Exactly what the API's cleaners make of the same cells.
    clean = contact_cleaners("US")
    assert row.values["first_name"] == clean["first_name"]("  JOSÉ ")
    assert row.values["email"] == clean["email"](" Jose.OBrien@Example.COM ")
    assert row.raw["Email"] == " Jose.OBrien@Example.COM "


def test_latin1_names_come_through_prepared(tmp_path):
    path = write(
        tmp_path,
        "l.csv",
        "First Name;Last Name;Email\nJOSÉ;MÜLLER;jose@example.de\nFrançois;Dupont;f@example.fr\n",
        "latin-1",
    )

    rows = prepare_file(path)

    assert [(r.values["first_name"], r.values["last_name"]) for r in rows] == [
        ("José", "Müller"),
        ("François", "Dupont"),
    ]


def test_blank_cells_never_become_values():
    [row] = prepare_cells(
        [{"First Name": "Ann", "Last Name": "   ", "Email": "", "Phone": "\u00a0", "Country": ""}],
        CONTACT_MAPPING,
    )

    assert row.values == {"first_name": "Ann"} and row.errors == {}


def test_rows_with_nothing_mapped_in_them_are_left_out():
    rows = prepare_cells(
        [{"Email": "a@example.com", "Notes": ""}, {"Email": "  ", "Notes": "only unmapped"}],
        {"Email": "email", "Notes": None},
    )

    assert [row.number for row in rows] == [2]


def test_national_phone_numbers_are_read_in_the_rows_country():
    rows = prepare_cells(
        [
            {"Phone": "030 12345678", "Country": "Germany", "Email": "a@example.de"},
            {"Phone": "020 7946 0958", "Country": "UK", "Email": "b@example.co.uk"},
            {"Phone": "(650) 253-0000", "Country": "", "Email": "c@example.com"},
            {"Phone": "030 12345678", "Country": "Atlantis", "Email": "d@example.com"},
        ],
        CONTACT_MAPPING,
    )

    assert [row.values.get("phone") for row in rows] == [
        "+493012345678",
        "+442079460958",
        "+16502530000",  # no country: the default region
        None,
    ]
    # An unknown country is an error of its own; the phone is read in the default region.
    assert rows[3].errors == {
        "country": "is not a known country",
        "phone": "is not a valid phone number",
    }


def test_invalid_emails_and_phones_give_reasons_naming_the_field():
    rows = prepare_cells(
        [
            {"Email": "jane@@example.com", "Phone": "(650) 253-0000"},
            {"Email": "bob@example.com", "Phone": "12345"},
            {"Email": "not an email", "Phone": "n/a"},
            {"Email": "ok@example.com", "Phone": "+1 650 253 0000"},
        ],
        {"Email": "email", "Phone": "phone"},
    )

    assert [row.errors for row in rows] == [
        {"email": "is not a valid email address"},
        {"phone": "is not a valid phone number"},
        {"email": "is not a valid email address", "phone": "is not a valid phone number"},
        {},
    ]
    assert "email" not in rows[0].values and rows[0].values["phone"] == "+16502530000"
    assert rows[2].raw == {"Email": "not an email", "Phone": "n/a"}


def test_duplicate_rows_within_a_file_both_come_through(tmp_path):
    line = "Ann,Lee,ann.lee@example.com,(650) 253-0000,US\n"
    path = write(
        tmp_path,
        "dups.csv",
        "First Name,Last Name,Email,Phone,Country\n" + line + line.upper(),
    )

    first, second = prepare_file(path)

    assert (first.number, second.number) == (2, 3)
    assert first.values == second.values  # merging them is the engine's job
    assert first.errors == second.errors == {}


# ------------------------------------------------------------------ hostile and broken cells


@pytest.mark.parametrize(
    "cell",
    [
        '=HYPERLINK("http://evil.test","click")',
        "=1+2",
        " =cmd|' /C calc'!A0",
        "@SUM(A1:A9)",
        "+cmd|' /C calc'!A0",
        "-IMPORTXML(A1)",
    ],
)
def test_formula_cells_are_rejected_with_a_reason(cell):
    [row] = prepare_cells(
        [{"First Name": cell, "Email": "a@example.com"}],
        {"First Name": "first_name", "Email": "email"},
    )

    assert row.errors == {"first_name": FORMULA_REASON}
    assert "first_name" not in row.values


@pytest.mark.parametrize(
    ("column", "cell", "field", "value"),
    [
        ("Phone", "+1 (650) 253-0000", "phone", "+16502530000"),
        ("Title", "- Sales (EMEA)", "title", "- Sales (EMEA)"),
        ("Title", "-", "title", "-"),
        ("Tags", "@risk, +vip", "tags", ["+vip", "@risk"]),
    ],
)
def test_values_that_merely_start_like_formulas_are_kept(column, cell, field, value):
    mapping = {"Email": "email", "Phone": "phone", "Title": "title", "Tags": "tags"}

    [row] = prepare_cells([{"Email": "a@example.com", column: cell}], mapping)

    assert row.errors == {} and row.values[field] == value


def test_a_formula_in_a_text_cell_of_an_xlsx_file_is_rejected(tmp_path):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Email", "Company", "Phone"])
    sheet.append(["a@example.com", None, 16502530000])
    cell = sheet.cell(row=2, column=2, value='=HYPERLINK("http://evil.test")')
    cell.data_type = "s"
    sheet.append(["b@example.com", "=1+2", None])  # a real formula: its saved value, none
    path = tmp_path / "f.xlsx"
    workbook.save(path)

    first, second = prepare_file(path)

    assert first.errors == {"account_name": FORMULA_REASON}
    assert first.values == {"email": "a@example.com", "phone": "+16502530000"}
    assert second.errors == {} and second.account_name is None


def test_100kb_cell_rejects_its_row_naming_the_field(tmp_path):
    big = "x" * (MAX_CELL_CHARS + 10)
    path = write(
        tmp_path,
        "big.csv",
        f'Email,Job Title,Notes\na@example.com,"{big}",n\nb@example.com,CEO,"{big}"\n',
    )

    first, second = prepare_file(path, {"Email": "email", "Job Title": "title", "Notes": None})

    assert list(first.errors) == ["title"]
    assert "100,010 characters" in first.errors["title"]
    assert first.raw["Job Title"] == ""  # the cell is never kept
    # The oversized cell of an unmapped column harms nothing.
    assert second.errors == {} and second.values == {"email": "b@example.com", "title": "CEO"}


def test_ragged_rows(tmp_path):
    path = write(
        tmp_path,
        "ragged.csv",
        "Email,First Name,Last Name\na@example.com,Ann\nb@example.com,Bo,Li,extra,cells\n",
    )

    short, long = prepare_file(path)

    assert short.errors == {} and short.values == {"email": "a@example.com", "first_name": "Ann"}
    assert set(long.errors) == {"row"} and "2 more cells" in long.errors["row"]


def test_unreadable_csv_row_is_rejected_and_the_rest_is_read(tmp_path):
    path = write(tmp_path, "q.csv", 'Email,Name\n"a@example.com"x,Ann\nb@example.com,Bo\n')

    bad, good = prepare_file(path, {"Email": "email", "Name": "first_name"})

    assert "not valid CSV" in bad.errors["row"]
    assert good.errors == {} and good.values["email"] == "b@example.com"


# ------------------------------------------------------------------ companies, ids, custom fields


def test_company_columns_attach_the_contact():
    rows = prepare_cells(
        [
            {
                "Email": "a@acme.test",
                "Company": " Acme,  Inc. ",
                "Website": "https://www.Acme.com/about",
            },
            {"Email": "b@beta.test", "Company": "", "Website": ""},
            {"Email": "c@x.test", "Company": "X", "Website": "localhost"},
        ],
        {"Email": "email", "Company": "account_name", "Website": "account_domain"},
    )

    assert (rows[0].account_name, rows[0].account_domain) == ("Acme, Inc.", "acme.com")
    assert "account_name" not in rows[0].values and "account_domain" not in rows[0].values
    # No website: nothing here; the engine falls back to the email domain.
    assert (rows[1].account_name, rows[1].account_domain) == (None, None)
    assert rows[2].errors == {"account_domain": "is not a valid domain name"}


def test_external_id_is_keyed_by_the_source():
    [row] = prepare_cells(
        [{"Record ID": " 123 ", "Email": "a@example.com"}],
        {"Record ID": "external_id", "Email": "email"},
        source="HubSpot",
    )

    assert row.external_ids == {"hubspot": "123"}
    assert "external_id" not in row.values
    with pytest.raises(ValueError, match="source"):
        prepare_cells([{"Record ID": "1"}], {"Record ID": "external_id"})


def test_account_rows():
    mapping = {
        "Name": "name",
        "Website": "domain",
        "Other domains": "secondary_domains",
        "Employees": "employee_count",
        "Revenue": "annual_revenue",
        "Tech": "technologies",
        "Country": "country",
        "Phone": "phone",
        "Id": "external_id",
    }
    rows = prepare_cells(
        [
            {
                "Name": " Acme  GmbH ",
                "Website": "www.acme.de",
                "Other domains": "acme.com; ACME.de, acme.co.uk",
                "Employees": "1,200",
                "Revenue": "$5M",
                "Tech": "Salesforce; HubSpot, salesforce",
                "Country": "Deutschland",
                "Phone": "030 12345678",
                "Id": "001A",
            },
            {"Name": "Beta", "Employees": "51-200", "Revenue": "-5"},
        ],
        mapping,
        entity="account",
        source="salesforce",
    )

    assert rows[0].errors == {}
    assert rows[0].values == {
        "name": "Acme GmbH",
        "domain": "acme.de",
        "secondary_domains": ["acme.co.uk", "acme.com"],  # not the primary again
        "employee_count": 1200,
        "annual_revenue": 5_000_000,
        "technologies": ["HubSpot", "Salesforce"],
        "country": "DE",
        "phone": "+493012345678",
    }
    assert rows[0].external_ids == {"salesforce": "001A"}
    assert rows[1].errors == {
        "employee_count": "must be a number",
        "annual_revenue": "must not be negative",
    }


def test_custom_fields_are_parsed_and_checked():
    definitions = [
        CustomField("nps", "number"),
        CustomField("active", "bool"),
        CustomField("renewal", "date"),
        CustomField("tier", "enum", ("Gold", "Silver")),
        CustomField("topics", "tags"),
        CustomField("note", "text"),
    ]
    mapping = {f"C{d.key}": f"custom_fields.{d.key}" for d in definitions} | {"Email": "email"}
    good = {"Cnps": "8.5", "Cactive": "Yes", "Crenewal": "2025-01-31T00:00:00", "Ctier": "gold",
            "Ctopics": "AI; Data,ai", "Cnote": " hello ", "Email": "a@example.com"}  # fmt: skip
    bad = {"Cnps": "lots", "Cactive": "maybe", "Crenewal": "31/01/2025", "Ctier": "Bronze",
           "Ctopics": "", "Cnote": "x", "Email": "b@example.com"}  # fmt: skip

    ok, wrong = prepare_cells([good, bad], mapping, custom_definitions=definitions)

    assert ok.errors == {}
    assert ok.values == {
        "custom_fields.nps": 8.5,
        "custom_fields.active": True,
        "custom_fields.renewal": "2025-01-31",
        "custom_fields.tier": "Gold",
        "custom_fields.topics": ["ai", "data"],
        "custom_fields.note": "hello",
        "email": "a@example.com",
    }
    assert wrong.errors == {
        "custom_fields.nps": "must be a number",
        "custom_fields.active": "must be yes or no (true/false)",
        "custom_fields.renewal": "must be a date (YYYY-MM-DD)",
        "custom_fields.tier": "must be one of Gold, Silver",
    }


def test_invalid_mapping_fails_before_reading():
    def rows():
        raise AssertionError("read")
        yield

    with pytest.raises(ValidationFailed) as caught:
        prepare_rows("contact", rows(), {"A": "email", "B": "email"}, default_region="US")

    assert caught.value.fields == {"mapping.B": "email is already filled from the column 'A'"}


# ------------------------------------------------------------------ the benchmark's messy file


@pytest.fixture(scope="module")
def messy_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("messy") / "contacts_messy.csv"
    counts = write_messy_contacts_csv(path, 4000, seed=11)
    return path, counts


def test_bench_messy_file_maps_and_prepares_with_only_its_deliberate_mess(messy_file):
    path, counts = messy_file
    fmt = sniff(path)
    mapping = suggest_mapping("contact", fmt.headers)
    assert None not in mapping.values() and list(mapping) == list(MESSY_HEADER)

    rows = list(
        prepare_rows("contact", read_rows(path, fmt), mapping, default_region="US", source="bench")
    )

    assert len(rows) == counts.rows
    failures = Counter(name for row in rows for name in row.errors)
    # Every rejection is one of the file's deliberately invalid e-mails or phones; all the
    # other mess (case, spaces, URL websites, phone formats, country spellings) normalizes.
    assert failures == {"email": counts.invalid_email_rows, "phone": counts.invalid_phone_rows}
    invalid = sum(1 for row in rows if row.errors)
    assert invalid <= 0.03 * counts.rows
    for row in rows:
        if row.errors:
            continue
        values = row.values
        assert values["email"] == values["email"].strip().lower()
        assert values["first_name"][0].isupper() and values["last_name"][0].isupper()
        assert len(values["country"]) == 2
        for name in ("phone", "mobile"):
            if name in values:
                assert values[name].startswith("+") and values[name][1:].isdigit()
        if row.raw["Website"].strip():
            assert row.account_domain and "/" not in row.account_domain
            assert row.account_domain in values["email"] or "@" in values["email"]
        if row.raw["Company"].strip():
            assert row.account_name == " ".join(row.raw["Company"].split())


@pytest.mark.parametrize("ahead", [1, 10_000])  # two chunks in flight; all of them
def test_parallel_preparation_gives_the_same_rows_in_order(messy_file, ahead):
    path, _ = messy_file
    fmt = sniff(path)
    mapping = suggest_mapping("contact", fmt.headers)

    serial = list(prepare_rows("contact", read_rows(path, fmt), mapping, default_region="US"))
    parallel = list(
        prepare_rows_parallel(
            "contact",
            read_rows(path, fmt),
            mapping,
            default_region="US",
            processes=2,
            chunk_size=300,
            ahead=ahead,
        )
    )

    assert parallel == serial


def test_a_big_file_is_prepared_by_one_worker_whatever_the_cpus():
    """Each worker holds its own interpreter and caches (130-170 MB): one per CPU put a
    4-CPU machine over the 500 MB import budget, and one outpaces the engine."""
    big, small = PARALLEL_MIN_BYTES, PARALLEL_MIN_BYTES - 1
    assert [preparing_workers(big, cpus) for cpus in (None, 1, 2, 4, 64)] == [0, 0, 1, 1, 1]
    assert [preparing_workers(small, cpus) for cpus in (2, 64)] == [0, 0]


# ------------------------------------------------------------------ batches and preview


def test_prepared_rows_of_a_batch(tmp_path, dbsession):
    dbsession.add(CustomFieldDefinition(entity="contact", key="nps", label="NPS", type="number"))
    dbsession.flush()
    path = write(tmp_path, "b.csv", "Id;E-mail;NPS\n7;A@Example.com;9\n8;bad;x\n")
    fmt = sniff(path)
    mapping = {"Id": "external_id", "E-mail": "email", "NPS": "custom_fields.nps"}
    batch = ImportBatch(
        entity="contact",
        source="Partner Feed",
        filename="b.csv",
        stored_path=str(path),
        file_sha256="0" * 64,
        file_format=fmt.as_dict(),
        mapping=mapping,
        as_of=dt.datetime.now(dt.UTC),
    )

    rows = list(prepared_rows(batch, "US", dbsession))

    assert [(r.number, r.values, r.external_ids, r.errors) for r in rows] == [
        (2, {"email": "a@example.com", "custom_fields.nps": 9}, {"partner feed": "7"}, {}),
        (
            3,
            {},
            {"partner feed": "8"},
            {"email": "is not a valid email address", "custom_fields.nps": "must be a number"},
        ),
    ]


def test_preview(tmp_path):
    lines = ["First Name,Email,Phone,Notes,Favourite colour"]
    lines += [f"Person {i},p{i}@example.com,(650) 253-0000,n,blue" for i in range(60)]
    lines[3] = "Bad,not-an-email,12345,n,red"
    lines[5] = "=1+1,ok@example.com,,n,red"
    path = write(tmp_path, "p.csv", "\n".join(lines) + "\n")
    fmt = sniff(path)
    mapping = {"First Name": "first_name", "Email": "email", "Phone": "phone", "Notes": None}

    result = preview(path, fmt, "contact", mapping, default_region="US", limit=10)

    assert len(result.rows) == 10
    assert (result.valid, result.invalid) == (8, 2)
    assert result.field_errors == {"email": 1, "phone": 1, "first_name": 1}
    assert result.unmapped_headers == ["Notes", "Favourite colour"]
    assert result.rows[2].errors == {
        "email": "is not a valid email address",
        "phone": "is not a valid phone number",
    }
    assert result.mapping == {**mapping, "Favourite colour": None}
    data = result.as_dict()
    assert data["rows"][0]["values"] == {
        "first_name": "Person 0",
        "email": "p0@example.com",
        "phone": "+16502530000",
    }
    assert data["format"]["delimiter"] == ","


def test_preview_of_an_invalid_mapping_lists_its_problems(tmp_path):
    path = write(tmp_path, "p.csv", "A,B\n1,2\n")

    mapping = {"A": "email", "B": "email", "C": "city"}

    result = preview(path, sniff(path), "contact", mapping, default_region="US")

    assert result.rows == []
    assert result.mapping_errors == {"B": "email is already filled from the column 'A'"}
    assert result.missing_headers == ["C"]


def test_several_columns_feed_one_list_field():
    [row] = prepare_cells(
        [{"Email": "a@example.com", "Tags": "VIP; trial", "Segment": "Trial, enterprise"}],
        {"Email": "email", "Tags": "tags", "Segment": "tags"},
    )

    assert row.values["tags"] == ["enterprise", "trial", "vip"]


@pytest.mark.parametrize(
    ("cell", "value"),
    [
        ("1200", 1200),
        ("1,200", 1200),
        ("1.200", 1200),
        ("1 200", 1200),
        ("2.5k", 2500),
        ("1200.00", 1200),
        ("€ 3,5M", 3_500_000),
    ],  # fmt: skip
)
def test_whole_numbers_as_people_write_them(cell, value):
    mapping = {"Name": "name", "Employees": "employee_count"}

    [row] = prepare_cells([{"Name": "Acme", "Employees": cell}], mapping, entity="account")

    assert row.errors == {} and row.values["employee_count"] == value
