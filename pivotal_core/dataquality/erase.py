"""Privacy erase: a contact's personal data is deleted for good, on request.

The contact (with every record merged into it) and its identifiers are hard-deleted, the
values in their audit events and the cells of rows imports rejected that name the person
are replaced by ``"[erased]"`` (field names, headers and times stay), the import files
kept for repeat runs are rewritten with the cells of the rows naming them emptied, and
only keyed digests of the email, phone numbers and LinkedIn URL remain, in
``erased_identities``, so that an import can tell the person was erased
(:func:`is_erased`) instead of silently creating them again; an import that meets them
rejects the row without keeping its cells.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy import event as orm_event
from sqlalchemy.orm import Session

from pivotal_core.audit.models import AuditEvent
from pivotal_core.audit.services import RECORD, Actor, record_changes
from pivotal_core.contacts.models import Contact, ContactIdentifier
from pivotal_core.dataquality.files import FileFormat, FileProblem, read_rows, write_blanked_csv
from pivotal_core.dataquality.identity import (
    CONTACT_IDENTITY_FIELDS,
    IDENTITY_KINDS,
    as_keys,
    identity_digest,
)
from pivotal_core.dataquality.models import (
    DuplicateCandidate,
    ErasedIdentity,
    ImportBatch,
    ImportRejection,
    Merge,
    RecordRedirect,
)
from pivotal_core.dataquality.storage import store_upload
from pivotal_core.db import utcnow
from pivotal_core.errors import NotFound, ValidationFailed
from pivotal_core.normalize import (
    NormalizationError,
    normalize_email,
    normalize_linkedin_url,
    normalize_phone,
)
from pivotal_core.records import notify_record_changed, resolve_redirect

ENTITY = "contact"
ERASED = "[erased]"
MAX_REASON_LENGTH = 1000
# Contact fields that say who the person is; values of these are scrubbed wherever a merge
# copied them onto another contact's audit trail.
PERSONAL_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "mobile",
    "linkedin_url",
    "title",
    "city",
    "region",
    "postal_code",
)
_LETTER = re.compile(r"[^\W\d_]")
_NON_DIGITS = re.compile(r"\D+")
# Identifier kinds of contact_identifiers that are kept as digests, by identity kind.
IDENTIFIER_KINDS = {"email": "email", "phone": "phone", "linkedin": "linkedin"}


def normalized_identity(kind: str, value: str, default_region: str = "US") -> str | None:
    """``value`` normalized as the contact field of ``kind`` is, or None if it cannot be."""
    try:
        if kind == "email":
            return normalize_email(value)
        if kind == "phone":
            return normalize_phone(value, default_region)
        if kind == "linkedin":
            return normalize_linkedin_url(value)
    except NormalizationError:
        return None
    raise ValidationFailed({"kind": f"must be one of {', '.join(IDENTITY_KINDS)}"})


def is_erased(
    session: Session,
    kind: str,
    value: str | None,
    secret: str | Sequence[str],
    *,
    default_region: str = "US",
) -> bool:
    """Whether a person with this email, phone (or mobile) number or LinkedIn URL was erased.

    ``kind`` is ``email``, ``phone`` or ``linkedin`` (contact field names ``mobile`` and
    ``linkedin_url`` are accepted too); ``value`` may be in any spelling the contact
    field would accept. ``secret``: the key of the digests, or the keys newest first
    (:func:`~pivotal_core.dataquality.identity.erasure_keys`).
    """
    kind = CONTACT_IDENTITY_FIELDS.get(kind, kind)
    if not value:
        return False
    normalized = normalized_identity(kind, value, default_region)
    if normalized is None:
        return False
    found = session.scalar(
        select(ErasedIdentity.id).where(
            ErasedIdentity.kind == kind,
            ErasedIdentity.digest.in_(
                [identity_digest(kind, normalized, key) for key in as_keys(secret)]
            ),
        )
    )
    return found is not None


def _check_reason(reason: Any) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationFailed(
            {"reason": "is required: say why (e.g. a GDPR request and its date)"}
        )
    reason = reason.strip()
    if len(reason) > MAX_REASON_LENGTH:
        raise ValidationFailed({"reason": f"must be at most {MAX_REASON_LENGTH} characters"})
    return reason


def _same_person(session: Session, contact: Contact) -> list[Contact]:
    """The contact and every contact merged into it, directly or through others."""
    found = {contact.id: contact}
    frontier = {contact.id}
    while frontier:
        old_ids = set(
            session.scalars(
                select(RecordRedirect.old_id).where(
                    RecordRedirect.entity == ENTITY, RecordRedirect.new_id.in_(frontier)
                )
            )
        )
        merged = session.scalars(
            select(Contact)
            .where(or_(Contact.id.in_(old_ids), Contact.merged_into_id.in_(frontier)))
            .execution_options(include_deleted=True)
        ).all()
        frontier = {c.id for c in merged if c.id not in found}
        found.update({c.id: c for c in merged})
    return [found[key] for key in sorted(found)]


def _identities(session: Session, people: list[Contact]) -> set[tuple[str, str]]:
    identities: set[tuple[str, str]] = set()
    for contact in people:
        for field, kind in CONTACT_IDENTITY_FIELDS.items():
            value = getattr(contact, field)
            if value:
                identities.add((kind, value))
    rows = session.execute(
        select(ContactIdentifier.kind, ContactIdentifier.value).where(
            ContactIdentifier.contact_id.in_([c.id for c in people]),
            ContactIdentifier.kind.in_(IDENTIFIER_KINDS),
        )
    )
    for kind, value in rows:
        normalized = normalized_identity(IDENTIFIER_KINDS[kind], value)
        if normalized:
            identities.add((IDENTIFIER_KINDS[kind], normalized))
    return identities


def _personal_values(session: Session, people: list[Contact]) -> set[str]:
    values = {
        value
        for contact in people
        for field in PERSONAL_FIELDS
        if isinstance(value := getattr(contact, field), str) and value
    }
    values.update(
        session.scalars(
            select(ContactIdentifier.value).where(
                ContactIdentifier.contact_id.in_([c.id for c in people])
            )
        )
    )
    return values


def _contains(value: Any, secrets: set[str]) -> bool:
    if isinstance(value, str):
        return value in secrets
    if isinstance(value, list):
        return any(_contains(v, secrets) for v in value)
    if isinstance(value, dict):
        return any(_contains(v, secrets) for v in value.values())
    return False


def _scrub_merges(session: Session, ids: set[int], secrets: set[str]) -> None:
    """Merges the person took part in keep field names, not values; they can no longer be
    reverted. A merge partner that is someone else (the merge was reverted) may carry the
    person's values in its merge events: those values are scrubbed too."""
    merges = session.scalars(
        select(Merge).where(
            Merge.entity == ENTITY, or_(Merge.survivor_id.in_(ids), Merge.merged_id.in_(ids))
        )
    ).all()
    partners: set[int] = set()
    for merge in merges:
        merge.survivor_before = dict.fromkeys(merge.survivor_before or {}, ERASED)
        moved = dict(merge.moved or {})
        if moved.get("survivor_after"):
            moved["survivor_after"] = dict.fromkeys(moved["survivor_after"], ERASED)
        if moved.get("provenance_before"):
            moved["provenance_before"] = dict.fromkeys(moved["provenance_before"])
        if moved.get("email_identifier"):
            moved["email_identifier"] = {**moved["email_identifier"], "value": ERASED}
        moved["erased"] = True
        merge.moved = moved
        partners.update({merge.survivor_id, merge.merged_id} - ids)
    if not partners:
        return
    events = session.scalars(
        select(AuditEvent).where(
            AuditEvent.entity == ENTITY,
            AuditEvent.entity_id.in_(partners),
            AuditEvent.action.in_(("merge", "revert_merge")),
        )
    ).all()
    for event in events:
        if _contains(event.old_value, secrets):
            event.old_value = ERASED
        if _contains(event.new_value, secrets):
            event.new_value = ERASED


Matcher = Callable[[str, str], bool]


def _identity_matcher(identities: set[tuple[str, str]], default_region: str = "US") -> Matcher:
    """``names_them(kind, cell)``: whether a cell of an email, phone or LinkedIn column
    normalizes to one of ``identities``; national phone numbers are read in the numbering
    plan of ``default_region``, as imports read them (``phone.default_region``)."""

    # A cell is normalized (a phone number takes tens of µs) only when it holds a telling
    # piece of an identity: an email's local part, a number's last 7 digits, a LinkedIn
    # URL's last segment (compared case-folded, NFC, percent-decoded, as normalizing does).
    def folded(text: str) -> str:
        return unicodedata.normalize("NFC", unquote(text)).lower()

    clues: dict[str, set[str]] = {kind: set() for kind in IDENTITY_KINDS}
    for kind, value in identities:
        if kind == "email":
            clues[kind].add(folded(value.split("@", 1)[0]))
        elif kind == "phone":
            clues[kind].add(value[-7:])
        else:
            clues[kind].add(folded(value.rstrip("/").rsplit("/", 1)[-1]))

    def names_them(kind: str, cell: str) -> bool:
        wanted = clues[kind]
        if not wanted:
            return False
        if kind == "phone":
            # A vanity number (1-800-FLOWERS) is parsed; others when their digits hint.
            hinted = _LETTER.search(cell) is not None or any(
                clue in _NON_DIGITS.sub("", cell) for clue in wanted
            )
        else:
            text = cell.lower()
            if "%" in text or not text.isascii():
                text = folded(cell)
            hinted = any(clue in text for clue in wanted)
        return hinted and (kind, normalized_identity(kind, cell, default_region)) in identities

    return names_them


def _identity_columns(mapping: Mapping[str, Any] | None) -> dict[str, str]:
    """``{header: identity kind}`` of the columns a contact import's mapping reads an
    email, phone, mobile or LinkedIn URL from."""
    return {
        header: CONTACT_IDENTITY_FIELDS[name]
        for header, name in (mapping or {}).items()
        if name in CONTACT_IDENTITY_FIELDS
    }


def _names_them(
    cells: Mapping[str, Any], columns: Mapping[str, str], names_them: Callable[[str, str], bool]
) -> bool:
    return any(
        isinstance(cell := cells.get(header), str)
        and cell
        and cell != ERASED
        and names_them(kind, cell)
        for header, kind in columns.items()
    )


def _rejections_naming(session: Session, names_them: Matcher) -> list[int]:
    """Ids of the rows contact imports rejected that name the person (see
    :func:`_identity_matcher`)."""
    found: list[int] = []
    batches = session.execute(
        select(ImportBatch.id, ImportBatch.mapping).where(ImportBatch.entity == ENTITY)
    ).all()
    for batch_id, mapping in batches:
        columns = _identity_columns(mapping)
        if not columns:
            continue
        rows = session.execute(
            select(ImportRejection.id, ImportRejection.raw).where(
                ImportRejection.batch_id == batch_id
            )
        ).all()
        for rejection_id, raw in rows:
            if isinstance(raw, dict) and _names_them(raw, columns, names_them):
                found.append(rejection_id)
    return found


def _scrub_rejections(session: Session, names_them: Matcher) -> int:
    """The rejected rows that name the person keep their headers and the fields they were
    rejected for, not their cells or the reasons' words; returns how many."""
    found = _rejections_naming(session, names_them)
    for rejection_id in found:
        rejection = session.get(ImportRejection, rejection_id)
        rejection.raw = dict.fromkeys(rejection.raw or {}, ERASED)
        rejection.reasons = dict.fromkeys(rejection.reasons or {}, ERASED)
    return len(found)


@dataclass
class _StoredFile:
    """A kept import file as contact batches read it (a workbook may be read at several
    sheets): the batches and the identity columns their mappings read."""

    path: str
    file_format: dict[str, Any]
    batch_ids: list[int] = dataclasses.field(default_factory=list)
    columns: dict[str, str] = dataclasses.field(default_factory=dict)


def _stored_files(session: Session) -> dict[str, list[_StoredFile]]:
    """The files kept for contact imports that are still there, by path."""
    found: dict[str, dict[str, _StoredFile]] = {}
    rows = session.execute(
        select(
            ImportBatch.id, ImportBatch.stored_path, ImportBatch.file_format, ImportBatch.mapping
        )
        .where(ImportBatch.entity == ENTITY)
        .order_by(ImportBatch.id)
    )
    for batch_id, path, file_format, mapping in rows:
        if not path or not Path(path).is_file():
            continue
        way = json.dumps(file_format or {}, sort_keys=True)
        stored = found.setdefault(path, {}).setdefault(way, _StoredFile(path, file_format or {}))
        stored.batch_ids.append(batch_id)
        stored.columns.update(_identity_columns(mapping))
    return {path: list(ways.values()) for path, ways in found.items()}


def _rows_naming(stored: _StoredFile, names_them: Matcher) -> set[int]:
    """Numbers of the rows of a kept file that name the person (up to where it can be
    read: past bytes not in its encoding, no import read it either)."""
    found: set[int] = set()
    if not stored.columns:
        return found
    try:
        for number, cells in read_rows(stored.path, FileFormat.from_dict(stored.file_format)):
            if _names_them(cells, stored.columns, names_them):
                found.add(number)
    except FileProblem:
        pass
    return found


def _scrub_files(session: Session, names_them: Matcher) -> tuple[int, int]:
    """Rewrite each kept contact import file with rows that name the person (as CSV, the
    cells of those rows emptied, every row keeping its number, so rejected rows and repeat
    runs still line up); its batches read the new file. The old files are removed once the
    transaction commits. Returns ``(files, rows)`` rewritten and emptied."""
    files = rows = 0
    replaced: set[str] = set()
    written: set[str] = set()
    for path, ways in _stored_files(session).items():
        named = [_rows_naming(way, names_them) for way in ways]
        if not any(named):
            continue
        # Every way the file is read gets a copy of its own, so the old file can go.
        for way, blank in zip(ways, named, strict=True):
            new_path, digest, new_format = _rewrite(way, blank)
            session.execute(
                update(ImportBatch)
                .where(ImportBatch.id.in_(way.batch_ids))
                .values(stored_path=new_path, file_sha256=digest, file_format=new_format)
                .execution_options(synchronize_session="fetch")
            )
            written.add(new_path)
            rows += len(blank)
        files += 1
        replaced.add(path)
    stale = replaced - written
    if stale:

        def remove(_session: Session) -> None:
            for path in stale:
                Path(path).unlink(missing_ok=True)

        orm_event.listen(session, "after_commit", remove, once=True)
    return files, rows


def _rewrite(stored: _StoredFile, blank: set[int]) -> tuple[str, str, dict[str, Any]]:
    """Write ``stored`` again with the rows numbered in ``blank`` emptied, next to it."""
    folder = Path(stored.path).parent
    with tempfile.TemporaryFile(dir=folder) as spool:
        text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
        new_format = write_blanked_csv(
            stored.path, FileFormat.from_dict(stored.file_format), blank, text
        )
        text.flush()
        text.detach()
        spool.seek(0)
        settings = {"dataquality.imports_dir": str(folder)}
        new_path, digest = store_upload(settings, spool, "erased.csv")
    return new_path, digest, new_format.as_dict()


def _keep_digests(
    session: Session,
    actor: Actor,
    identities: Iterable[tuple[str, str]],
    reason: str,
    secret: str | Sequence[str],
) -> list[ErasedIdentity]:
    """The digests of ``identities``: those kept already under any of the keys, new ones
    made with the newest."""
    kept: list[ErasedIdentity] = []
    now = utcnow()
    keys = as_keys(secret)
    for kind, value in sorted(identities):
        digests = [identity_digest(kind, value, key) for key in keys]
        row = session.scalars(
            select(ErasedIdentity)
            .where(ErasedIdentity.kind == kind, ErasedIdentity.digest.in_(digests))
            .order_by(ErasedIdentity.id)
        ).first()
        if row is None:
            row = ErasedIdentity(
                kind=kind,
                digest=digests[0],
                erased_at=now,
                erased_by_id=actor.user_id,
                reason=reason,
            )
            session.add(row)
        kept.append(row)
    session.flush()
    return kept


@dataclass(frozen=True)
class ErasePreview:
    """What :func:`erase_person` would remove, for the person confirming it."""

    contact: Contact  # the person's live record (the survivor of any merges)
    contacts: list[Contact]  # every record erased, merged ones included
    identifiers: list[tuple[str, str]]  # (kind, value) of contact_identifiers
    identity_kinds: list[str]  # kinds of the digests kept (email, phone, linkedin)
    audit_events: int  # events whose values are scrubbed
    merges: int  # merges that can no longer be reverted
    candidates: int  # duplicate pairs removed
    rejected_rows: int = 0  # rows imports rejected that name the person, scrubbed
    stored_files: int = 0  # kept contact import files searched for the person's rows


def preview_erase(session: Session, contact_id: int, *, default_region: str = "US") -> ErasePreview:
    """What erasing the person behind ``contact_id`` removes; nothing is changed.
    ``default_region``: see :func:`erase_person`."""
    contact = resolve_redirect(session, Contact, ENTITY, contact_id)
    if contact is None:
        raise NotFound(f"Contact {contact_id} not found")
    people = _same_person(session, contact)
    ids = [c.id for c in people]

    def count(model: Any, *where: Any) -> int:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0

    identifiers = session.execute(
        select(ContactIdentifier.kind, ContactIdentifier.value)
        .where(ContactIdentifier.contact_id.in_(ids))
        .order_by(ContactIdentifier.kind, ContactIdentifier.value)
    ).all()
    identities = _identities(session, people)
    return ErasePreview(
        contact=contact,
        contacts=people,
        identifiers=[(kind, value) for kind, value in identifiers],
        identity_kinds=sorted({kind for kind, _ in identities}),
        audit_events=count(AuditEvent, AuditEvent.entity == ENTITY, AuditEvent.entity_id.in_(ids)),
        merges=count(
            Merge, Merge.entity == ENTITY, or_(Merge.survivor_id.in_(ids), Merge.merged_id.in_(ids))
        ),
        candidates=count(
            DuplicateCandidate,
            DuplicateCandidate.entity == ENTITY,
            or_(DuplicateCandidate.record_a.in_(ids), DuplicateCandidate.record_b.in_(ids)),
        ),
        rejected_rows=len(
            _rejections_naming(session, _identity_matcher(identities, default_region))
        ),
        stored_files=len(_stored_files(session)),
    )


@dataclass(frozen=True)
class Erasure:
    contact_ids: list[int]
    identities: list[ErasedIdentity]
    rejected_rows: int = 0  # rows imports rejected that were scrubbed
    import_files: int = 0  # kept import files rewritten without the person's cells
    import_file_rows: int = 0  # rows of those files emptied


def erase_contact(
    session: Session, actor: Actor, contact_id: int, reason: str, secret: str | Sequence[str]
) -> list[ErasedIdentity]:
    """Erase the person behind ``contact_id``; returns the erased identities kept for them.
    See :func:`erase_person`."""
    return erase_person(session, actor, contact_id, reason, secret).identities


def erase_person(
    session: Session,
    actor: Actor,
    contact_id: int,
    reason: str,
    secret: str | Sequence[str],
    *,
    default_region: str = "US",
) -> Erasure:
    """Erase the person behind ``contact_id``: the contacts erased and the identities kept.

    The id may be that of a merged contact: the person is the contact it was merged into,
    and every contact merged into that one is erased with it. Plugins hear of it through
    ``pivotal_record_changed`` (action ``erase``) before the rows go, so they can erase
    their own copies. ``reason`` is kept with the digests; it should not name the person.
    ``default_region`` is the plan national phone numbers in imported files are read in
    (the ``phone.default_region`` imports use), to find the rows that name the person.
    ``secret``: the key of the digests, or the keys newest first (``erasure_keys``).
    """
    reason = _check_reason(reason)
    contact = resolve_redirect(session, Contact, ENTITY, contact_id)
    if contact is None:
        raise NotFound(f"Contact {contact_id} not found")
    people = _same_person(session, contact)
    ids = {c.id for c in people}
    identities = _identities(session, people)
    secrets = _personal_values(session, people)

    kept = _keep_digests(session, actor, identities, reason, secret)
    notice = {"record": (ERASED, None)}
    for person in people:
        notify_record_changed(session, ENTITY, person, notice, actor, "erase")

    # A creation event keeps the names of the fields the record started with.
    creations = session.execute(
        select(AuditEvent.id, AuditEvent.new_value).where(
            AuditEvent.entity == ENTITY,
            AuditEvent.entity_id.in_(ids),
            AuditEvent.field == RECORD,
        )
    ).all()
    session.execute(
        update(AuditEvent)
        .where(AuditEvent.entity == ENTITY, AuditEvent.entity_id.in_(ids))
        .values(old_value=ERASED, new_value=ERASED)
        .execution_options(synchronize_session=False)
    )
    for event_id, values in creations:
        if isinstance(values, dict):
            session.execute(
                update(AuditEvent)
                .where(AuditEvent.id == event_id)
                .values(new_value=dict.fromkeys(values, ERASED))
                .execution_options(synchronize_session=False)
            )
    _scrub_merges(session, ids, secrets)
    names_them = _identity_matcher(identities, default_region)
    rejected_rows = _scrub_rejections(session, names_them)
    import_files, import_file_rows = _scrub_files(session, names_them)
    session.execute(
        delete(RecordRedirect).where(
            RecordRedirect.entity == ENTITY,
            or_(RecordRedirect.old_id.in_(ids), RecordRedirect.new_id.in_(ids)),
        )
    )
    session.execute(
        delete(DuplicateCandidate).where(
            DuplicateCandidate.entity == ENTITY,
            or_(DuplicateCandidate.record_a.in_(ids), DuplicateCandidate.record_b.in_(ids)),
        )
    )
    session.execute(
        delete(ContactIdentifier)
        .where(ContactIdentifier.contact_id.in_(ids))
        .execution_options(synchronize_session=False)
    )
    session.execute(
        delete(Contact).where(Contact.id.in_(ids)).execution_options(synchronize_session=False)
    )
    for person in people:
        session.expunge(person)
    record_changes(
        session,
        actor,
        ENTITY,
        contact.id,
        "erase",
        {
            "record": (
                None,
                {
                    "erased_contacts": sorted(ids),
                    "identities": len(kept),
                    "rejected_rows": rejected_rows,
                    "import_files": import_files,
                    "import_file_rows": import_file_rows,
                },
            )
        },
    )
    session.flush()
    return Erasure(
        contact_ids=sorted(ids),
        identities=kept,
        rejected_rows=rejected_rows,
        import_files=import_files,
        import_file_rows=import_file_rows,
    )


__all__ = [
    "ERASED",
    "ErasePreview",
    "Erasure",
    "erase_contact",
    "erase_person",
    "is_erased",
    "normalized_identity",
    "preview_erase",
]
