"""Custom field definitions: typed fields stored in each record's ``custom_fields``."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pivotal_core.audit.services import Actor, record_changes
from pivotal_core.customfields.models import ENTITIES, FIELD_TYPES, CustomFieldDefinition
from pivotal_core.errors import Conflict, NotFound, ValidationFailed

KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,59}$")
AUDITED = ("entity", "key", "label", "type", "options", "description")


def list_definitions(session: Session, entity: str | None = None) -> list[CustomFieldDefinition]:
    stmt = select(CustomFieldDefinition).order_by(
        CustomFieldDefinition.entity, CustomFieldDefinition.key
    )
    if entity:
        stmt = stmt.where(CustomFieldDefinition.entity == entity)
    return list(session.scalars(stmt))


def get_definition(session: Session, definition_id: int) -> CustomFieldDefinition:
    definition = session.get(CustomFieldDefinition, definition_id)
    if definition is None:
        raise NotFound(f"Custom field {definition_id} not found")
    return definition


def _check(values: dict[str, Any]) -> None:
    errors = {}
    if "entity" in values and values["entity"] not in ENTITIES:
        errors["entity"] = f"must be one of {', '.join(ENTITIES)}"
    if "key" in values and not KEY_PATTERN.match(values["key"] or ""):
        errors["key"] = "must start with a letter and hold only a-z, 0-9 and _ (max 60)"
    if "type" in values and values["type"] not in FIELD_TYPES:
        errors["type"] = f"must be one of {', '.join(FIELD_TYPES)}"
    if values.get("type") == "enum" and not values.get("options"):
        errors["options"] = "an enum field needs at least one option"
    if errors:
        raise ValidationFailed(errors)


def create_definition(
    session: Session, actor: Actor, values: dict[str, Any]
) -> CustomFieldDefinition:
    _check(values)
    clash = session.scalar(
        select(CustomFieldDefinition.id).where(
            CustomFieldDefinition.entity == values["entity"],
            CustomFieldDefinition.key == values["key"],
        )
    )
    if clash is not None:
        raise Conflict(
            f"Custom field {values['entity']}.{values['key']} already exists (id {clash})",
            {"key": f"already defined (custom field {clash})"},
        )
    definition = CustomFieldDefinition(
        entity=values["entity"],
        key=values["key"],
        label=values["label"],
        type=values["type"],
        options=values.get("options") or [],
        description=values.get("description"),
    )
    session.add(definition)
    session.flush()
    record_changes(
        session,
        actor,
        "custom_field",
        definition.id,
        "create",
        {name: (None, getattr(definition, name)) for name in AUDITED},
    )
    return definition


def update_definition(
    session: Session, actor: Actor, definition: CustomFieldDefinition, values: dict[str, Any]
) -> CustomFieldDefinition:
    """Label, options and description may change; entity, key and type are fixed once data
    may exist under them."""
    fixed = {
        k for k in ("entity", "key", "type") if k in values and values[k] != getattr(definition, k)
    }
    if fixed:
        raise ValidationFailed({k: "cannot change once the field exists" for k in fixed})
    if definition.type == "enum" and "options" in values and not values["options"]:
        raise ValidationFailed({"options": "an enum field needs at least one option"})
    changes = {}
    for name in ("label", "options", "description"):
        if name in values and values[name] != getattr(definition, name):
            changes[name] = (getattr(definition, name), values[name])
            setattr(definition, name, values[name])
    if changes:
        session.flush()
        record_changes(session, actor, "custom_field", definition.id, "update", changes)
    return definition
