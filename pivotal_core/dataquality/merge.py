"""Merging two duplicate records into one, field by field, and reverting a merge.

The survivor takes the chosen values (audited with action ``merge``), the union of tags,
the merged record's identifiers and, for accounts, its contacts and child accounts. The
merged record is soft-deleted with ``merged_into_id`` and a redirect, so its id (and its
email or domain, kept on the survivor as an identifier or secondary domain) still leads
to the survivor. A :class:`Merge` row keeps what is needed to take it all back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, and_, delete, func, or_, select
from sqlalchemy.orm import Session

from pivotal_core.accounts import services as accounts
from pivotal_core.accounts.models import Account
from pivotal_core.api.pagination import Page, SortKey, keyset_page
from pivotal_core.audit.services import Actor, audit_value, record_changes
from pivotal_core.contacts import services as contacts
from pivotal_core.contacts.models import Contact, ContactIdentifier
from pivotal_core.dataquality.duplicates import (
    MODELS,
    check_entity,
    get_candidate,
    resolve_candidates_of,
    restore_candidate_statuses,
)
from pivotal_core.dataquality.models import DuplicateCandidate, Merge, RecordRedirect
from pivotal_core.dataquality.survivorship import SurvivorshipPolicy, load_policy
from pivotal_core.db import utcnow
from pivotal_core.errors import Conflict, NotFound, Unprocessable, ValidationFailed
from pivotal_core.normalize import company_match_key, email_domain
from pivotal_core.records import apply_changes, notify_record_changed

CHOICES = ("survivor", "merged")
# Fields chosen one by one. List fields are unioned instead: tags (both entities),
# technologies and secondary domains (accounts).
CHOSEN_FIELDS: dict[str, tuple[str, ...]] = {
    "contact": tuple(f for f in contacts.EDITABLE_FIELDS if f not in ("tags", "custom_fields")),
    "account": tuple(
        f
        for f in accounts.EDITABLE_FIELDS
        if f not in ("tags", "technologies", "secondary_domains", "custom_fields")
    ),
}
# Columns computed from a chosen field: they follow it, in the merge and in its revert.
DERIVED = {"contact": {"email_domain": "email"}, "account": {"name_key": "name"}}
SET_FIELDS = ("tags", "technologies", "secondary_domains")


def _label(entity: str) -> str:
    return entity.capitalize()


# ---------------------------------------------------------------- choosing values


def default_choice(
    policy: SurvivorshipPolicy,
    field: str,
    survivor_value: Any,
    survivor_entry: Mapping[str, Any] | None,
    merged_value: Any,
    merged_entry: Mapping[str, Any] | None,
) -> str:
    """Which record's value a field takes when the person merging did not say: the one
    survivorship prefers (higher-priority source, then the more recent, never a blank).
    On a complete tie the survivor keeps its value."""
    best = policy.choose(field, [(survivor_value, survivor_entry), (merged_value, merged_entry)])
    if best is None or best[0] == survivor_value:
        return "survivor"
    return "merged"


def _custom_value(record: Any, key: str) -> Any:
    return (record.custom_fields or {}).get(key)


def resolve_choices(
    entity: str,
    survivor: Any,
    merged: Any,
    choices: Mapping[str, str] | None,
    policy: SurvivorshipPolicy,
) -> dict[str, str]:
    """Every choosable field (custom fields as ``custom_fields.<key>``) with the record
    its value comes from: the given choice, else :func:`default_choice`. Bad choices are a
    400 naming ``choices.<field>``."""
    choices = dict(choices or {})
    custom_keys = sorted(set(survivor.custom_fields or {}) | set(merged.custom_fields or {}))
    known = [*CHOSEN_FIELDS[entity], *(f"custom_fields.{key}" for key in custom_keys)]
    errors: dict[str, str] = {}
    for name, choice in choices.items():
        if name not in known:
            errors[f"choices.{name}"] = "is not a field of either record that can be chosen"
        elif choice not in CHOICES:
            errors[f"choices.{name}"] = "must be survivor or merged"
    if errors:
        raise ValidationFailed(errors)
    ours_provenance = survivor.field_provenance or {}
    theirs_provenance = merged.field_provenance or {}
    resolved: dict[str, str] = {}
    for name in known:
        if name in choices:
            resolved[name] = choices[name]
            continue
        if name.startswith("custom_fields."):
            key = name.split(".", 1)[1]
            ours, theirs = _custom_value(survivor, key), _custom_value(merged, key)
        else:
            ours, theirs = getattr(survivor, name), getattr(merged, name)
        resolved[name] = default_choice(
            policy, name, ours, ours_provenance.get(name), theirs, theirs_provenance.get(name)
        )
    return resolved


def _union_tags(*lists: list[str] | None) -> list[str]:
    return sorted({tag for values in lists for tag in (values or [])})


def _union_technologies(*lists: list[str] | None) -> list[str]:
    seen: dict[str, str] = {}
    for values in lists:
        for value in values or []:
            seen.setdefault(value.lower(), value)
    return sorted(seen.values(), key=str.lower)


def _merged_values(
    entity: str, survivor: Any, merged: Any, resolved: Mapping[str, str]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in CHOSEN_FIELDS[entity]:
        source = merged if resolved[name] == "merged" else survivor
        values[name] = getattr(source, name)
    custom: dict[str, Any] = {}
    for name, choice in resolved.items():
        if name.startswith("custom_fields."):
            key = name.split(".", 1)[1]
            custom[key] = _custom_value(merged if choice == "merged" else survivor, key)
    if custom:
        values["custom_fields"] = custom
    values["tags"] = _union_tags(survivor.tags, merged.tags)
    if entity == "contact":
        values["email_domain"] = email_domain(values["email"]) if values["email"] else None
    else:
        values["technologies"] = _union_technologies(survivor.technologies, merged.technologies)
        primary = values["domain"]
        domains = {survivor.domain, merged.domain, *(survivor.secondary_domains or [])}
        domains |= set(merged.secondary_domains or [])
        values["secondary_domains"] = sorted(d for d in domains if d and d != primary)
        values["parent_id"] = _merged_parent(survivor, merged, resolved)
    return values


def _merged_parent(survivor: Account, merged: Account, resolved: Mapping[str, str]) -> int | None:
    """The survivor's parent: the chosen one, unless that is one of the two accounts."""
    pair = {survivor.id, merged.id}
    chosen, other = (
        (merged.parent_id, survivor.parent_id)
        if resolved["parent_id"] == "merged"
        else (survivor.parent_id, merged.parent_id)
    )
    for candidate in (chosen, other):
        if candidate not in pair:
            return candidate
    return None


# ---------------------------------------------------------------- checks


def _lock(session: Session, entity: str, ids: list[Any]) -> None:
    """Lock both rows (lowest id first) so that two merges of one record cannot both pass
    the checks; SQLite lets one writer in at a time anyway."""
    if session.get_bind().dialect.name != "postgresql":
        return
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        return
    model = MODELS[entity]
    session.execute(
        select(model.id)
        .where(model.id.in_(ids))
        .order_by(model.id)
        .with_for_update()
        .execution_options(include_deleted=True)
    ).all()


def _load(session: Session, entity: str, record_id: Any, field: str) -> Any:
    if isinstance(record_id, bool) or not isinstance(record_id, int):
        raise ValidationFailed({field: "must be a whole number"})
    model = MODELS[entity]
    record = session.scalars(
        select(model).where(model.id == record_id).execution_options(include_deleted=True)
    ).first()
    if record is None:
        raise Unprocessable(
            f"{_label(entity)} {record_id} does not exist",
            {field: f"{entity} {record_id} does not exist"},
        )
    return record


def _check_mergeable(entity: str, survivor: Any, merged: Any) -> None:
    label = _label(entity)
    if survivor.merged_into_id is not None:
        target = survivor.merged_into_id
        raise Conflict(
            f"{label} {survivor.id} was merged into {entity} {target}; merge into {target}",
            {"survivor_id": f"was merged into {entity} {target}"},
        )
    if survivor.deleted_at is not None:
        raise Conflict(
            f"{label} {survivor.id} is deleted; restore it before merging into it",
            {"survivor_id": "is deleted"},
        )
    if merged.merged_into_id is not None:
        target = merged.merged_into_id
        raise Conflict(
            f"{label} {merged.id} was already merged into {entity} {target}",
            {"merged_id": f"was already merged into {entity} {target}"},
        )
    if merged.deleted_at is not None:
        raise Conflict(
            f"{label} {merged.id} is deleted; restore it before merging it",
            {"merged_id": "is deleted"},
        )


def _check_hierarchy(session: Session, survivor: Account, merged: Account, parent: int | None):
    # A child of the merged account that sits above the survivor cannot become its child.
    ancestors = {a.id for a in accounts.account_ancestors(session, survivor)}
    for child in accounts.account_children(session, merged.id):
        if child.id in ancestors:
            raise Unprocessable(
                f"Account {survivor.id} is below account {child.id}, a child of account "
                f"{merged.id}; change the hierarchy before merging",
                {"merged_id": f"has child account {child.id} above the survivor"},
            )
    if parent is not None and parent != survivor.parent_id:
        parent_account = session.get(Account, parent)
        chain = {parent}
        if parent_account is not None:
            chain |= {a.id for a in accounts.account_ancestors(session, parent_account)}
        if survivor.id in chain or merged.id in chain:
            raise Unprocessable(
                f"Account {parent} is below one of the merged accounts; it cannot become "
                "the survivor's parent",
                {"choices.parent_id": f"account {parent} is below the merged accounts"},
            )


def load_pair(session: Session, entity: str, survivor_id: Any, merged_id: Any) -> tuple[Any, Any]:
    """The two records of a merge, checked: both exist, differ, and are live and unmerged.
    Errors name ``survivor_id`` or ``merged_id``."""
    check_entity(entity)
    if isinstance(survivor_id, int) and survivor_id == merged_id:
        raise Unprocessable(
            f"A {entity} cannot be merged into itself",
            {"merged_id": "is the survivor itself"},
        )
    survivor = _load(session, entity, survivor_id, "survivor_id")
    merged = _load(session, entity, merged_id, "merged_id")
    _check_mergeable(entity, survivor, merged)
    return survivor, merged


# ---------------------------------------------------------------- merging


def merge_records(
    session: Session,
    actor: Actor,
    entity: str,
    survivor_id: int,
    merged_id: int,
    choices: Mapping[str, str] | None = None,
    *,
    policy: SurvivorshipPolicy | None = None,
) -> Merge:
    """Merge record ``merged_id`` into ``survivor_id``; see the module docstring.

    ``choices`` maps a field (``custom_fields.<key>`` for custom fields) to ``survivor``
    or ``merged``; fields left out take the default of :func:`default_choice` under
    ``policy`` (the entity's survivorship rules, with the default source priority when
    not given).
    """
    _lock(session, entity, [survivor_id, merged_id])
    survivor, merged = load_pair(session, entity, survivor_id, merged_id)
    if policy is None:
        policy = load_policy(session, entity)
    resolved = resolve_choices(entity, survivor, merged, choices, policy)
    values = _merged_values(entity, survivor, merged, resolved)
    if entity == "account":
        _check_hierarchy(session, survivor, merged, values["parent_id"])

    merge = Merge(
        entity=entity,
        survivor_id=survivor.id,
        merged_id=merged.id,
        choices=resolved,
        survivor_before={},
        moved={},
        actor_id=actor.user_id,
    )
    session.add(merge)
    session.flush()
    moved: dict[str, Any] = {}

    # The merged record goes first, so its email or domain is free for the survivor.
    merged.merged_into_id = survivor.id
    _soft_delete(session, actor, entity, merged, survivor.id)

    provenance_before = dict(survivor.field_provenance or {})
    derived = DERIVED[entity]
    changes = apply_changes(session, actor, entity, survivor, values, action="merge")
    if entity == "account":
        name_key = company_match_key(survivor.name) or ""
        if survivor.name_key != name_key:
            changes["name_key"] = (survivor.name_key, name_key)
            survivor.name_key = name_key
    _carry_provenance(survivor, merged, resolved, changes, derived, merge.id)
    merge.survivor_before = {name: audit_value(old) for name, (old, _) in changes.items()}
    moved["survivor_after"] = {name: audit_value(new) for name, (_, new) in changes.items()}
    moved["provenance_before"] = {name: provenance_before.get(name) for name in changes}

    if entity == "contact":
        moved["identifiers"] = _move_identifiers(session, actor, merged, survivor)
        other = changes["email"][0] if "email" in changes else merged.email
        moved["email_identifier"] = _keep_other_email(session, actor, survivor, other)
    else:
        moved["contacts"] = _move_contacts(session, actor, merged.id, survivor.id)
        moved["accounts"] = _move_children(session, actor, merged.id, survivor.id)

    session.add(
        RecordRedirect(
            entity=entity,
            old_id=merged.id,
            new_id=survivor.id,
            merge_id=merge.id,
            created_at=utcnow(),
        )
    )
    moved["candidates"] = resolve_candidates_of(session, actor, entity, merged.id, survivor.id)
    # Always one event on the survivor, even when no field of it changed.
    marker = {"merged_record": (None, merged.id)}
    record_changes(session, actor, entity, survivor.id, "merge", marker)
    merge.moved = moved
    session.flush()
    return merge


def merge_candidate(
    session: Session,
    actor: Actor,
    candidate_id: int,
    survivor_id: int,
    choices: Mapping[str, str] | None = None,
    *,
    policy: SurvivorshipPolicy | None = None,
) -> Merge:
    """Merge the two records of an open duplicate candidate; ``survivor_id`` (one of them)
    stays. See :func:`merge_records`."""
    candidate = get_candidate(session, candidate_id)
    if candidate.status != "open":
        raise Conflict(
            f"Duplicate candidate {candidate_id} is {candidate.status}; only open pairs "
            "can be merged",
            {"candidate": f"is {candidate.status}, not open"},
        )
    pair = (candidate.record_a, candidate.record_b)
    if survivor_id not in pair:
        raise ValidationFailed(
            {"survivor_id": f"must be {pair[0]} or {pair[1]}, a record of this pair"}
        )
    merged_id = pair[1] if survivor_id == pair[0] else pair[0]
    return merge_records(
        session, actor, candidate.entity, survivor_id, merged_id, choices, policy=policy
    )


def _soft_delete(session: Session, actor: Actor, entity: str, record: Any, into: int) -> None:
    now = utcnow()
    record.deleted_at = now
    record.updated_at = now
    session.flush()
    changes = {"deleted_at": (None, now), "merged_into_id": (None, into)}
    record_changes(session, actor, entity, record.id, "merge", changes)
    notify_record_changed(session, entity, record, changes, actor, "merge")


def _carry_provenance(
    survivor: Any,
    merged: Any,
    resolved: Mapping[str, str],
    changes: Mapping[str, Any],
    derived: Mapping[str, str],
    merge_id: int,
) -> None:
    """A value taken from the merged record keeps where it came from (so survivorship
    still weighs its source), marked with the merge that brought it."""
    theirs = merged.field_provenance or {}
    provenance = dict(survivor.field_provenance or {})
    for name in changes:
        base = derived.get(name, name)
        if resolved.get(base) == "merged" and name in theirs:
            provenance[name] = {**theirs[name], "merge_id": merge_id}
        elif name in provenance:
            provenance[name] = {**provenance[name], "merge_id": merge_id}
    survivor.field_provenance = provenance


def _identifier_field(kind: str) -> str:
    if kind.startswith("external:"):
        return "external_ids." + kind.split(":", 1)[1]
    return f"identifiers.{kind}"


# What moves from the merged record to the survivor (read by the merge and its preview).


def _identifiers_of(contact_id: int) -> Select:
    return (
        select(ContactIdentifier)
        .where(ContactIdentifier.contact_id == contact_id)
        .order_by(ContactIdentifier.id)
    )


def _contacts_at(account_id: int) -> Select:
    return (
        select(Contact)
        .where(Contact.account_id == account_id)
        .order_by(Contact.id)
        .execution_options(include_deleted=True)
    )


def _children_of(account_id: int, survivor_id: int) -> Select:
    return (
        select(Account)
        .where(Account.parent_id == account_id, Account.id != survivor_id)
        .order_by(Account.id)
        .execution_options(include_deleted=True)
    )


def _move_identifiers(
    session: Session, actor: Actor, merged: Contact, survivor: Contact
) -> list[int]:
    rows = list(session.scalars(_identifiers_of(merged.id)))
    if not rows:
        return []
    gained: dict[str, tuple[Any, Any]] = {}
    lost: dict[str, tuple[Any, Any]] = {}
    for row in rows:
        row.contact_id = survivor.id
        gained[_identifier_field(row.kind)] = (None, row.value)
        lost[_identifier_field(row.kind)] = (row.value, None)
    session.flush()
    record_changes(session, actor, "contact", survivor.id, "merge", gained)
    record_changes(session, actor, "contact", merged.id, "merge", lost)
    return [row.id for row in rows]


def _keep_other_email(
    session: Session, actor: Actor, survivor: Contact, other: str | None
) -> dict[str, Any] | None:
    """The email the survivor did not keep stays findable as an ``email`` identifier."""
    if not other or other == survivor.email:
        return None
    taken = session.scalar(
        select(ContactIdentifier.id).where(
            ContactIdentifier.kind == "email", ContactIdentifier.value == other
        )
    )
    if taken is not None:
        return None
    identifier = ContactIdentifier(contact_id=survivor.id, kind="email", value=other)
    session.add(identifier)
    session.flush()
    record_changes(
        session, actor, "contact", survivor.id, "merge", {"identifiers.email": (None, other)}
    )
    return {"id": identifier.id, "value": other}


def _move_contacts(session: Session, actor: Actor, merged_id: int, survivor_id: int) -> list[int]:
    moving = session.scalars(_contacts_at(merged_id)).all()
    for contact in moving:
        apply_changes(session, actor, "contact", contact, {"account_id": survivor_id}, "merge")
    return [contact.id for contact in moving]


def _move_children(session: Session, actor: Actor, merged_id: int, survivor_id: int) -> list[int]:
    moving = session.scalars(_children_of(merged_id, survivor_id)).all()
    for child in moving:
        apply_changes(session, actor, "account", child, {"parent_id": survivor_id}, "merge")
    return [child.id for child in moving]


@dataclass
class MergePreview:
    """What a merge of ``merged`` into ``survivor`` would move, before it is confirmed."""

    identifiers: list[tuple[str, str]] = field(default_factory=list)  # (kind, value)
    contacts: list[Contact] = field(default_factory=list)  # deleted ones included
    children: list[Account] = field(default_factory=list)
    domains: list[str] = field(default_factory=list)  # become secondary domains
    tags: list[str] = field(default_factory=list)  # added to the survivor's
    technologies: list[str] = field(default_factory=list)
    closed_candidates: int = 0  # other open pairs of the merged record


def preview_merge(session: Session, entity: str, survivor: Any, merged: Any) -> MergePreview:
    """What :func:`merge_records` would move onto the survivor (the values of chosen fields
    aside): identifiers, contacts, child accounts, domains, and the tags it adds."""
    one, other = sorted((survivor.id, merged.id))
    candidates = DuplicateCandidate
    preview = MergePreview(
        tags=sorted(set(merged.tags or []) - set(survivor.tags or [])),
        closed_candidates=session.scalar(
            select(func.count())
            .select_from(candidates)
            .where(
                candidates.entity == entity,
                candidates.status == "open",
                or_(candidates.record_a == merged.id, candidates.record_b == merged.id),
                ~and_(candidates.record_a == one, candidates.record_b == other),
            )
        )
        or 0,
    )
    if entity == "contact":
        preview.identifiers = [
            (row.kind, row.value) for row in session.scalars(_identifiers_of(merged.id))
        ]
        return preview
    preview.contacts = list(session.scalars(_contacts_at(merged.id)))
    preview.children = list(session.scalars(_children_of(merged.id, survivor.id)))
    theirs = {merged.domain, *(merged.secondary_domains or [])}
    ours = {survivor.domain, *(survivor.secondary_domains or [])}
    preview.domains = sorted(d for d in theirs - ours if d)
    known = {t.lower() for t in survivor.technologies or []}
    preview.technologies = sorted(
        {t for t in merged.technologies or [] if t.lower() not in known}, key=str.lower
    )
    return preview


# ---------------------------------------------------------------- reading merges


def get_merge(session: Session, merge_id: int) -> Merge:
    merge = session.get(Merge, merge_id)
    if merge is None:
        raise NotFound(f"Merge {merge_id} not found")
    return merge


MERGE_SORT_KEYS = {"id": SortKey("id", Merge.id, "number")}


def list_merges(
    session: Session,
    *,
    entity: str | None = None,
    record_id: int | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """Merges, newest first; ``record_id`` keeps those where it survived or was merged."""
    stmt = select(Merge)
    if entity is not None:
        stmt = stmt.where(Merge.entity == check_entity(entity))
    if record_id is not None:
        stmt = stmt.where((Merge.survivor_id == record_id) | (Merge.merged_id == record_id))
    return keyset_page(
        session,
        stmt,
        Merge.id,
        MERGE_SORT_KEYS,
        sort=None,
        default_sort="-id",
        limit=limit,
        cursor=cursor,
    )


# ---------------------------------------------------------------- reverting


def revert_merge(session: Session, actor: Actor, merge_id: int) -> dict[str, Any]:
    """Take a merge back: the merged record returns, what moved moves back, and the
    survivor's fields get their values from before the merge — each unless it was changed
    since, which the returned report lists (``kept``, ``not_moved_back``)."""
    # Locked, so that two reverts of one merge cannot both go through.
    locking = session.get_bind().dialect.name == "postgresql"
    merge = session.get(Merge, merge_id, with_for_update=locking)
    if merge is None:
        raise NotFound(f"Merge {merge_id} not found")
    entity = merge.entity
    label = _label(entity)
    if merge.reverted_at is not None:
        raise Conflict(
            f"Merge {merge.id} was already reverted", {"merge": "has already been reverted"}
        )
    moved = dict(merge.moved or {})
    if moved.get("erased"):
        raise Conflict(
            f"Merge {merge.id} cannot be reverted: a record in it was erased",
            {"merge": "a record in it was erased"},
        )
    model = MODELS[entity]
    survivor, merged = (
        session.scalars(
            select(model).where(model.id == record_id).execution_options(include_deleted=True)
        ).first()
        for record_id in (merge.survivor_id, merge.merged_id)
    )
    if survivor is None or merged is None:
        raise Conflict(
            f"Merge {merge.id} cannot be reverted: a record in it no longer exists",
            {"merge": "a record in it no longer exists"},
        )
    if survivor.merged_into_id is not None:
        later = session.scalar(
            select(Merge.id).where(
                Merge.entity == entity,
                Merge.merged_id == survivor.id,
                Merge.reverted_at.is_(None),
            )
        )
        raise Conflict(
            f"{label} {survivor.id} was since merged into {entity} {survivor.merged_into_id}; "
            f"revert merge {later} first",
            {"merge": f"revert merge {later} first"},
        )
    if merged.merged_into_id != survivor.id:
        raise Conflict(
            f"{label} {merged.id} is no longer merged into {entity} {survivor.id}",
            {"merge": f"{entity} {merged.id} is no longer merged"},
        )

    report: dict[str, Any] = {"restored": [], "kept": {}, "moved_back": {}, "not_moved_back": {}}
    _restore_survivor(session, actor, merge, survivor, moved, report)
    if entity == "contact":
        _drop_email_identifier(session, actor, survivor, moved.get("email_identifier"))
        _move_identifiers_back(session, actor, survivor, merged, moved, report)
    else:
        pairs = ((Contact, "account_id", "contacts"), (Account, "parent_id", "accounts"))
        for model_, column, key in pairs:
            _move_back(session, actor, model_, column, survivor, merged, moved, key, report)
    session.execute(delete(RecordRedirect).where(RecordRedirect.merge_id == merge.id))

    merged.merged_into_id = None
    session.flush()
    record_changes(
        session, actor, entity, merged.id, "revert_merge", {"merged_into_id": (survivor.id, None)}
    )
    if entity == "contact":
        contacts.restore_contact(session, actor, merged)
    else:
        accounts.restore_account(session, actor, merged)
    restore_candidate_statuses(session, moved.get("candidates") or {})
    record_changes(
        session, actor, entity, survivor.id, "revert_merge", {"merged_record": (merged.id, None)}
    )
    merge.reverted_at = utcnow()
    merge.moved = {**moved, "revert": {**report, "actor_id": actor.user_id}}
    session.flush()
    return report


def _sorted_set(name: str, values: set[str]) -> list[str]:
    return sorted(values, key=str.lower) if name == "technologies" else sorted(values)


def _current(record: Any, name: str) -> Any:
    if name.startswith("custom_fields."):
        return audit_value(_custom_value(record, name.split(".", 1)[1]))
    return audit_value(getattr(record, name))


def _restore_survivor(
    session: Session,
    actor: Actor,
    merge: Merge,
    survivor: Any,
    moved: Mapping[str, Any],
    report: dict[str, Any],
) -> None:
    entity = merge.entity
    before = merge.survivor_before or {}
    after = moved.get("survivor_after") or {}
    provenance_before = moved.get("provenance_before") or {}
    derived = DERIVED[entity]
    values: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for name, old in before.items():
        if name in derived:
            continue  # follows its base field
        current = _current(survivor, name)
        if current != after.get(name):
            if name in SET_FIELDS and isinstance(current, list):
                # Take back what the merge added and put back what it dropped; keep the rest.
                added = set(after.get(name) or []) - set(old or [])
                dropped = set(old or []) - set(after.get(name) or [])
                result = _sorted_set(name, (set(current) - added) | dropped)
                if result != current:
                    values[name] = result
                report["kept"][name] = (
                    "changed since the merge; only what the merge added was taken back"
                )
            else:
                report["kept"][name] = "changed since the merge; the current value was kept"
            continue
        clash = _restore_clash(session, entity, survivor, name, old)
        if clash:
            report["kept"][name] = clash
            continue
        if name.startswith("custom_fields."):
            custom[name.split(".", 1)[1]] = old
        else:
            values[name] = old
        for derived_name, base in derived.items():
            if base == name and derived_name in before:
                values[derived_name] = before[derived_name]
    if custom:
        values["custom_fields"] = custom
    name_key = values.pop("name_key", None)
    changes = apply_changes(session, actor, entity, survivor, values, action="revert_merge")
    if name_key is not None:
        survivor.name_key = name_key
        changes["name_key"] = (None, name_key)
    provenance = dict(survivor.field_provenance or {})
    for name in changes:
        if provenance_before.get(name) is None:
            provenance.pop(name, None)
        else:
            provenance[name] = provenance_before[name]
    survivor.field_provenance = provenance
    report["restored"] = sorted(changes)


def _restore_clash(session: Session, entity: str, survivor: Any, name: str, value: Any) -> str:
    """Why ``value`` cannot go back on the survivor (another record took it), or ''."""
    if not value:
        return ""
    if entity == "contact" and name == "email":
        owner = session.scalar(
            select(Contact.id).where(Contact.email == value, Contact.id != survivor.id)
        )
        if owner is not None:
            return f"{value} now belongs to contact {owner}; the current value was kept"
    if entity == "account" and name == "domain":
        owner = accounts.find_account_by_domain(session, value)
        if owner is not None and owner.id != survivor.id:
            return f"{value} now belongs to account {owner.id}; the current value was kept"
    return ""


def _drop_email_identifier(
    session: Session, actor: Actor, survivor: Contact, kept: Mapping[str, Any] | None
) -> None:
    if not kept:
        return
    result = session.execute(
        delete(ContactIdentifier).where(
            ContactIdentifier.id == kept["id"], ContactIdentifier.contact_id == survivor.id
        )
    )
    if result.rowcount:
        record_changes(
            session,
            actor,
            "contact",
            survivor.id,
            "revert_merge",
            {"identifiers.email": (kept["value"], None)},
        )


def _move_identifiers_back(
    session: Session,
    actor: Actor,
    survivor: Contact,
    merged: Contact,
    moved: Mapping[str, Any],
    report: dict[str, Any],
) -> None:
    ids = moved.get("identifiers") or []
    if not ids:
        return
    rows = session.scalars(select(ContactIdentifier).where(ContactIdentifier.id.in_(ids))).all()
    back: dict[str, tuple[Any, Any]] = {}
    gone: dict[str, tuple[Any, Any]] = {}
    for row in rows:
        if row.contact_id != survivor.id:
            continue
        row.contact_id = merged.id
        back[_identifier_field(row.kind)] = (None, row.value)
        gone[_identifier_field(row.kind)] = (row.value, None)
    session.flush()
    missing = sorted(set(ids) - {row.id for row in rows if row.contact_id == merged.id})
    report["moved_back"]["identifiers"] = sorted(
        row.id for row in rows if row.contact_id == merged.id
    )
    if missing:
        report["not_moved_back"]["identifiers"] = missing
    if back:
        record_changes(session, actor, "contact", merged.id, "revert_merge", back)
        record_changes(session, actor, "contact", survivor.id, "revert_merge", gone)


def _move_back(
    session: Session,
    actor: Actor,
    model: type,
    column: str,
    survivor: Any,
    merged: Any,
    moved: Mapping[str, Any],
    key: str,
    report: dict[str, Any],
) -> None:
    ids = moved.get(key) or []
    if not ids:
        return
    records = session.scalars(
        select(model).where(model.id.in_(ids)).execution_options(include_deleted=True)
    ).all()
    back: list[int] = []
    for record in records:
        if getattr(record, column) == survivor.id:
            entity = "contact" if model is Contact else "account"
            apply_changes(session, actor, entity, record, {column: merged.id}, "revert_merge")
            back.append(record.id)
    report["moved_back"][key] = sorted(back)
    left = sorted(set(ids) - set(back))
    if left:
        report["not_moved_back"][key] = left


__all__ = [
    "CHOICES",
    "CHOSEN_FIELDS",
    "default_choice",
    "get_merge",
    "list_merges",
    "load_pair",
    "merge_candidate",
    "merge_records",
    "preview_merge",
    "resolve_choices",
    "revert_merge",
]
