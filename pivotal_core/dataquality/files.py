"""Reading uploaded import files: what a file is (CSV or XLSX, encoding, delimiter, header)
and its data rows as ``{header: cell text}``, streamed in constant memory."""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import io
import zipfile
from collections import deque
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from pivotal_core.errors import Unprocessable

__all__ = [
    "MAX_CELL_CHARS",
    "FileFormat",
    "FileProblem",
    "RowCells",
    "count_rows",
    "read_rows",
    "row_problems",
    "sniff",
]

# A longer cell is not data a CRM field can hold (the longest, an account description, is
# 5,000 characters): its row is rejected and the cell is never kept, not even truncated.
MAX_CELL_CHARS = 100_000
# Beyond this the csv module stops reading: a quote that never closes swallows the rest of
# the file into one cell, and that is a file-level problem.
_MAX_FIELD_CHARS = 16 * 1024 * 1024
DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_SAMPLE_BYTES = 64 * 1024
_SAMPLE_RECORDS = 50
_CHUNK_BYTES = 1024 * 1024

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Signatures of files people upload by mistake, to name them in the error.
_SIGNATURES = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel .xls workbook (or a password-protected "
     "one); save it as .xlsx or CSV UTF-8"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"BZh", "a bzip2 archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"\x7fELF", "a program"),
    (b"SQLite format 3\x00", "an SQLite database"),
)  # fmt: skip
# Bytes that never occur in text (all C0 controls but tab, newlines, form feed and escape).
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13, 27))
_WESTERN = "cp1252"
_NOT_CONTENT = str.maketrans("", "", '\ufeff\x00"' + "".join(DELIMITERS))


class FileProblem(Unprocessable):
    """The file as a whole cannot be imported; the message says why and what to do."""

    code = "file_problem"

    def __init__(self, message: str) -> None:
        super().__init__(message, {"file": message})


@dataclass
class FileFormat:
    """How to read one file; stored with its import batch (``ImportBatch.file_format``)."""

    kind: str  # "csv" or "xlsx"
    headers: list[str]
    # The spreadsheet row (1-based record number) holding the headers.
    header_row: int = 1
    encoding: str | None = None
    # How the encoding was found: "bom", "utf-8" (the whole file is valid UTF-8),
    # "detected" (guessed from the bytes) or "fallback".
    encoding_source: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    # What a person should know about how the file was read (guessed encoding, renamed
    # duplicate headers, ...), shown with the preview.
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "headers": list(self.headers),
            "header_row": self.header_row,
            "encoding": self.encoding,
            "encoding_source": self.encoding_source,
            "delimiter": self.delimiter,
            "sheet": self.sheet,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FileFormat:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in values.items() if k in names})

    @property
    def description(self) -> str:
        if self.kind == "xlsx":
            return f"Excel workbook, sheet {self.sheet!r}"
        delimiter = _DELIMITER_NAMES.get(self.delimiter or ",", repr(self.delimiter))
        return f"CSV, {self.encoding}, {delimiter}-separated"


class RowCells(dict):
    """The cells of a data row that reading found something wrong with.

    ``problems`` maps a header (or ``"row"``) to the reason; prepare turns the ones that
    matter into row errors. Rows without problems are plain dicts.
    """

    __slots__ = ("problems",)

    def __init__(self, cells: dict[str, str], problems: dict[str, str]) -> None:
        super().__init__(cells)
        self.problems = problems

    def __reduce__(self):  # keep the problems when rows go to a worker process
        return (RowCells, (dict(self), self.problems))


def row_problems(cells: dict[str, str]) -> dict[str, str]:
    """What reading found wrong with a row (``{header or "row": reason}``), usually nothing."""
    return getattr(cells, "problems", None) or {}


# --------------------------------------------------------------------------- sniffing


def sniff(path: str | Path, *, sheet: str | None = None) -> FileFormat:
    """Find out how to read ``path``: by its content, whatever its name says.

    Raises :class:`FileProblem` for an empty file, a file that is not CSV text or an
    XLSX workbook, or one with a header row but no data rows.
    """
    path = Path(path)
    with path.open("rb") as handle:
        head = handle.read(_SAMPLE_BYTES)
    if head.startswith(b"PK\x03\x04"):
        return _sniff_xlsx(path, sheet)
    for signature, what in _SIGNATURES:
        if head.startswith(signature):
            raise FileProblem(f"This file is {what}, not a CSV or XLSX file.")
    encoding, source, notes = _detect_encoding(path, head)
    text = _decoded_sample(head, encoding)
    if not text.translate(_NOT_CONTENT).strip():  # nothing but delimiters and blanks
        raise FileProblem("The file is empty.")
    delimiter, header_row, records = _sniff_layout(text, len(head) == _SAMPLE_BYTES)
    headers = records[0] if records else []
    if not any(cell.strip() for cell in headers):
        raise FileProblem("The file is empty.")
    if len(records) < 2 and len(head) < _SAMPLE_BYTES:
        raise FileProblem("The file has a header row but no data rows.")
    headers, renamed = _unique_headers(headers)
    if renamed:
        notes.append(f"Repeated or blank column headers were renamed: {', '.join(renamed)}.")
    return FileFormat(
        kind="csv",
        headers=headers,
        header_row=header_row,
        encoding=encoding,
        encoding_source=source,
        delimiter=delimiter,
        notes=notes,
    )


def _detect_encoding(path: Path, head: bytes) -> tuple[str, str, list[str]]:
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            if not _decodes(path, encoding):
                raise FileProblem(
                    f"The file starts with a {encoding.upper()} byte order mark but is not "
                    f"valid {encoding.upper()} text; save it again as CSV UTF-8."
                )
            return encoding, "bom", []
    if head.count(0) > len(head) // 100:  # a stray NUL in text is not enough
        utf16 = _bomless_utf16(head)
        if utf16 and _decodes(path, utf16):
            return utf16, "detected", [f"The text encoding was detected as {utf16.upper()}."]
        raise FileProblem(
            "This file is not text: it looks like a binary file (a spreadsheet, image or "
            "archive renamed to .csv?). Upload a CSV or XLSX file."
        )
    if _control_share(head) > 0.01:
        raise FileProblem(
            "This file is not text: it is full of control characters (a binary file renamed "
            "to .csv?). Upload a CSV or XLSX file."
        )
    offset = _first_invalid_utf8(path)
    if offset is None:
        return "utf-8", "utf-8", []
    guess = _guess_single_byte(head)
    note = (
        f"The file is not UTF-8 (first invalid byte at offset {offset:,}); it was read as "
        f"{guess}. Check accented names in the preview."
    )
    if guess != "latin-1" and _decodes(path, guess):
        return guess, "detected", [note]
    return "latin-1", "fallback", [note.replace(guess, "latin-1")]


def _bomless_utf16(head: bytes) -> str | None:
    """UTF-16 without a byte order mark: ASCII text has a NUL in every other byte."""
    sample = head[: len(head) // 2 * 2]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def _control_share(head: bytes) -> float:
    if not head:
        return 0.0
    return (len(head) - len(head.translate(None, _CONTROL_BYTES))) / len(head)


def _first_invalid_utf8(path: Path) -> int | None:
    """Offset of the first byte that is not UTF-8, reading the whole file in chunks."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    offset = 0
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(_CHUNK_BYTES)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                return offset + max(exc.start, 0)
            if not chunk:
                return None
            offset += len(chunk)


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    with path.open("rb") as handle:
        try:
            while chunk := handle.read(_CHUNK_BYTES):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def _guess_single_byte(head: bytes) -> str:
    """The encoding of text that is not UTF-8.

    Western European files (names like José Müller) are by far the most common in B2B
    data, and detectors misread short ones as Baltic or Central European code pages, so
    Windows-1252 (a superset of Latin-1's letters) is taken whenever the text reads as
    Latin script: accented letters *inside* otherwise ASCII words. Text whose words are
    made entirely of non-ASCII letters (Cyrillic, Greek, CJK read as Windows-1252) is left
    to charset-normalizer.
    """
    try:
        text = head.decode(_WESTERN)
    except UnicodeDecodeError:
        text = None
    if text is not None and _reads_as_latin(text):
        return _WESTERN
    from charset_normalizer import from_bytes

    best = from_bytes(head).best()
    if best is None:
        return _WESTERN if text is not None else "latin-1"
    encoding = codecs.lookup(best.encoding).name
    return encoding


def _reads_as_latin(text: str) -> bool:
    ascii_letters = other_letters = 0
    for word in text.split():
        if word.isascii():
            continue
        for char in word:
            if char.isalpha():
                if char.isascii():
                    ascii_letters += 1
                else:
                    other_letters += 1
    return other_letters <= ascii_letters


def _decoded_sample(head: bytes, encoding: str) -> str:
    decoder = codecs.getincrementaldecoder(encoding)("replace")
    return decoder.decode(head, final=len(head) < _SAMPLE_BYTES)


def _sniff_layout(text: str, truncated: bool) -> tuple[str, int, list[list[str]]]:
    """Delimiter, header row number and the first records (header first) of a CSV sample."""
    text = text.lstrip("\ufeff")
    first_line = text.split("\n", 1)[0].strip()
    skipped = 0
    forced = None
    # Excel's "sep=;" hint line names the delimiter of the file.
    if first_line.lower().startswith("sep=") and len(first_line) == 5:
        forced = first_line[4]
        text = text.split("\n", 1)[1] if "\n" in text else ""
        skipped = 1
    best: tuple[tuple[float, int, int], str, int, list[list[str]]] | None = None
    for rank, delimiter in enumerate(DELIMITERS if forced is None else (forced,)):
        header_row, records = _sample_records(text, delimiter, truncated)
        if not records:
            continue
        width = len(records[0])
        data = records[1:] or records
        consistent = sum(1 for record in data if len(record) == width) / len(data)
        score = (consistent if width > 1 else 0.0, width, -rank)
        if best is None or score > best[0]:
            best = (score, delimiter, header_row, records)
    if best is None:
        return forced or ",", 1 + skipped, []
    _, delimiter, header_row, records = best
    return delimiter, header_row + skipped, records


def _sample_records(text: str, delimiter: str, truncated: bool) -> tuple[int, list[list[str]]]:
    """The first non-blank records of a sample; the last is dropped if the sample cut it."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=False)
    records: list[list[str]] = []
    header_row = 0
    try:
        for number, record in enumerate(reader, 1):
            if not any(cell.strip() for cell in record):
                continue
            if not records:
                header_row = number
            records.append(record)
            if len(records) > _SAMPLE_RECORDS:
                break
    except csv.Error:
        pass
    if truncated and len(records) > 1 and len(records) <= _SAMPLE_RECORDS:
        records.pop()
    return header_row, records


def _unique_headers(cells: Sequence[str]) -> tuple[list[str], list[str]]:
    """Trimmed headers, blanks named ``Column N`` and repeats ``Email (2)``; and the renamed."""
    headers: list[str] = []
    renamed: list[str] = []
    seen: set[str] = set()
    for position, cell in enumerate(cells, 1):
        name = " ".join(cell.replace("\ufeff", "").split())
        base = name or f"Column {position}"
        name, copy = base, 1
        while name in seen:
            copy += 1
            name = f"{base} ({copy})"
        if name != base or not cell.strip():
            renamed.append(name)
        seen.add(name)
        headers.append(name)
    return headers, renamed


def _sniff_xlsx(path: Path, sheet: str | None) -> FileFormat:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile:
        raise FileProblem("This file is a damaged ZIP archive, not a CSV or XLSX file.") from None
    if "xl/workbook.xml" not in names:
        if "word/document.xml" in names:
            what = "a Word document"
        elif "content.xml" in names:
            what = "an OpenDocument file; save it as .xlsx or CSV UTF-8"
        else:
            what = "a ZIP archive"
        raise FileProblem(f"This file is {what}, not a CSV or XLSX file.")
    with _open_workbook(path) as workbook:
        worksheet = _worksheet(workbook, sheet)
        header_row, header = 0, None
        for number, values in enumerate(worksheet.iter_rows(values_only=True), 1):
            if any(_xlsx_text(value).strip() for value in values):
                if header is None:
                    header_row, header = number, values
                else:
                    break
        else:
            if header is None:
                raise FileProblem(f"The sheet {worksheet.title!r} is empty.")
            raise FileProblem(f"The sheet {worksheet.title!r} has a header row but no data rows.")
        headers, renamed = _unique_headers(_trim_trailing_blanks(list(map(_xlsx_text, header))))
        notes = []
        if renamed:
            notes.append(f"Repeated or blank column headers were renamed: {', '.join(renamed)}.")
        if sheet is None and len(workbook.sheetnames) > 1:
            notes.append(
                f"The workbook has {len(workbook.sheetnames)} sheets; the first, "
                f"{worksheet.title!r}, was read."
            )
        return FileFormat(
            kind="xlsx", headers=headers, header_row=header_row, sheet=worksheet.title, notes=notes
        )


@contextlib.contextmanager
def _open_workbook(path: Path) -> Iterator[Any]:
    import openpyxl

    # A file object, because openpyxl refuses names not ending in .xlsx (a renamed upload).
    with path.open("rb") as handle:
        try:
            # data_only: a formula cell gives the value Excel computed and saved, which is
            # what the person saw, never the formula text.
            workbook = openpyxl.load_workbook(handle, read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
            raise FileProblem(f"This XLSX workbook cannot be read ({exc}).") from None
        try:
            yield workbook
        finally:
            workbook.close()


def _worksheet(workbook: Any, sheet: str | None):
    if sheet is None:
        worksheet = workbook.worksheets[0]
    elif sheet in workbook.sheetnames:
        worksheet = workbook[sheet]
    else:
        raise FileProblem(
            f"The workbook has no sheet {sheet!r}; its sheets are "
            f"{', '.join(map(repr, workbook.sheetnames))}."
        )
    if not hasattr(worksheet, "reset_dimensions"):
        raise FileProblem(f"{worksheet.title!r} is a chart sheet, not a sheet of rows.")
    # The stored dimensions are often wrong (tools write A1:A1); read every row there is.
    worksheet.reset_dimensions()
    return worksheet


def _trim_trailing_blanks(values: list[str]) -> list[str]:
    end = len(values)
    while end and not values[end - 1].strip():
        end -= 1
    return values[:end]


# --------------------------------------------------------------------------- reading rows


def read_rows(path: str | Path, fmt: FileFormat) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(row number, {header: cell text})`` for each non-blank data row of ``path``.

    Row numbers are those a spreadsheet shows (the header row is usually 1). Every header
    is in every row (missing cells are ``""``). A row with cells beyond the header, or a
    cell over :data:`MAX_CELL_CHARS`, comes as :class:`RowCells` with ``problems``; such a
    cell is replaced by ``""``, never kept in part. Raises :class:`FileProblem` when the
    file cannot be read on (an unclosed quote, bytes not in its encoding).
    """
    if fmt.kind == "xlsx":
        return _read_xlsx(Path(path), fmt)
    if fmt.kind == "csv":
        return _read_csv(Path(path), fmt)
    raise FileProblem(f"Unknown file kind {fmt.kind!r}.")


def count_rows(path: str | Path, fmt: FileFormat) -> int:
    """How many records follow the header row (blank ones and unreadable ones included):
    the most rows an import of the file reads, the total its progress is measured against.

    A CSV file is read through once by the csv module, without building rows (about a
    second per million rows); a workbook's sheet is read as an import reads it, because
    the dimensions workbooks record are often wrong. Raises :class:`FileProblem` as
    :func:`read_rows` would.
    """
    path = Path(path)
    if fmt.kind == "xlsx":
        records: Iterator[tuple[int, Any]] = _xlsx_records(path, fmt)
    elif fmt.kind == "csv":
        records = _csv_records(path, fmt)
    else:
        raise FileProblem(f"Unknown file kind {fmt.kind!r}.")
    last = deque(records, maxlen=1)  # records are numbered: the last number is the count
    return max(0, last[0][0] - fmt.header_row) if last else 0


def _read_csv(path: Path, fmt: FileFormat) -> Iterator[tuple[int, dict[str, str]]]:
    headers = fmt.headers
    width = len(headers)
    for number, record in _csv_records(path, fmt):
        if number <= fmt.header_row:
            continue
        if isinstance(record, _Unreadable):
            yield number, _unreadable_row(headers, record.error, record.first, record.last)
        elif len(record) == width and max(map(len, record), default=0) <= MAX_CELL_CHARS:
            if any(record):
                yield number, dict(zip(headers, record, strict=True))
        elif (cells := _ragged_row(headers, record)) is not None:
            yield number, cells


@dataclass(frozen=True)
class _Unreadable:
    """A CSV record the reader refused: why, and the lines of the file it spans."""

    error: csv.Error
    first: int
    last: int


def _csv_records(path: Path, fmt: FileFormat) -> Iterator[tuple[int, list[str] | _Unreadable]]:
    """Every record of a CSV file, numbered from 1 (the header row's included)."""
    if csv.field_size_limit() < _MAX_FIELD_CHARS:
        csv.field_size_limit(_MAX_FIELD_CHARS)
    number = 0
    with path.open("r", encoding=fmt.encoding or "utf-8", newline="", errors="strict") as handle:
        # strict: a malformed record raises, and the reader goes on with the next line, so
        # a stray quote costs its own row (reported) instead of swallowing the rest.
        reader = csv.reader(handle, delimiter=fmt.delimiter or ",", strict=True)
        last_line = 0
        while True:
            number += 1
            try:
                record: list[str] | _Unreadable = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                record = _Unreadable(exc, last_line + 1, reader.line_num)
            except UnicodeDecodeError as exc:
                raise FileProblem(
                    f"Row {number} holds bytes that are not {fmt.encoding} text "
                    f"({exc.reason}); nothing past it can be read. Save the file as CSV UTF-8."
                ) from None
            last_line = reader.line_num
            yield number, record


def write_blanked_csv(
    path: str | Path, fmt: FileFormat, blank: Collection[int], out: TextIO
) -> FileFormat:
    """Write the file at ``path`` to ``out`` as CSV, record for record, so that every row
    keeps the number :func:`read_rows` gives it, with the cells of the rows numbered in
    ``blank`` emptied; returns how to read what was written (UTF-8, comma-separated).

    A record that cannot be read is written empty; a workbook gives the sheet ``fmt``
    names. Raises :class:`FileProblem` like :func:`read_rows`.
    """
    writer = csv.writer(out, lineterminator="\r\n")
    for number, record in _records(Path(path), fmt):
        writer.writerow([""] * len(record) if number in blank else record)
    return FileFormat(
        kind="csv",
        headers=list(fmt.headers),
        header_row=fmt.header_row,
        encoding="utf-8",
        encoding_source="utf-8",
        delimiter=",",
        notes=[*(n for n in fmt.notes if n != ERASED_NOTE), ERASED_NOTE],
    )


ERASED_NOTE = "Rows naming people erased on request were emptied (the file was rewritten as CSV)."


def _records(path: Path, fmt: FileFormat) -> Iterator[tuple[int, list[str]]]:
    """Every record of the file, numbered as :func:`read_rows` numbers them."""
    if fmt.kind == "xlsx":
        yield from _xlsx_records(path, fmt)
        return
    if fmt.kind != "csv":
        raise FileProblem(f"Unknown file kind {fmt.kind!r}.")
    for number, record in _csv_records(path, fmt):
        yield number, [] if isinstance(record, _Unreadable) else record


_CSV_ERRORS = {
    "unexpected end of data": "a quote that opens a cell is never closed",
    "field larger than field limit": "a cell is larger than 16 MB (a quote never closed?)",
}


def _unreadable_row(headers: list[str], exc: csv.Error, first: int, last: int) -> RowCells:
    message = str(exc)
    if message.startswith("field larger than field limit"):
        message = "field larger than field limit"
    if message.endswith("expected after '\"'"):
        reason = "a quote closes in the middle of a cell"
    else:
        reason = _CSV_ERRORS.get(message, message)
    lines = f"line {first}" if last <= first else f"lines {first} to {last}"
    return RowCells(
        dict.fromkeys(headers, ""),
        {"row": f"the row is not valid CSV ({reason}, {lines} of the file); it was not read"},
    )


def _ragged_row(
    headers: list[str], values: Sequence[str], csv_file: bool = True
) -> dict[str, str] | None:
    """Cells of a row whose length differs from the header's or with an oversized cell."""
    width = len(headers)
    problems: dict[str, str] = {}
    cells: dict[str, str] = {}
    for position, header in enumerate(headers):
        text = values[position] if position < len(values) else ""
        if len(text) > MAX_CELL_CHARS:
            problems[header] = (
                f"the cell holds {len(text):,} characters, more than the "
                f"{MAX_CELL_CHARS:,} allowed; it was not read"
            )
            text = ""
        cells[header] = text
    extra = values[width:]
    extra_filled = [value for value in extra if value.strip()]
    if extra_filled:
        problems["row"] = (
            f"the row has {len(extra)} more cell{'s' if len(extra) > 1 else ''} than there are "
            f"columns ({len(values)} instead of {width})"
            + ("; a delimiter inside an unquoted value?" if csv_file else "")
        )
    if not problems:
        if not any(value.strip() for value in cells.values()):
            return None
        return cells
    return RowCells(cells, problems)


def _read_xlsx(path: Path, fmt: FileFormat) -> Iterator[tuple[int, dict[str, str]]]:
    headers = fmt.headers
    width = len(headers)
    for number, texts in _xlsx_records(path, fmt):
        if number <= fmt.header_row:
            continue
        if len(texts) > width:
            texts = _trim_trailing_blanks(texts)
        if len(texts) == width and max(map(len, texts), default=0) <= MAX_CELL_CHARS:
            if any(texts):
                yield number, dict(zip(headers, texts, strict=True))
            continue
        row = _ragged_row(headers, texts, csv_file=False)
        if row is not None:
            yield number, row


def _xlsx_records(path: Path, fmt: FileFormat) -> Iterator[tuple[int, list[str]]]:
    """Every row of the workbook's sheet as text, numbered from 1 (the header row's
    included)."""
    with _open_workbook(path) as workbook:
        rows = _worksheet(workbook, fmt.sheet).iter_rows(values_only=True)
        for number, values in enumerate(rows, 1):
            yield number, list(map(_xlsx_text, values))


def _xlsx_text(value: Any) -> str:
    """A spreadsheet value as the text a person would type: dates ISO, 42.0 as 42."""
    if value is None:
        return ""
    if isinstance(value, str):
        return "" if value in _EXCEL_ERRORS else value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # Phone numbers and ids typed into a spreadsheet come back as floats.
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


# What a formula that failed shows in a cell: not data.
_EXCEL_ERRORS = frozenset(
    {"#N/A", "#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#GETTING_DATA"}
)
