"""Turning the rows of an import file into :class:`PreparedRow` s for the upsert engine:
apply the column mapping and normalize every cell exactly as the API does (the services'
``cleaners``), with row-level reasons for what cannot be imported; and the preview.

A cell a spreadsheet would evaluate as a formula (``=HYPERLINK(...)``, ``@SUM(...)``,
``+cmd|...``) rejects its row with a reason, whatever the field: a formula is never the
value a person meant to import (the sheet was saved with formulas, or the cell is an
injection attempt), and stripping the ``=`` would store mangled text. Exports neutralise
formulas anyway; this keeps them out of the records in the first place. Values that merely
start with ``+``, ``-`` or ``@`` (phone numbers, "- Sales (EMEA)", "@risk") are kept.

Normalizing phone numbers dominates the cost, so repeated values are served from bounded
caches and big files can be prepared by a pool of worker processes
(:func:`prepare_rows_parallel`), in file order and constant memory.
"""

from __future__ import annotations

import functools
import gc
import multiprocessing
import os
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from pivotal_core.accounts import services as account_services
from pivotal_core.contacts import services as contact_services
from pivotal_core.dataquality.files import FileFormat, read_rows
from pivotal_core.dataquality.mapping import (
    CUSTOM_PREFIX,
    MULTI_COLUMN_FIELDS,
    validate_mapping,
)
from pivotal_core.dataquality.rows import PreparedRow
from pivotal_core.errors import ValidationFailed
from pivotal_core.normalize import NormalizationError

__all__ = [
    "CustomField",
    "Preview",
    "PreviewRow",
    "RowPreparer",
    "custom_fields_of",
    "prepare_rows",
    "prepare_rows_parallel",
    "prepared_rows",
    "preparing_workers",
    "preview",
]

# A cell that a spreadsheet would evaluate: "=..." or +, - or @ directly followed by a
# function call or a DDE pipe ("@SUM(", "+cmd|"). Phone numbers ("+1 (415) ...") and
# placeholders ("-") are not formulas.
_FORMULA_RE = re.compile(r"\s*(?:=|[+\-@][A-Za-z_][\w.]*[(|!])")
_FORMULA_FIRST = frozenset("=+-@ \t\xa0")
FORMULA_REASON = (
    "holds a spreadsheet formula, not a value; export the sheet's values (or remove the leading =)"
)
# Values repeat across rows (names, titles, cities, companies, websites): each field keeps
# the outcome of its last distinct values.
CACHE_SIZE = 16_384
# Columns whose values hardly repeat: a cache would only cost memory.
_UNCACHED = frozenset({"email", "phone", "mobile", "linkedin_url", "external_id"})
_REGION_FIELDS = frozenset({"phone", "mobile"})
_LIST_SPLIT_RE = re.compile(r"[,;\n|]")
# From this size on (about 50,000 rows) a batch is prepared by worker processes: their
# start-up (about a second) is then small beside the work.
PARALLEL_MIN_BYTES = 8 * 1024 * 1024
# Rows prepared ahead of the consumer: two of the upsert engine's chunks.
READ_AHEAD_ROWS = 10_000
# Worker processes preparing one batch's rows, at most. One prepares about 19,000 rows/s
# on the 2-CPU benchmark machine, more than the engine takes (5,000-7,000 there), and each
# holds about 130-170 MB (its own interpreter, the services it imports, its caches): the
# import benchmark's peak went from 345 MB with one worker to 474 MB with two and 588 MB
# with three, over the 500 MB budget. One per CPU but one, the earlier default, put a
# 4-CPU machine over it.
MAX_PREPARE_WORKERS = 1

# Where a mapped value goes in the PreparedRow.
_TO_VALUES, _TO_LIST, _TO_ACCOUNT_DOMAIN, _TO_ACCOUNT_NAME, _TO_EXTERNAL_ID = range(5)


@dataclass(frozen=True)
class CustomField:
    """What prepare needs of a custom field definition (plain data, for worker processes)."""

    key: str
    type: str
    options: tuple[Any, ...] = ()
    label: str = ""


def custom_fields_of(
    definitions: Mapping[str, Any] | Iterable[Any] | None,
) -> dict[str, CustomField]:
    """``{key: CustomField}`` from definitions (models, a ``{key: definition}`` map or None)."""
    if definitions is None:
        return {}
    items = definitions.values() if isinstance(definitions, Mapping) else definitions
    return {
        d.key: CustomField(d.key, d.type, tuple(d.options or ()), getattr(d, "label", "") or "")
        for d in items
    }


# --------------------------------------------------------------------------- cell parsers
# Cells are text; the services' cleaners expect what the JSON API hands them (ints, lists).


_NUMBER_JUNK = str.maketrans("", "", " \u00a0\u202f_'$€£¥")
_US_GROUPED = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_EU_GROUPED = re.compile(r"\d{1,3}(?:\.\d{3})+(?:,\d+)?")
_PLAIN_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)?")
_MULTIPLIERS = {"k": 1_000, "m": 1_000_000, "mm": 1_000_000, "b": 1_000_000_000,
                "bn": 1_000_000_000}  # fmt: skip
_SUFFIX_RE = re.compile(r"(.*?\d)(k|mm|m|bn|b)", re.IGNORECASE)


def _decimal(text: str) -> Decimal:
    """``"1,200"``, ``"1.200,50"``, ``"$5M"``, ``"1 000"`` -> a Decimal."""
    text = text.strip().translate(_NUMBER_JUNK)
    multiplier = 1
    suffix = _SUFFIX_RE.fullmatch(text)
    if suffix:
        text, multiplier = suffix.group(1), _MULTIPLIERS[suffix.group(2).lower()]
    negative = text.startswith("-")
    digits = text[1:] if negative else text
    if _US_GROUPED.fullmatch(digits):
        digits = digits.replace(",", "")
    elif _EU_GROUPED.fullmatch(digits):
        digits = digits.replace(".", "").replace(",", ".")
    elif _PLAIN_NUMBER.fullmatch(digits):
        digits = digits.replace(",", ".")
    else:
        raise NormalizationError("must be a number")
    try:
        value = Decimal(digits) * multiplier
    except InvalidOperation:
        raise NormalizationError("must be a number") from None
    return -value if negative else value


def _whole_number(text: str) -> int:
    return int(_decimal(text).to_integral_value(ROUND_HALF_UP))


def _number(text: str) -> int | float:
    value = _decimal(text)
    return int(value) if value == value.to_integral_value() else float(value)


_TRUE = frozenset({"true", "yes", "y", "1", "t", "x", "on", "ja", "oui", "si", "sí"})
_FALSE = frozenset({"false", "no", "n", "0", "f", "off", "nein", "non"})


def _boolean(text: str) -> bool:
    word = text.strip().casefold()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise NormalizationError("must be yes or no (true/false)")


def _split_list(text: str) -> list[str]:
    return [part for part in (p.strip() for p in _LIST_SPLIT_RE.split(text)) if part]


def _tags_text(text: str) -> str:
    # normalize_tags splits on commas only; files also separate tags with semicolons.
    return text.replace(";", ",")


def _first_reason(exc: ValidationFailed) -> str:
    return "; ".join(reason for reason in exc.fields.values())


def _custom_converter(definition: CustomField) -> Callable[[str], Any]:
    from pivotal_core.records import check_custom_value

    kind = definition.type
    options = {str(option).casefold(): option for option in definition.options}

    def parse(text: str) -> Any:
        text = text.strip()
        if not text:
            return None
        if kind == "number":
            value: Any = _number(text)
        elif kind == "bool":
            value = _boolean(text)
        elif kind == "date":
            value = text[:10] if len(text) > 10 and text[10] in "T " else text
        elif kind == "tags":
            value = _split_list(text)
        elif kind == "enum":
            value = options.get(text.casefold(), text)
        else:
            value = text
        try:
            return check_custom_value(definition, value)
        except ValueError as exc:
            raise NormalizationError(str(exc)) from None

    return parse


def _outcome(convert: Callable[..., Any]) -> Callable[..., tuple[bool, Any]]:
    """``convert`` returning ``(True, value)`` or ``(False, reason)`` instead of raising."""

    def run(*args: Any) -> tuple[bool, Any]:
        try:
            value = convert(*args)
        except NormalizationError as exc:
            return False, exc.message
        except ValidationFailed as exc:
            return False, _first_reason(exc)
        if isinstance(value, list):
            value = tuple(value)  # cached outcomes are shared: keep them immutable
        return True, value

    return run


# --------------------------------------------------------------------------- preparing rows


class RowPreparer:
    """Prepares rows of one file: the mapping and the cleaners, set up once."""

    def __init__(
        self,
        entity: str,
        mapping: Mapping[str, str | None],
        *,
        default_region: str,
        custom_definitions: Mapping[str, Any] | Iterable[Any] | None = None,
        source: str | None = None,
    ) -> None:
        custom = custom_fields_of(custom_definitions)
        problems = validate_mapping(entity, mapping, custom)
        if problems:
            raise ValidationFailed(
                {f"mapping.{header}": reason for header, reason in problems.items()},
                "The column mapping is not valid",
            )
        self.entity = entity
        self.mapping = {header: field for header, field in mapping.items() if field}
        self.default_region = (default_region or "US").upper()
        self.custom = custom
        self.source = source
        if "external_id" in self.mapping.values() and not (source and source.strip()):
            raise ValueError("a mapped external id needs the source name of the import")
        service = contact_services if entity == "contact" else account_services
        self._service_cleaners = service.cleaners
        self._cleaners_by_region: dict[str, dict[str, Any]] = {}
        base = self._cleaners(self.default_region)
        self._field_of_header = dict(self.mapping)
        self._list_cleaners = {name: base[name] for name in MULTI_COLUMN_FIELDS if name in base}
        plan: list[tuple[str, str, Callable[..., tuple[bool, Any]], bool, int]] = []
        # The country comes first: it is the region national phone numbers are read in.
        ordered = sorted(self.mapping.items(), key=lambda item: item[1] != "country")
        for header, name in ordered:
            if name in _REGION_FIELDS:
                convert: Callable[..., Any] = self._phone(name)
            else:
                convert = self._converter(name, base)
            run = _outcome(convert)
            if name not in _UNCACHED and name not in _REGION_FIELDS:
                run = functools.lru_cache(maxsize=CACHE_SIZE)(run)
            plan.append((header, name, run, name in _REGION_FIELDS, self._target(name)))
        self._plan = plan

    def _cleaners(self, region: str) -> dict[str, Any]:
        found = self._cleaners_by_region.get(region)
        if found is None:
            found = self._cleaners_by_region[region] = self._service_cleaners(region)
        return found

    def _phone(self, name: str) -> Callable[[str, str], Any]:
        def convert(text: str, region: str) -> Any:
            return self._cleaners(region)[name](text)

        return convert

    def _converter(self, name: str, base: dict[str, Any]) -> Callable[[str], Any]:
        if name.startswith(CUSTOM_PREFIX):
            return _custom_converter(self.custom[name[len(CUSTOM_PREFIX) :]])
        if name == "external_id":
            source = self.source or ""

            def external_id(text: str) -> Any:
                cleaned = contact_services.clean_external_ids({source: text})
                return next(iter(cleaned.values()))

            return external_id
        if name == "account_domain":
            return account_services.cleaners(self.default_region)["domain"]
        if name == "account_name":
            return account_services.cleaners(self.default_region)["name"]
        clean = base[name]
        if name in ("employee_count", "annual_revenue"):
            return lambda text: clean(_whole_number(text))
        if name == "tags":
            return lambda text: clean(_tags_text(text))
        if name in ("technologies", "secondary_domains"):
            return lambda text: clean(_split_list(text))
        return clean

    @staticmethod
    def _target(name: str) -> int:
        if name in MULTI_COLUMN_FIELDS:
            return _TO_LIST
        return {
            "account_domain": _TO_ACCOUNT_DOMAIN,
            "account_name": _TO_ACCOUNT_NAME,
            "external_id": _TO_EXTERNAL_ID,
        }.get(name, _TO_VALUES)

    def parts(
        self, cells: Mapping[str, str]
    ) -> tuple[dict[str, Any], dict[str, str], dict[str, str], str | None, str | None] | None:
        """``(values, errors, external_ids, account_domain, account_name)`` of one row, or
        ``None`` for a row with nothing in it."""
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        external_ids: dict[str, str] = {}
        account_domain = account_name = None
        region = self.default_region
        problems = getattr(cells, "problems", None)
        if problems:
            for header, reason in problems.items():
                if header == "row":
                    errors["row"] = reason
                elif header in self._field_of_header:
                    errors[self._field_of_header[header]] = reason
        for header, name, run, by_region, target in self._plan:
            text = cells.get(header)
            if not text:
                continue
            if text[0] in _FORMULA_FIRST and _FORMULA_RE.match(text):
                errors[name] = FORMULA_REASON
                continue
            ok, value = run(text, region) if by_region else run(text)
            if not ok:
                errors[name] = value
                continue
            if value is None or value == ():
                continue
            if target == _TO_VALUES:
                values[name] = list(value) if type(value) is tuple else value
                if name == "country":
                    region = value
            elif target == _TO_LIST:
                if name in values:  # a second column of the same list field
                    value = self._list_cleaners[name]([*values[name], *value])
                values[name] = list(value)
            elif target == _TO_ACCOUNT_DOMAIN:
                account_domain = value
            elif target == _TO_ACCOUNT_NAME:
                account_name = value
            else:
                external_ids[self.source.strip().lower()] = value  # type: ignore[union-attr]
        if not (values or errors or external_ids or account_domain or account_name):
            return None
        if self.entity == "account" and "domain" in values and "secondary_domains" in values:
            # As the API does: the primary domain is not also a secondary one.
            others = [d for d in values["secondary_domains"] if d != values["domain"]]
            if others:
                values["secondary_domains"] = others
            else:
                del values["secondary_domains"]
        return values, errors, external_ids, account_domain, account_name

    def prepare(self, number: int, cells: dict[str, str]) -> PreparedRow | None:
        """The PreparedRow of one data row (``None`` for a row with nothing in it)."""
        parts = self.parts(cells)
        if parts is None:
            return None
        return _row(number, cells, parts)


def _row(number: int, cells: dict[str, str], parts: tuple) -> PreparedRow:
    values, errors, external_ids, account_domain, account_name = parts
    raw = cells if type(cells) is dict else dict(cells)  # RowCells -> a plain dict
    # Positional: measurably cheaper per row than keywords for the frozen dataclass.
    return PreparedRow(number, values, raw, errors, external_ids, account_domain, account_name)


def prepare_rows(
    entity: str,
    rows: Iterable[tuple[int, dict[str, str]]],
    mapping: Mapping[str, str | None],
    *,
    default_region: str,
    custom_definitions: Mapping[str, Any] | Iterable[Any] | None = None,
    source: str | None = None,
) -> Iterator[PreparedRow]:
    """Mapped and normalized rows, in file order; rows with nothing in them are left out.

    ``rows`` come from :func:`read_rows`; ``mapping`` is ``{header: field or None}``;
    ``source`` (the batch's source name) keys an external id column. Raises
    ``ValidationFailed`` for an invalid mapping before reading anything.
    """
    preparer = RowPreparer(
        entity,
        mapping,
        default_region=default_region,
        custom_definitions=custom_definitions,
        source=source,
    )
    return _prepare_serially(preparer, rows)


def _prepare_serially(
    preparer: RowPreparer, rows: Iterable[tuple[int, dict[str, str]]]
) -> Iterator[PreparedRow]:
    parts_of = preparer.parts
    for number, cells in rows:
        parts = parts_of(cells)
        if parts is not None:
            yield _row(number, cells, parts)


# --------------------------------------------------------------------------- worker processes

_worker_preparer: RowPreparer | None = None
_worker_chunks = 0
# A worker collects cyclic garbage itself every so many chunks (about 50,000 rows).
COLLECT_EVERY = 25


def _start_worker(arguments: dict[str, Any]) -> None:
    global _worker_preparer
    _worker_preparer = RowPreparer(**arguments)
    # The collector would keep walking the caches of parsed values (tens of thousands of
    # live objects) for garbage a worker hardly makes: it runs between chunks instead.
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def _prepare_chunk(chunk: list[dict[str, str]]) -> list[tuple | None]:
    global _worker_chunks
    assert _worker_preparer is not None
    parts_of = _worker_preparer.parts
    prepared = [parts_of(cells) for cells in chunk]
    _worker_chunks += 1
    if _worker_chunks % COLLECT_EVERY == 0:
        gc.collect()
    return prepared


def prepare_rows_parallel(
    entity: str,
    rows: Iterable[tuple[int, dict[str, str]]],
    mapping: Mapping[str, str | None],
    *,
    default_region: str,
    custom_definitions: Mapping[str, Any] | Iterable[Any] | None = None,
    source: str | None = None,
    processes: int | None = None,
    chunk_size: int = 2_000,
    ahead: int = READ_AHEAD_ROWS,
) -> Iterator[PreparedRow]:
    """:func:`prepare_rows` spread over ``processes`` worker processes (default
    :data:`MAX_PREPARE_WORKERS`), yielding the same rows in the same order.

    The calling process reads the file and builds the PreparedRows; the workers normalize.
    At most ``ahead`` rows (and at least two chunks per worker) are in flight, so memory
    stays flat however big the file and however slow the consumer, while the workers keep
    a whole engine chunk ready before it is asked for (the engine takes rows 5,000 at a
    time: with fewer in flight it would wait for a worker at every chunk). Workers are
    started with ``spawn``: safe inside a threaded job worker, at the price of about a
    second of start-up, so small files are better prepared with :func:`prepare_rows`.
    """
    arguments = {
        "entity": entity,
        "mapping": dict(mapping),
        "default_region": default_region,
        "custom_definitions": custom_fields_of(custom_definitions),
        "source": source,
    }
    RowPreparer(**arguments)  # an invalid mapping fails here, before any process starts
    processes = processes or MAX_PREPARE_WORKERS
    in_flight = max(2 * processes, -(-ahead // chunk_size))
    return _parallel(arguments, rows, processes, chunk_size, in_flight)


def _parallel(
    arguments: dict[str, Any],
    rows: Iterable[tuple[int, dict[str, str]]],
    processes: int,
    chunk_size: int,
    in_flight: int,
) -> Iterator[PreparedRow]:
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes, initializer=_start_worker, initargs=(arguments,)) as pool:
        pending: deque[tuple[list[int], list[dict[str, str]], Any]] = deque()
        numbers: list[int] = []
        chunk: list[dict[str, str]] = []
        for number, cells in rows:
            numbers.append(number)
            chunk.append(cells)
            if len(chunk) >= chunk_size:
                pending.append((numbers, chunk, pool.apply_async(_prepare_chunk, (chunk,))))
                numbers, chunk = [], []
                if len(pending) >= in_flight:
                    yield from _finish(pending.popleft())
        if chunk:
            pending.append((numbers, chunk, pool.apply_async(_prepare_chunk, (chunk,))))
        while pending:
            yield from _finish(pending.popleft())


def _finish(job: tuple[list[int], list[dict[str, str]], Any]) -> Iterator[PreparedRow]:
    numbers, chunk, result = job
    for number, cells, parts in zip(numbers, chunk, result.get(), strict=True):
        if parts is not None:
            yield _row(number, cells, parts)


# --------------------------------------------------------------------------- batches


def prepared_rows(
    batch: Any,
    default_region: str,
    session: Any = None,
    *,
    processes: int | None = None,
) -> Iterator[PreparedRow]:
    """The PreparedRows of an import batch: its stored file, read with its stored format
    and mapping (what the import job feeds the engine).

    ``session`` loads the custom field definitions (default: the batch's own session).
    ``processes``: worker processes preparing rows, 0 to prepare them in this process; by
    default :func:`preparing_workers`.
    """
    from sqlalchemy.orm import object_session

    from pivotal_core.records import custom_field_definitions

    path = Path(batch.stored_path)
    fmt = FileFormat.from_dict(batch.file_format or {})
    mapping = dict(batch.mapping or {})
    definitions: dict[str, Any] = {}
    if any(str(field or "").startswith(CUSTOM_PREFIX) for field in mapping.values()):
        session = session if session is not None else object_session(batch)
        if session is None:
            raise ValueError("loading the custom fields of the mapping needs a session")
        definitions = custom_field_definitions(session, batch.entity)
    if processes is None:
        processes = preparing_workers(path.stat().st_size, os.cpu_count())
    rows = read_rows(path, fmt)
    options = {
        "default_region": default_region,
        "custom_definitions": definitions,
        "source": batch.source,
    }
    if processes >= 1:
        return prepare_rows_parallel(batch.entity, rows, mapping, processes=processes, **options)
    return prepare_rows(batch.entity, rows, mapping, **options)


def preparing_workers(size: int, cpus: int | None) -> int:
    """How many worker processes prepare a file of ``size`` bytes by default: none for a
    small file (starting one costs about a second) or on one CPU (the engine's process
    keeps it busy), else :data:`MAX_PREPARE_WORKERS` (or fewer CPUs but the engine's)."""
    cpus = cpus or 1
    if cpus < 2 or size < PARALLEL_MIN_BYTES:
        return 0
    return min(cpus - 1, MAX_PREPARE_WORKERS)


# --------------------------------------------------------------------------- preview


@dataclass
class PreviewRow:
    number: int
    raw: dict[str, str]
    values: dict[str, Any]
    errors: dict[str, str]
    external_ids: dict[str, str] = field(default_factory=dict)
    account_domain: str | None = None
    account_name: str | None = None

    @property
    def valid(self) -> bool:
        return not self.errors

    def stored(self, field: str) -> Any:
        """The value ``field`` will be stored with (where RowPreparer put it)."""
        target = RowPreparer._target(field)
        if target == _TO_ACCOUNT_DOMAIN:
            return self.account_domain
        if target == _TO_ACCOUNT_NAME:
            return self.account_name
        if target == _TO_EXTERNAL_ID:
            return next(iter(self.external_ids.values()), None)
        return self.values.get(field)


@dataclass
class Preview:
    """The first rows of a file as they would be imported, for the wizard's preview step."""

    format: FileFormat
    mapping: dict[str, str | None]
    rows: list[PreviewRow]
    valid: int
    invalid: int
    # How many sample rows each field rejected: {field: count}.
    field_errors: dict[str, int]
    # Headers of the file no field is filled from.
    unmapped_headers: list[str]
    # Problems of the mapping itself ({header or "mapping": reason}); no rows when any.
    mapping_errors: dict[str, str] = field(default_factory=dict)
    # Headers the mapping names that the file does not have.
    missing_headers: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        from pivotal_core.audit.services import audit_value

        return {
            "format": self.format.as_dict(),
            "mapping": dict(self.mapping),
            "rows": [
                {
                    "number": row.number,
                    "raw": row.raw,
                    "values": audit_value(row.values),
                    "errors": row.errors,
                    "external_ids": row.external_ids,
                    "account_domain": row.account_domain,
                    "account_name": row.account_name,
                    "valid": row.valid,
                }
                for row in self.rows
            ],
            "valid": self.valid,
            "invalid": self.invalid,
            "field_errors": dict(self.field_errors),
            "unmapped_headers": list(self.unmapped_headers),
            "mapping_errors": dict(self.mapping_errors),
            "missing_headers": list(self.missing_headers),
        }


def preview(
    path: str | Path,
    fmt: FileFormat,
    entity: str,
    mapping: Mapping[str, str | None],
    *,
    default_region: str,
    custom_definitions: Mapping[str, Any] | Iterable[Any] | None = None,
    source: str | None = None,
    limit: int = 50,
) -> Preview:
    """The first ``limit`` data rows of ``path`` prepared with ``mapping``.

    An invalid mapping gives a preview with ``mapping_errors`` and no rows, so the
    wizard can show both the problems and the file's headers.
    """
    custom = custom_fields_of(custom_definitions)
    full_mapping: dict[str, str | None] = {header: mapping.get(header) for header in fmt.headers}
    full_mapping.update({h: f for h, f in mapping.items() if h not in full_mapping})
    mapped = {header for header, name in mapping.items() if name}
    unmapped = [header for header in fmt.headers if header not in mapped]
    missing = [header for header in mapping if header not in fmt.headers and mapping[header]]
    result = Preview(
        format=fmt,
        mapping=full_mapping,
        rows=[],
        valid=0,
        invalid=0,
        field_errors={},
        unmapped_headers=unmapped,
        missing_headers=missing,
    )
    problems = validate_mapping(entity, mapping, custom)
    if "external_id" in _mapped_fields(mapping) and not source:
        problems.setdefault("mapping", "an external id column needs the source name")
    if problems:
        result.mapping_errors = problems
        return result
    preparer = RowPreparer(
        entity, mapping, default_region=default_region, custom_definitions=custom, source=source
    )
    rows = read_rows(path, fmt)
    try:
        for number, cells in rows:
            prepared = preparer.prepare(number, cells)
            if prepared is None:
                continue
            result.rows.append(
                PreviewRow(
                    number=prepared.number,
                    raw=prepared.raw,
                    values=prepared.values,
                    errors=prepared.errors,
                    external_ids=prepared.external_ids,
                    account_domain=prepared.account_domain,
                    account_name=prepared.account_name,
                )
            )
            if prepared.errors:
                result.invalid += 1
                for name in prepared.errors:
                    result.field_errors[name] = result.field_errors.get(name, 0) + 1
            else:
                result.valid += 1
            if len(result.rows) >= limit:
                break
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()
    return result


def _mapped_fields(mapping: Mapping[str, str | None]) -> set[str]:
    return {name for name in mapping.values() if name}
