"""Input schemas and JSON shapes of filter fields, saved filters, segments and lists.

The audience API speaks camelCase (``entityType``, ``recordIds``); services take the
model's snake_case names, and :func:`from_api` translates.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import colander

from pivotal_core.api.validation import Boolean, Integer, JSONObject, Text, TextList
from pivotal_core.audience.filters import MAX_DEPTH, MAX_NODES
from pivotal_core.audience.models import (
    ENTITY_TYPES,
    LIST_SOURCE_TYPES,
    VISIBILITY_SCOPES,
    AudienceList,
    SavedFilter,
    Segment,
)
from pivotal_core.audience.services import MAX_RECORD_IDS, MAX_SAMPLE


class IdList(colander.Sequence):
    """A JSON array of record ids; anything else is refused rather than coerced."""

    def _validate(self, node: colander.SchemaNode, value: Any, accept_scalar: bool) -> list:
        if not isinstance(value, list):
            raise colander.Invalid(node, "must be a list of ids")
        if len(value) > MAX_RECORD_IDS:
            raise colander.Invalid(node, f"must have at most {MAX_RECORD_IDS} ids")
        return value


def _ids(name: str, **kw: Any) -> colander.SchemaNode:
    return colander.SchemaNode(
        IdList(),
        colander.SchemaNode(Integer(), name="id", validator=colander.Range(min=1)),
        name=name,
        **kw,
    )


def _definition(name: str = "definition", **kw: Any) -> colander.SchemaNode:
    return colander.SchemaNode(
        JSONObject(max_keys=10),
        name=name,
        description=f'a filter: {{"op": "and"|"or"|"not", "rules": [...]}}, at most '
        f"{MAX_NODES} rules and groups, {MAX_DEPTH} levels deep (see docs/audience.md)",
        **kw,
    )


def name_node(**kw: Any) -> colander.SchemaNode:
    return colander.SchemaNode(Text(), name="name", validator=colander.Length(1, 200), **kw)


def description_node() -> colander.SchemaNode:
    return colander.SchemaNode(
        Text(), name="description", missing=None, validator=colander.Length(max=2000)
    )


def _entity_type(**kw: Any) -> colander.SchemaNode:
    return colander.SchemaNode(
        Text(), name="entityType", validator=colander.OneOf(ENTITY_TYPES), **kw
    )


def visibility_node(**kw: Any) -> colander.SchemaNode:
    return colander.SchemaNode(
        Text(),
        name="visibilityScope",
        missing="private",
        validator=colander.OneOf(VISIBILITY_SCOPES),
        **kw,
    )


def tags_node() -> colander.SchemaNode:
    return colander.SchemaNode(TextList(max_items=50), name="tags", missing=None)


def _timestamps(schema: colander.SchemaNode) -> colander.SchemaNode:
    schema.add(colander.SchemaNode(Integer(), name="id"))
    schema.add(colander.SchemaNode(Integer(), name="ownerId", missing=None))
    schema.add(colander.SchemaNode(colander.DateTime(), name="createdAt"))
    schema.add(colander.SchemaNode(colander.DateTime(), name="updatedAt"))
    return schema


# ---------------------------------------------------------------------------
# Filter fields and preview
# ---------------------------------------------------------------------------


class FilterFieldsQuery(colander.MappingSchema):
    entity = colander.SchemaNode(
        colander.String(), missing="contact", validator=colander.OneOf(ENTITY_TYPES)
    )


class PreviewInput(colander.MappingSchema):
    entityType = _entity_type()  # noqa: N815 - the API's camelCase
    definition = _definition()
    sampleSize = colander.SchemaNode(  # noqa: N815
        Integer(), missing=20, validator=colander.Range(0, MAX_SAMPLE)
    )


class PreviewOutput(colander.MappingSchema):
    entityType = colander.SchemaNode(Text())  # noqa: N815
    count = colander.SchemaNode(Integer())
    sampleIds = colander.SchemaNode(colander.Sequence(), colander.SchemaNode(Integer()))  # noqa: N815


# ---------------------------------------------------------------------------
# Saved filters, segments, lists
# ---------------------------------------------------------------------------


class SharedOutput(colander.MappingSchema):
    """What every saved filter, segment and list shows besides its input."""

    id = colander.SchemaNode(Integer())
    ownerId = colander.SchemaNode(Integer(), missing=None)  # noqa: N815 - the API's camelCase
    createdAt = colander.SchemaNode(colander.DateTime())  # noqa: N815
    updatedAt = colander.SchemaNode(colander.DateTime())  # noqa: N815
    deletedAt = colander.SchemaNode(colander.DateTime(), missing=None)  # noqa: N815


class SavedFilterInput(colander.MappingSchema):
    name = name_node()
    description = description_node()
    entityType = _entity_type()  # noqa: N815
    definition = _definition()
    visibilityScope = visibility_node()  # noqa: N815


class SavedFilterOutput(SavedFilterInput, SharedOutput):
    pass


class SegmentInput(SavedFilterInput):
    isActive = colander.SchemaNode(Boolean(), missing=True)  # noqa: N815
    tags = tags_node()


class SegmentOutput(SegmentInput, SharedOutput):
    recordCountCache = colander.SchemaNode(Integer(), missing=None)  # noqa: N815
    lastRefreshedAt = colander.SchemaNode(colander.DateTime(), missing=None)  # noqa: N815
    refreshError = colander.SchemaNode(Text(), missing=None)  # noqa: N815


class ConvertInput(colander.MappingSchema):
    name = name_node(missing=None)
    description = description_node()
    tags = tags_node()
    visibilityScope = visibility_node()  # noqa: N815


class ListUpdate(colander.MappingSchema):
    name = name_node()
    description = description_node()
    tags = tags_node()
    visibilityScope = visibility_node()  # noqa: N815 - the API's camelCase


class ListInput(ListUpdate):
    entityType = _entity_type()  # noqa: N815
    sourceType = colander.SchemaNode(  # noqa: N815
        Text(),
        missing=None,
        validator=colander.OneOf(("selection", "manual_upload", "filter")),
        description="selection or manual_upload with recordIds; filter with filter",
    )
    recordIds = _ids("recordIds", missing=None)  # noqa: N815
    filter = _definition("filter", missing=None)


class ListOutput(ListUpdate, SharedOutput):
    entityType = _entity_type()  # noqa: N815
    sourceType = colander.SchemaNode(Text(), validator=colander.OneOf(LIST_SOURCE_TYPES))  # noqa: N815
    sourceRef = colander.SchemaNode(JSONObject(), missing=None)  # noqa: N815
    snapshotTs = colander.SchemaNode(colander.DateTime(), missing=None)  # noqa: N815
    memberCount = colander.SchemaNode(Integer())  # noqa: N815


class MembersInput(colander.MappingSchema):
    recordIds = _ids("recordIds", missing=None)  # noqa: N815
    filter = _definition("filter", missing=None)


class MembersOutput(colander.MappingSchema):
    added = colander.SchemaNode(Integer(), missing=colander.drop)
    removed = colander.SchemaNode(Integer(), missing=colander.drop)
    memberCount = colander.SchemaNode(Integer())  # noqa: N815


class MemberPage(colander.MappingSchema):
    recordIds = colander.SchemaNode(IdList(), colander.SchemaNode(Integer()))  # noqa: N815
    next_cursor = colander.SchemaNode(Text(), missing=None)


# ---------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------


def from_api(values: Mapping[str, Any]) -> dict[str, Any]:
    """``{"entityType": ...}`` -> ``{"entity_type": ...}`` for the services."""
    names = {
        "entityType": "entity_type",
        "visibilityScope": "visibility_scope",
        "isActive": "is_active",
        "sourceType": "source_type",
    }
    return {names.get(key, key): value for key, value in values.items()}


def _when(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def shared_json(item: SavedFilter | Segment | AudienceList) -> dict[str, Any]:
    return {
        "id": item.id,
        "name": item.name,
        "description": item.description,
        "entityType": item.entity_type,
        "visibilityScope": item.visibility_scope,
        "ownerId": item.owner_id,
        "createdAt": _when(item.created_at),
        "updatedAt": _when(item.updated_at),
        "deletedAt": _when(item.deleted_at),
    }


def saved_filter_json(item: SavedFilter) -> dict[str, Any]:
    return {**shared_json(item), "definition": item.definition}


def segment_json(segment: Segment) -> dict[str, Any]:
    return {
        **shared_json(segment),
        "definition": segment.definition,
        "isActive": segment.is_active,
        "tags": segment.tags or [],
        "recordCountCache": segment.record_count_cache,
        "lastRefreshedAt": _when(segment.last_refreshed_at),
        "refreshError": segment.refresh_error,
    }


def list_json(audience_list: AudienceList) -> dict[str, Any]:
    return {
        **shared_json(audience_list),
        "sourceType": audience_list.source_type,
        "sourceRef": audience_list.source_ref,
        "snapshotTs": _when(audience_list.snapshot_ts),
        "tags": audience_list.tags or [],
        "memberCount": audience_list.member_count,
    }
