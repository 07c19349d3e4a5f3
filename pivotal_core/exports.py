"""Streaming CSV exports that are safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

# A cell starting with one of these is taken as a formula by Excel, LibreOffice and Sheets.
FORMULA_START = re.compile(r"^[=+\-@\t\r]")


def neutralise_formula(value: Any) -> Any:
    """Prefix a would-be formula with an apostrophe so it is shown as text, not evaluated."""
    if isinstance(value, str) and FORMULA_START.match(value):
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


def csv_stream(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    """CSV as UTF-8 chunks (with a BOM so spreadsheets detect the encoding), in constant memory."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield ("\ufeff" + buffer.getvalue()).encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    for count, row in enumerate(rows, 1):
        writer.writerow([cell(v) for v in row])
        if count % 500 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


def attachment_filename(stem: str, extension: str = "csv") -> str:
    """A header value for Content-Disposition: ASCII name plus RFC 5987 UTF-8 name."""
    from urllib.parse import quote

    ascii_name = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-") or "export"
    return (
        f'attachment; filename="{ascii_name}.{extension}"; '
        f"filename*=UTF-8''{quote(stem)}.{extension}"
    )
