"""Streaming CSV and JSON exports; CSV cells are made safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from typing import Any
from urllib.parse import quote

# A cell starting with one of these is taken as a formula by Excel, LibreOffice and Sheets.
FORMULA_CHARACTERS = "=+-@\t\r"
FORMULA_START = re.compile(r"^[=+\-@\t\r]")
CSV_BATCH = 500  # rows written per chunk of the response


def neutralise_formula(value: Any) -> Any:
    """Prefix a would-be formula with an apostrophe so it is shown as text, not evaluated."""
    if isinstance(value, str) and FORMULA_START.match(value):
        return "'" + value
    return value


def safe_text(value: str | None) -> str | None:
    """:func:`neutralise_formula` for a value known to be text or None (the fast path of
    large exports)."""
    if value and value[0] in FORMULA_CHARACTERS:
        return "'" + value
    return value


def cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value)
    elif isinstance(value, dict):
        value = "; ".join(f"{k}={v}" for k, v in sorted(value.items()))
    return neutralise_formula(value)


def csv_header(header: Sequence[str], lineterminator: str = "\r\n") -> bytes:
    """The header line, after a BOM so that spreadsheets detect UTF-8."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=lineterminator).writerow(header)
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def csv_batches(
    header: Sequence[str],
    batches: Iterable[Sequence[Sequence[Any]]],
    lineterminator: str = "\r\n",
) -> Iterator[bytes]:
    """CSV as UTF-8 chunks, the header first (:func:`csv_header`), then one chunk per
    batch of rows, in constant memory. The rows must already be safe (see :func:`cell`):
    strings, numbers or None (an empty cell)."""
    yield csv_header(header, lineterminator)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=lineterminator)
    for rows in batches:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(rows)
        if buffer.tell():
            yield buffer.getvalue().encode("utf-8")


def csv_stream(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    """CSV of any values (each made safe by :func:`cell`) in constant memory."""
    safe = ([cell(v) for v in row] for row in rows)
    return csv_batches(header, iter(lambda: list(islice(safe, CSV_BATCH)), []))


def json_stream(keys: Sequence[str], batches: Iterable[Sequence[Sequence[Any]]]) -> Iterator[bytes]:
    """A JSON array of objects ``{key: value}``, one chunk per batch of rows, in constant
    memory. Values must be JSON-serializable (dates already as ISO text)."""
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    yield b"["
    separator = "\n"
    for rows in batches:
        if not rows:
            continue
        text = ",\n".join(encode(dict(zip(keys, row, strict=True))) for row in rows)
        yield (separator + text).encode("utf-8")
        separator = ",\n"
    yield b"\n]\n"


def attachment_filename(stem: str, extension: str = "csv") -> str:
    """A Content-Disposition value (RFC 6266): an ASCII ``filename`` for old clients and
    the exact name, UTF-8 and percent-encoded (RFC 8187), as ``filename*``."""
    ascii_name = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.") or "export"
    return (
        f'attachment; filename="{ascii_name}.{extension}"; '
        f"filename*=UTF-8''{quote(stem, safe='')}.{extension}"
    )
