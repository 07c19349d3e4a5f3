"""Reading import files: CSV or XLSX by content, encodings, delimiters, headers, ragged and
oversized rows, and clear file-level errors for what is not a data file."""

from __future__ import annotations

import datetime as dt
import pickle
from pathlib import Path

import pytest

from pivotal_core.dataquality.files import (
    MAX_CELL_CHARS,
    FileFormat,
    FileProblem,
    count_rows,
    read_rows,
    row_problems,
    sniff,
)

ACCENTED = [("José", "Müller", "München"), ("François", "Dupont", "Besançon"),
            ("Zoë", "Ångström", "Göteborg"), ("María", "Núñez", "Málaga")]  # fmt: skip


def write(tmp_path: Path, name: str, data: bytes | str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return path


def rows_of(path: Path, fmt: FileFormat | None = None) -> list[tuple[int, dict[str, str]]]:
    return list(read_rows(path, fmt or sniff(path)))


def accented_csv(delimiter: str = ",") -> str:
    lines = [delimiter.join(("First Name", "Last Name", "City"))]
    lines += [delimiter.join(person) for person in ACCENTED]
    return "\r\n".join(lines) + "\r\n"


# ------------------------------------------------------------------ encodings


def test_latin1_file_is_detected_and_accents_come_through(tmp_path):
    path = write(tmp_path, "latin1.csv", accented_csv(), "latin-1")

    fmt = sniff(path)

    assert fmt.encoding == "cp1252"  # Windows Western: Latin-1's letters plus € and quotes
    assert fmt.encoding_source == "detected"
    assert any("not UTF-8" in note for note in fmt.notes)
    names = [(c["First Name"], c["Last Name"], c["City"]) for _, c in rows_of(path, fmt)]
    assert names == ACCENTED


def test_windows_1252_punctuation_is_read_as_such(tmp_path):
    path = write(tmp_path, "cp1252.csv", "Name,Notes\nRenée,“quoted” – 5 €\n", "cp1252")

    [(_, cells)] = rows_of(path)

    assert cells == {"Name": "Renée", "Notes": "“quoted” – 5 €"}


def test_utf8_with_bom(tmp_path):
    path = write(tmp_path, "bom.csv", "\ufeff" + accented_csv())

    fmt = sniff(path)

    assert (fmt.encoding, fmt.encoding_source) == ("utf-8-sig", "bom")
    assert fmt.headers[0] == "First Name"  # no BOM glued to the first header
    assert [c["Last Name"] for _, c in rows_of(path, fmt)] == [p[1] for p in ACCENTED]


def test_plain_utf8(tmp_path):
    path = write(tmp_path, "utf8.csv", accented_csv())

    fmt = sniff(path)

    assert (fmt.encoding, fmt.encoding_source, fmt.notes) == ("utf-8", "utf-8", [])
    assert [c["City"] for _, c in rows_of(path, fmt)] == [p[2] for p in ACCENTED]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le"])
def test_utf16_with_and_without_bom(tmp_path, encoding):
    path = write(tmp_path, "utf16.csv", accented_csv("\t"), encoding)

    fmt = sniff(path)

    assert fmt.delimiter == "\t"
    assert [c["First Name"] for _, c in rows_of(path, fmt)] == [p[0] for p in ACCENTED]


def test_non_latin_single_byte_file_is_left_to_the_detector(tmp_path):
    text = "Имя,Город\nБорис,Москва\nАнна,Санкт-Петербург\nОльга,Новосибирск\n"
    path = write(tmp_path, "ru.csv", text, "cp1251")

    fmt = sniff(path)

    assert fmt.encoding == "cp1251"
    assert [c["Имя"] for _, c in rows_of(path, fmt)] == ["Борис", "Анна", "Ольга"]


def test_non_utf8_bytes_late_in_the_file_are_found(tmp_path):
    # The first 64 KB are ASCII; a Latin-1 name comes after: the whole file is checked.
    lines = ["Email,Name"] + [f"p{i}@example.com,Person {i}" for i in range(4000)]
    lines.append("last@example.com,Renée")
    path = write(tmp_path, "late.csv", "\n".join(lines) + "\n", "latin-1")

    fmt = sniff(path)
    rows = rows_of(path, fmt)

    assert fmt.encoding == "cp1252"
    assert rows[-1][1]["Name"] == "Renée"


# ------------------------------------------------------------------ delimiters and headers


@pytest.mark.parametrize(
    ("delimiter", "name"), [(",", "comma"), (";", "semicolon"), ("\t", "tab"), ("|", "pipe")]
)
def test_delimiter_is_sniffed(tmp_path, delimiter, name):
    # Values hold the other delimiters, so only the header's shape can decide.
    text = delimiter.join(["Email", "Company", "Tags"]) + "\n"
    text += delimiter.join(["a@example.com", '"Acme, Inc; Ltd"', '"x|y"']) + "\n"
    text += delimiter.join(["b@example.com", "Beta GmbH", "z"]) + "\n"
    path = write(tmp_path, "d.csv", text)

    fmt = sniff(path)

    assert fmt.delimiter == delimiter
    assert name in fmt.description
    assert rows_of(path, fmt)[0][1] == {
        "Email": "a@example.com",
        "Company": "Acme, Inc; Ltd",
        "Tags": "x|y",
    }


def test_semicolon_file_with_commas_in_values(tmp_path):
    path = write(tmp_path, "semi.csv", "Name;Company\nDoe, John;Acme, Inc.\nRoe, Jane;Beta\n")

    fmt = sniff(path)

    assert fmt.delimiter == ";"
    assert [c for _, c in rows_of(path, fmt)] == [
        {"Name": "Doe, John", "Company": "Acme, Inc."},
        {"Name": "Roe, Jane", "Company": "Beta"},
    ]


def test_excel_sep_hint_line(tmp_path):
    path = write(tmp_path, "sep.csv", "sep=;\nEmail;Name\na@example.com;Ann\n")

    fmt = sniff(path)

    assert (fmt.delimiter, fmt.header_row, fmt.headers) == (";", 2, ["Email", "Name"])
    assert rows_of(path, fmt) == [(3, {"Email": "a@example.com", "Name": "Ann"})]


def test_header_is_the_first_non_blank_row_and_row_numbers_are_spreadsheet_rows(tmp_path):
    path = write(
        tmp_path, "blank.csv", "\n\nEmail,Name\na@example.com,Ann\n,\n\nb@example.com,Bo\n"
    )

    fmt = sniff(path)

    assert fmt.header_row == 3
    assert rows_of(path, fmt) == [
        (4, {"Email": "a@example.com", "Name": "Ann"}),
        (7, {"Email": "b@example.com", "Name": "Bo"}),
    ]


def test_repeated_and_blank_headers_are_made_unique(tmp_path):
    path = write(tmp_path, "dup.csv", " Email ,Email,,Email\na@x.com,b@x.com,c,d@x.com\n")

    fmt = sniff(path)

    assert fmt.headers == ["Email", "Email (2)", "Column 3", "Email (3)"]
    assert "Email (2)" in fmt.notes[0]
    assert rows_of(path, fmt)[0][1] == {
        "Email": "a@x.com",
        "Email (2)": "b@x.com",
        "Column 3": "c",
        "Email (3)": "d@x.com",
    }


def test_quoted_cells_may_span_lines(tmp_path):
    path = write(tmp_path, "multi.csv", 'Name,Notes\nAnn,"line one\nline two"\nBo,x\n')

    assert rows_of(path) == [
        (2, {"Name": "Ann", "Notes": "line one\nline two"}),
        (3, {"Name": "Bo", "Notes": "x"}),
    ]


def test_rows_are_counted_as_records_after_the_header(tmp_path):
    """The total an import's progress is measured against: every record after the header
    row, blank ones and those spanning lines included, never more than it reads."""
    path = write(
        tmp_path, "count.csv", '\nEmail,Notes\na@x.com,"one\ntwo"\n,\n\nb@x.com,x\n"c@x.com,y\n'
    )
    fmt = sniff(path)

    read = rows_of(path, fmt)

    assert fmt.header_row == 2
    assert [number for number, _ in read] == [3, 6, 7]  # the last one unreadable
    assert count_rows(path, fmt) == 5 >= len(read)
    shorter = write(tmp_path, "shorter.csv", "\nEmail,Notes\n")  # emptied since it was read
    assert count_rows(shorter, fmt) == 0
    workbook = make_workbook(tmp_path / "book.xlsx")
    assert count_rows(workbook, sniff(workbook)) == 5  # rows 2 to 6, the empty row 3 too
    assert count_rows(workbook, sniff(workbook, sheet="Accounts")) == 1
    with pytest.raises(FileProblem, match="Unknown file kind"):
        count_rows(path, FileFormat("ods", ["Email"]))


def test_format_survives_a_round_trip_through_json(tmp_path):
    path = write(tmp_path, "f.csv", "Email;Name\na@example.com;Ann\n", "latin-1")
    fmt = sniff(path)

    again = FileFormat.from_dict(fmt.as_dict())

    assert again == fmt
    assert rows_of(path, again) == rows_of(path, fmt)


# ------------------------------------------------------------------ ragged and oversized rows


def test_ragged_rows(tmp_path):
    text = "A,B,C\n1,2\n1,2,3,4,5\n1,2,3,,\n1,2,3\n"
    path = write(tmp_path, "ragged.csv", text)

    rows = rows_of(path)

    assert [number for number, _ in rows] == [2, 3, 4, 5]
    short, extra, blank_extra, full = (cells for _, cells in rows)
    assert short == {"A": "1", "B": "2", "C": ""} and row_problems(short) == {}
    assert extra == {"A": "1", "B": "2", "C": "3"}
    assert row_problems(extra) == {
        "row": "the row has 2 more cells than there are columns (5 instead of 3); "
        "a delimiter inside an unquoted value?"
    }
    # Trailing empty cells (a delimiter at the end of every line) are no problem.
    assert row_problems(blank_extra) == {}
    assert row_problems(full) == {}


def test_cell_over_100kb_is_rejected_not_truncated(tmp_path):
    big = "x" * (MAX_CELL_CHARS + 1)
    path = write(tmp_path, "big.csv", f'Email,Notes\na@example.com,"{big}"\nb@example.com,ok\n')

    rows = rows_of(path)

    (_, first), (_, second) = rows
    assert first["Notes"] == ""  # never kept, not even in part
    assert "100,001 characters" in row_problems(first)["Notes"]
    assert first["Email"] == "a@example.com"
    assert second == {"Email": "b@example.com", "Notes": "ok"}


def test_cell_of_exactly_the_limit_is_read(tmp_path):
    cell = "y" * MAX_CELL_CHARS
    path = write(tmp_path, "limit.csv", f"Notes\n{cell}\n")

    [(_, cells)] = rows_of(path)

    assert cells["Notes"] == cell and row_problems(cells) == {}


def test_unclosed_quote_costs_its_row_not_the_rest_of_the_file(tmp_path):
    path = write(tmp_path, "quote.csv", 'A,B\n"ab"cd,2\n3,4\n')

    rows = rows_of(path)

    (n1, bad), (n2, good) = rows
    assert n1 == 2 and bad == {"A": "", "B": ""}
    assert "not valid CSV" in row_problems(bad)["row"]
    assert (n2, good) == (3, {"A": "3", "B": "4"})


def test_quote_never_closed_at_the_end_is_reported(tmp_path):
    path = write(tmp_path, "open.csv", 'A,B\n1,2\n"3,4\n5,6\n')

    rows = rows_of(path)

    assert rows[0] == (2, {"A": "1", "B": "2"})
    assert "never closed" in row_problems(rows[1][1])["row"]
    assert "lines 3 to 4" in row_problems(rows[1][1])["row"]


def test_rows_with_problems_keep_them_through_pickling(tmp_path):
    # prepare_rows_parallel ships rows to worker processes.
    path = write(tmp_path, "r.csv", "A,B\n1,2,3\n")
    [(_, cells)] = rows_of(path)

    copy = pickle.loads(pickle.dumps(cells))  # noqa: S301 - our own bytes

    assert copy == cells and row_problems(copy) == row_problems(cells) != {}


# ------------------------------------------------------------------ files that are not data


def test_empty_file(tmp_path):
    with pytest.raises(FileProblem, match="The file is empty"):
        sniff(write(tmp_path, "empty.csv", b""))


@pytest.mark.parametrize("data", [b"\xef\xbb\xbf", b"\r\n\r\n  \n", b",,\n,,\n"])
def test_blank_files_are_empty(tmp_path, data):
    with pytest.raises(FileProblem, match="empty"):
        sniff(write(tmp_path, "blank.csv", data))


def test_header_only_file(tmp_path):
    with pytest.raises(FileProblem, match="header row but no data rows"):
        sniff(write(tmp_path, "header.csv", "Email,First Name\r\n"))


def test_binary_file_renamed_csv(tmp_path):
    data = bytes(range(256)) * 64

    with pytest.raises(FileProblem, match="not text") as caught:
        sniff(write(tmp_path, "data.csv", data))

    assert caught.value.fields == {"file": caught.value.message}


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "a PDF document"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a PNG image"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "old Excel .xls"),
        (b"\x1f\x8b\x08\x00" + bytes(50), "a gzip archive"),
    ],
)
def test_known_binary_formats_are_named(tmp_path, data, what):
    with pytest.raises(FileProblem, match=what):
        sniff(write(tmp_path, "upload.csv", data))


def test_zip_that_is_not_a_workbook(tmp_path):
    import zipfile

    path = tmp_path / "archive.csv"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("contacts.csv", "Email\na@example.com\n")

    with pytest.raises(FileProblem, match="a ZIP archive"):
        sniff(path)


# ------------------------------------------------------------------ XLSX


def make_workbook(path: Path) -> Path:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Contacts"
    sheet.append(["First Name", "Last Name", "Email", "Phone", "Signed up", "Employees"])
    sheet.append(["José", "Müller", "jose@example.com", 14155550100, dt.date(2024, 3, 1), 12.0])
    sheet.append([])
    sheet.append(["Ann", None, "ann@example.com", "+44 20 7946 0958",
                  dt.datetime(2024, 3, 1, 10, 30), 2.5, None, "stray"])  # fmt: skip
    sheet.append(["=CONCAT(B2, C2)", "Roe", "roe@example.com"])
    text = sheet.cell(row=6, column=1, value='=HYPERLINK("http://x.test","click")')
    text.data_type = "s"  # a text cell that merely looks like a formula
    sheet.cell(row=6, column=3, value="link@example.com")
    other = workbook.create_sheet("Accounts")
    other.append(["Name", "Domain"])
    other.append(["Acme", "acme.test"])
    workbook.save(path)
    return path


def test_xlsx_is_recognised_by_content_whatever_its_name(tmp_path):
    path = make_workbook(tmp_path / "export.csv")

    fmt = sniff(path)

    assert (fmt.kind, fmt.sheet, fmt.header_row) == ("xlsx", "Contacts", 1)
    assert fmt.headers == ["First Name", "Last Name", "Email", "Phone", "Signed up", "Employees"]
    assert "2 sheets" in fmt.notes[0]


def test_xlsx_values_come_as_text(tmp_path):
    path = make_workbook(tmp_path / "book.xlsx")

    rows = rows_of(path)

    assert [number for number, _ in rows] == [2, 4, 5, 6]
    assert rows[0][1] == {
        "First Name": "José",
        "Last Name": "Müller",
        "Email": "jose@example.com",
        "Phone": "14155550100",  # a number typed in a cell, not "14155550100.0"
        "Signed up": "2024-03-01",
        "Employees": "12",
    }
    second = rows[1][1]
    assert second["Signed up"] == "2024-03-01T10:30:00"
    assert second["Employees"] == "2.5"
    assert second["Last Name"] == ""
    assert "more cells" in row_problems(second)["row"]
    assert "delimiter" not in row_problems(second)["row"]


def test_xlsx_formulas_give_their_saved_value_never_the_formula(tmp_path):
    path = make_workbook(tmp_path / "book.xlsx")

    rows = dict(rows_of(path))

    # openpyxl saves no computed value, so there is none to read: the cell is blank.
    assert rows[5]["First Name"] == ""
    # A text cell that looks like a formula stays text here; prepare rejects it.
    assert rows[6]["First Name"].startswith("=HYPERLINK(")


def test_xlsx_named_sheet(tmp_path):
    path = make_workbook(tmp_path / "book.xlsx")

    fmt = sniff(path, sheet="Accounts")

    assert fmt.sheet == "Accounts" and fmt.notes == []
    assert rows_of(path, fmt) == [(2, {"Name": "Acme", "Domain": "acme.test"})]
    with pytest.raises(FileProblem, match="no sheet 'Leads'"):
        sniff(path, sheet="Leads")


def test_xlsx_header_only_and_empty_sheets(tmp_path):
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.append(["Email", "Name"])
    workbook.create_sheet("Blank")
    path = tmp_path / "header.xlsx"
    workbook.save(path)

    with pytest.raises(FileProblem, match="header row but no data rows"):
        sniff(path)
    with pytest.raises(FileProblem, match="is empty"):
        sniff(path, sheet="Blank")
