"""Import files as the wizard, the API and the command line receive them: kept and read
(format and headers), a suggested mapping, a preview with row-level errors, batches made
from them and run as jobs, the batch list, and undo as a job.

An upload is the stored file plus a small JSON note beside it (``uploads/<id>.json``
under the imports folder): who sent it, its name and format, and the wizard's choices so
far. Notes live with the files, not in a process, so any web process can take the next
step of a wizard another one started. Uploads nobody imported are removed after
``dataquality.upload_retention_hours`` (:func:`clean_uploads`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from pivotal_core.api.pagination import Page, SortKey, keyset_page
from pivotal_core.audience.models import DomainSet
from pivotal_core.audit.services import Actor
from pivotal_core.config import CORE_DEFAULTS
from pivotal_core.dataquality import services
from pivotal_core.dataquality.files import FileFormat, read_rows, sniff
from pivotal_core.dataquality.mapping import (
    ImportField,
    importable_fields,
    suggest_mapping,
    validate_mapping,
)
from pivotal_core.dataquality.models import (
    BATCH_STATES,
    IMPORT_ENTITIES,
    ImportBatch,
    ImportRejection,
)
from pivotal_core.dataquality.prepare import Preview, preview
from pivotal_core.dataquality.rows import ImportOptions
from pivotal_core.dataquality.storage import (
    PARTIAL_SUFFIX,
    TooLarge,
    imports_dir,
    is_partial_file,
    is_stored_file,
    store_upload,
)
from pivotal_core.db import utcnow
from pivotal_core.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed
from pivotal_core.jobs import services as jobs
from pivotal_core.jobs.models import Job
from pivotal_core.jobs.queue import registered_task
from pivotal_core.records import custom_field_definitions

__all__ = [
    "ACTIVE_JOB_STATES",
    "BATCH_SORT_KEYS",
    "MAX_UPLOAD_SETTING",
    "RETENTION_SETTING",
    "Upload",
    "UploadCleanup",
    "active_undo_job",
    "clean_uploads",
    "create_import_batch",
    "get_batch",
    "get_upload",
    "import_fields",
    "list_batches",
    "mapping_errors",
    "mapping_problems",
    "max_upload_bytes",
    "preview_upload",
    "receive_upload",
    "rejected_counts",
    "rejected_rows",
    "repeat_batch",
    "request_undo",
    "sample_rows",
    "save_draft",
    "start_upload_import",
    "store_import_file",
    "suggested_mapping",
    "undo_jobs_of",
    "upload_retention",
]

MAX_UPLOAD_SETTING = "dataquality.max_upload_bytes"
RETENTION_SETTING = "dataquality.upload_retention_hours"
BATCH_FILE_SETTING = "dataquality.batch_file_retention_days"
# A batch in one of these states no longer reads its file (but a dry run's repeat does).
FINISHED_STATES = ("succeeded", "failed", "undone")
# A partial file this old belongs to no upload still running.
PARTIAL_MAX_AGE = timedelta(hours=1)
PREVIEW_ROWS = 50
NOTES_FOLDER = "uploads"
NOTE_PARTIAL_PREFIX = ".note-"
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}\Z")
BATCH_SORT_KEYS = {"id": SortKey("id", ImportBatch.id, "number")}
ACTIVE_JOB_STATES = ("queued", "running")


log = logging.getLogger(__name__)


def max_upload_bytes(settings: Mapping[str, Any]) -> int:
    """The largest import file accepted (``dataquality.max_upload_bytes``)."""
    return int(settings.get(MAX_UPLOAD_SETTING) or CORE_DEFAULTS[MAX_UPLOAD_SETTING])


def upload_retention(settings: Mapping[str, Any]) -> timedelta:
    """How long an upload nobody imports is kept (``dataquality.upload_retention_hours``)."""
    return timedelta(hours=int(settings.get(RETENTION_SETTING, CORE_DEFAULTS[RETENTION_SETTING])))


def batch_file_retention(settings: Mapping[str, Any]) -> timedelta | None:
    """How long the file of a finished import batch is kept
    (``dataquality.batch_file_retention_days``); None: for good."""
    days = int(settings.get(BATCH_FILE_SETTING, CORE_DEFAULTS[BATCH_FILE_SETTING]))
    return timedelta(days=days) if days > 0 else None


# --------------------------------------------------------------------------- files


@dataclass
class StoredFile:
    """An import file kept in the imports folder, and how to read it."""

    filename: str
    stored_path: str
    sha256: str
    size: int
    format: FileFormat


@dataclass
class Upload(StoredFile):
    """A stored file someone uploaded, waiting to become an import batch."""

    id: str = ""
    uploaded_by_id: int | None = None
    uploaded_at: datetime | None = None
    # The wizard's choices so far (API clients send theirs with each request instead).
    entity: str | None = None
    source: str | None = None
    mapping: dict[str, str | None] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "filename": self.filename,
            "stored_path": self.stored_path,
            "sha256": self.sha256,
            "size": self.size,
            "format": self.format.as_dict(),
            "uploaded_by_id": self.uploaded_by_id,
            "uploaded_at": self.uploaded_at.isoformat() if self.uploaded_at else None,
            "entity": self.entity,
            "source": self.source,
            "mapping": self.mapping,
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Upload:
        at = values.get("uploaded_at")
        return cls(
            filename=values["filename"],
            stored_path=values["stored_path"],
            sha256=values["sha256"],
            size=int(values["size"]),
            format=FileFormat.from_dict(values["format"]),
            id=values["id"],
            uploaded_by_id=values.get("uploaded_by_id"),
            uploaded_at=datetime.fromisoformat(at) if at else None,
            entity=values.get("entity"),
            source=values.get("source"),
            mapping=values.get("mapping"),
        )


def _file_name(filename: str | None) -> str:
    # Some browsers send the whole client path; only the name is the file's. Control
    # characters (a NUL cannot even be stored) are dropped.
    name = Path(str(filename or "").replace("\\", "/")).name
    name = "".join(char for char in name if char.isprintable()).strip()
    if not name or len(name) > 255:
        raise ValidationFailed({"file": "the file needs a name of 1 to 255 characters"})
    return name


def store_import_file(
    settings: Mapping[str, Any],
    stream: BinaryIO,
    filename: str,
    *,
    sheet: str | None = None,
    limited: bool = True,
) -> StoredFile:
    """Keep an import file and find out how to read it (CSV or XLSX, encoding, delimiter,
    headers). A file that cannot be imported is not kept: too large is a
    :class:`PayloadTooLarge`, empty, binary or unreadable a ``FileProblem``; both name
    the field ``file``. ``limited=False`` (the command line) lifts the size limit."""
    name = _file_name(filename)
    limit = max_upload_bytes(settings) if limited else None
    formats: list[FileFormat] = []
    try:
        path, digest = store_upload(
            dict(settings),
            stream,
            name,
            max_bytes=limit,
            check=lambda partial: formats.append(sniff(partial, sheet=sheet)),
        )
    except TooLarge as exc:
        message = f"{name} is larger than the {exc.max_bytes:,} bytes an import file may have"
        raise PayloadTooLarge(message, {"file": message}) from None
    return StoredFile(name, path, digest, os.path.getsize(path), formats[0])


def _notes_dir(settings: Mapping[str, Any]) -> Path:
    path = imports_dir(dict(settings)) / NOTES_FOLDER
    path.mkdir(exist_ok=True)
    return path


def save_draft(settings: Mapping[str, Any], upload: Upload) -> None:
    """Write the upload's note (atomically: a reader never sees half of it)."""
    folder = _notes_dir(settings)
    handle, partial = tempfile.mkstemp(
        prefix=NOTE_PARTIAL_PREFIX, suffix=PARTIAL_SUFFIX, dir=folder
    )
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(upload.as_dict(), out)
        os.replace(partial, folder / f"{upload.id}.json")
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def receive_upload(
    settings: Mapping[str, Any],
    stream: BinaryIO,
    filename: str,
    *,
    uploaded_by_id: int | None,
    sheet: str | None = None,
    entity: str | None = None,
    source: str | None = None,
) -> Upload:
    """Keep an uploaded import file (see :func:`store_import_file`) as an upload of
    ``uploaded_by_id``; ``entity`` and ``source`` start the wizard's choices."""
    stored = store_import_file(settings, stream, filename, sheet=sheet)
    upload = Upload(
        **vars(stored),
        id=secrets.token_hex(16),
        uploaded_by_id=uploaded_by_id,
        uploaded_at=utcnow(),
        entity=entity,
        source=source,
    )
    save_draft(settings, upload)
    return upload


def get_upload(settings: Mapping[str, Any], upload_id: str, user_id: int | None) -> Upload:
    """The upload ``upload_id`` of ``user_id``; another user's answers as a missing one."""
    missing = NotFound(f"Upload {upload_id} not found; upload the file again")
    if not isinstance(upload_id, str) or not _UPLOAD_ID.match(upload_id):
        raise missing
    note = _notes_dir(settings) / f"{upload_id}.json"
    try:
        upload = Upload.from_dict(json.loads(note.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise missing from None
    if upload.uploaded_by_id != user_id or not Path(upload.stored_path).exists():
        raise missing
    return upload


@dataclass
class UploadCleanup:
    """What :func:`clean_uploads` removed (a dry run: what it would remove)."""

    dry_run: bool
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    partials: list[str] = field(default_factory=list)
    bytes: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "notes": len(self.notes),
            "files": len(self.files),
            "partials": len(self.partials),
            "bytes": self.bytes,
        }


def _folder_entries(folder: Path) -> Iterator[tuple[Path, os.stat_result]]:
    """The plain files directly in ``folder`` with their status (none if it is missing)."""
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    for entry in entries:
        try:
            if entry.is_file(follow_symlinks=False):
                yield Path(entry.path), entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # removed meanwhile


def _noted_file_name(note: Path) -> str | None:
    """The name of the file an upload note refers to (None if the note cannot be read)."""
    try:
        return Path(json.loads(note.read_text(encoding="utf-8"))["stored_path"]).name
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("upload note %s cannot be read (%s); it keeps no file", note, exc)
        return None


def _file_names_in_use(session: Session, finished_before: datetime | None) -> set[str]:
    """Names of the kept files that import batches and domain sets (deleted ones too: they
    can be restored, and their jobs read the file) refer to; a batch that finished before
    ``finished_before`` no longer counts. Files are named by their content, so a name is
    the file wherever the folder was mounted."""
    batches = select(ImportBatch.stored_path).distinct().execution_options(include_deleted=True)
    if finished_before is not None:
        batches = batches.where(
            or_(
                ImportBatch.status.not_in(FINISHED_STATES),
                ImportBatch.finished_at.is_(None),
                ImportBatch.finished_at >= finished_before,
            )
        )
    paths = set(session.scalars(batches))
    sources = session.scalars(select(DomainSet.source_file).execution_options(include_deleted=True))
    paths.update(source.get("path") for source in sources if isinstance(source, dict))
    return {Path(path).name for path in paths if path}


def clean_uploads(
    session: Session, settings: Mapping[str, Any], *, dry_run: bool = False
) -> UploadCleanup:
    """Remove what abandoned uploads leave in the imports folder: upload notes not written
    for ``dataquality.upload_retention_hours``; kept files as old that no import batch,
    domain set or remaining note refers to (a batch finished more than
    ``dataquality.batch_file_retention_days`` ago no longer holds its file); partial files
    older than an hour (a process stopped while copying). Nothing else in the folder is
    touched. ``dry_run``: remove nothing, report the same."""
    folder = Path(settings["dataquality.imports_dir"])
    now = time.time()
    old = now - upload_retention(settings).total_seconds()
    abandoned = now - PARTIAL_MAX_AGE.total_seconds()
    cleanup = UploadCleanup(dry_run=dry_run)

    def remove(path: Path, size: int, removed: list[str]) -> None:
        if not dry_run:
            try:
                path.unlink()
            except FileNotFoundError:
                return  # another cleaner was first
        removed.append(str(path))
        cleanup.bytes += size
        log.info("%s %s (%s bytes)", "would remove" if dry_run else "removed", path, size)

    noted: set[str] = set()
    for path, status in _folder_entries(folder / NOTES_FOLDER):
        if path.name.startswith(NOTE_PARTIAL_PREFIX) and path.suffix == PARTIAL_SUFFIX:
            if status.st_mtime < abandoned:
                remove(path, status.st_size, cleanup.partials)
        elif path.suffix == ".json" and _UPLOAD_ID.match(path.stem):
            if status.st_mtime < old:
                remove(path, status.st_size, cleanup.notes)
            elif name := _noted_file_name(path):
                noted.add(name)
    keep_batch_files = batch_file_retention(settings)
    finished_before = utcnow() - keep_batch_files if keep_batch_files is not None else None
    in_use = noted | _file_names_in_use(session, finished_before)
    for path, status in _folder_entries(folder):
        if is_partial_file(path):
            if status.st_mtime < abandoned:
                remove(path, status.st_size, cleanup.partials)
        elif is_stored_file(path) and path.name not in in_use and status.st_mtime < old:
            remove(path, status.st_size, cleanup.files)
    if cleanup.notes or cleanup.files or cleanup.partials:
        counts = cleanup.as_dict()
        log.info(
            "upload clean-up%s: %s notes, %s files, %s partial files, %s bytes",
            " (dry run)" if dry_run else "",
            counts["notes"],
            counts["files"],
            counts["partials"],
            counts["bytes"],
        )
    return cleanup


def sample_rows(stored: StoredFile, limit: int = 5) -> list[dict[str, str]]:
    """The first data rows of the file, as read (for the mapping screen)."""
    rows = read_rows(stored.stored_path, stored.format)
    samples: list[dict[str, str]] = []
    try:
        for _number, cells in rows:
            samples.append(dict(cells))
            if len(samples) >= limit:
                break
    finally:
        close = getattr(rows, "close", None)
        if close is not None:
            close()
    return samples


# --------------------------------------------------------------------------- mappings


def _check_entity(entity: str) -> None:
    if entity not in IMPORT_ENTITIES:
        raise ValidationFailed({"entity": f"must be one of {', '.join(IMPORT_ENTITIES)}"})


def import_fields(session: Session, entity: str) -> list[ImportField]:
    """The fields a column can go to, custom fields included."""
    _check_entity(entity)
    return importable_fields(entity, custom_field_definitions(session, entity))


def suggested_mapping(session: Session, entity: str, headers: list[str]) -> dict[str, str | None]:
    """``{header: field or None}`` from the headers' names (custom fields included)."""
    _check_entity(entity)
    return suggest_mapping(entity, headers, custom_field_definitions(session, entity))


def mapping_problems(
    session: Session,
    entity: str,
    mapping: Mapping[str, Any],
    headers: list[str],
    source: str | None = None,
) -> dict[str, str]:
    """What is wrong with ``mapping`` for a file with ``headers`` (``{header or "mapping":
    reason}``, empty when nothing): unknown fields, a field filled twice, nothing that
    identifies a record, a column the file does not have, an external id without a source.
    """
    _check_entity(entity)
    problems = validate_mapping(entity, mapping, custom_field_definitions(session, entity))
    if not isinstance(mapping, Mapping):
        return problems
    known = set(headers)
    for header, name in mapping.items():
        if name and header not in known and header not in problems:
            problems[str(header)] = "is not a column of the file"
    if "external_id" in mapping.values() and not (source or "").strip():
        problems.setdefault("mapping", "an external id column needs the source name")
    return problems


def mapping_errors(problems: Mapping[str, str]) -> dict[str, str]:
    """Problems of a mapping as input errors: ``mapping.<header>``, or ``mapping``."""
    return {
        header if header == "mapping" else f"mapping.{header}": reason
        for header, reason in problems.items()
    }


def preview_upload(
    session: Session,
    settings: Mapping[str, Any],
    stored: StoredFile,
    entity: str,
    mapping: Mapping[str, Any],
    *,
    source: str | None = None,
    limit: int = PREVIEW_ROWS,
) -> Preview:
    """The first ``limit`` rows prepared with ``mapping``, with each row's errors.

    An unusable mapping raises ``ValidationFailed`` naming ``mapping.<header>``.
    """
    problems = mapping_problems(session, entity, mapping, stored.format.headers, source)
    if problems:
        raise ValidationFailed(mapping_errors(problems), "The column mapping cannot be used")
    return preview(
        stored.stored_path,
        stored.format,
        entity,
        dict(mapping),
        default_region=settings["phone.default_region"],
        custom_definitions=custom_field_definitions(session, entity),
        source=(source or "").strip().lower() or None,
        limit=limit,
    )


# --------------------------------------------------------------------------- batches


def create_import_batch(
    session: Session,
    actor: Actor,
    stored: StoredFile,
    *,
    entity: str,
    source: str,
    mapping: Mapping[str, Any] | None = None,
    options: ImportOptions | Mapping[str, Any] | None = None,
    dry_run: bool = False,
    as_of: datetime | None = None,
) -> ImportBatch:
    """An import batch of a stored file, ready to run; ``mapping`` defaults to the
    suggested one. Problems of the entity, source and mapping are reported together, and
    nothing is written when there is one."""
    errors: dict[str, str] = {}
    if entity not in IMPORT_ENTITIES:
        errors["entity"] = f"must be one of {', '.join(IMPORT_ENTITIES)}"
    else:
        if mapping is None:
            mapping = suggested_mapping(session, entity, stored.format.headers)
        problems = mapping_problems(session, entity, mapping, stored.format.headers, source)
        errors.update(mapping_errors(problems))
    problem = services.source_problem((source or "").strip().lower())
    if problem:
        errors["source"] = problem
    if errors:
        raise ValidationFailed(errors)
    return services.create_batch(
        session,
        actor,
        entity=entity,
        source=source,
        filename=stored.filename,
        stored_path=stored.stored_path,
        file_sha256=stored.sha256,
        file_format=stored.format.as_dict(),
        mapping={header: name or None for header, name in dict(mapping or {}).items()},
        options=options,
        as_of=as_of,
        dry_run=dry_run,
    )


def start_upload_import(
    session: Session, actor: Actor, stored: StoredFile, *, huey: Any, **choices: Any
) -> ImportBatch:
    """:func:`create_import_batch` and queue it as a job (sent when the transaction commits)."""
    batch = create_import_batch(session, actor, stored, **choices)
    services.start_import(session, batch, huey=huey)
    return batch


def repeat_batch(session: Session, actor: Actor, batch: ImportBatch, *, huey: Any) -> ImportBatch:
    """Run a finished dry run for real: a new batch of the same file, source, ``as_of``,
    mapping and options, queued as a job."""
    if not batch.dry_run:
        raise Conflict(f"Import batch {batch.id} was not a dry run; it has run already")
    if batch.status != "succeeded":
        raise Conflict(f"Import batch {batch.id} is {batch.status}; wait for the dry run to finish")
    if not Path(batch.stored_path).exists():
        raise Conflict(f"The file of import batch {batch.id} is no longer kept; upload it again")
    real = services.create_batch(
        session,
        actor,
        entity=batch.entity,
        source=batch.source,
        filename=batch.filename,
        stored_path=batch.stored_path,
        file_sha256=batch.file_sha256,
        file_format=dict(batch.file_format or {}),
        mapping=dict(batch.mapping or {}),
        options=dict(batch.options or {}),
        as_of=batch.as_of,
        dry_run=False,
    )
    services.start_import(session, real, huey=huey)
    return real


def get_batch(session: Session, batch_id: int) -> ImportBatch:
    batch = session.get(ImportBatch, batch_id)
    if batch is None:
        raise NotFound(f"Import batch {batch_id} not found")
    return batch


def list_batches(
    session: Session,
    *,
    entity: str | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """Import batches, newest first (keyset paged)."""
    stmt = select(ImportBatch)
    if entity is not None:
        _check_entity(entity)
        stmt = stmt.where(ImportBatch.entity == entity)
    if status is not None:
        if status not in BATCH_STATES:
            raise ValidationFailed({"status": f"must be one of {', '.join(BATCH_STATES)}"})
        stmt = stmt.where(ImportBatch.status == status)
    return keyset_page(
        session,
        stmt,
        ImportBatch.id,
        BATCH_SORT_KEYS,
        sort=None,
        default_sort="-id",
        limit=limit,
        cursor=cursor,
    )


def rejected_counts(session: Session, batch_ids: list[int]) -> dict[int, int]:
    """How many rejected rows each batch kept (batches without any are left out)."""
    if not batch_ids:
        return {}
    table = ImportRejection.__table__
    rows = session.execute(
        select(table.c.batch_id, func.count())
        .where(table.c.batch_id.in_(batch_ids))
        .group_by(table.c.batch_id)
    )
    return {batch_id: count for batch_id, count in rows}


def rejected_rows(
    factory: sessionmaker[Session], batch: ImportBatch
) -> tuple[Iterator[bytes], str]:
    """The batch's rejected rows as CSV chunks (read in a session of their own, closed when
    the last chunk is sent: a response streams after its request's transaction), and a
    name for the file."""
    batch_id = batch.id
    stem = f"rejected-rows-{batch_id}-{Path(batch.filename).stem}"

    def chunks() -> Iterator[bytes]:
        with factory() as session:
            yield from services.rejected_rows_csv(session, get_batch(session, batch_id))

    return chunks(), stem


# --------------------------------------------------------------------------- undo


def undo_jobs_of(session: Session, batch_ids: list[int]) -> dict[int, Job]:
    """The latest undo job asked for each of the batches (those with one)."""
    if not batch_ids:
        return {}
    of_batch = Job.params["batch_id"].as_integer()
    stmt = (
        select(Job).where(Job.kind == services.UNDO_TASK, of_batch.in_(batch_ids)).order_by(Job.id)
    )
    return {job.params["batch_id"]: job for job in session.scalars(stmt)}


def active_undo_job(session: Session, batch: ImportBatch) -> Job | None:
    """The batch's undo job while it is queued or running."""
    job = undo_jobs_of(session, [batch.id]).get(batch.id)
    return job if job is not None and job.status in ACTIVE_JOB_STATES else None


def request_undo(session: Session, actor: Actor, batch: ImportBatch, *, huey: Any) -> Job:
    """Queue the undo of a finished batch as a job (see :func:`services.undo_batch`).

    Refused (409) for a dry run, a batch not finished or already undone, and while
    another undo of it is queued or running.
    """
    if session.get_bind().dialect.name == "postgresql":
        # Two undo requests at once: the second waits here, then sees the first's job.
        session.refresh(batch, with_for_update=True)
    problem = services.undo_problem(batch)
    if problem:
        raise Conflict(problem)
    if active_undo_job(session, batch) is not None:
        raise Conflict(f"Import batch {batch.id} is being undone already")
    task = registered_task(huey, services.UNDO_TASK)
    return jobs.enqueue(
        session,
        task,
        services.UNDO_TASK,
        {"batch_id": batch.id, "actor_id": actor.user_id},
        created_by_id=actor.user_id,
    )
