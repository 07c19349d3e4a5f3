"""Custom field definitions: /api/v1/custom-fields."""

from __future__ import annotations

from typing import Any

import colander
from pyramid.request import Request

from pivotal_core.api.endpoints import add_endpoint
from pivotal_core.api.records import request_actor
from pivotal_core.api.validation import Integer, Text, TextList
from pivotal_core.authnz.permissions import Permission
from pivotal_core.customfields import services
from pivotal_core.customfields.models import ENTITIES, FIELD_TYPES, CustomFieldDefinition


class DefinitionInput(colander.MappingSchema):
    entity = colander.SchemaNode(Text(), validator=colander.OneOf(ENTITIES))
    key = colander.SchemaNode(Text(), validator=colander.Length(max=60))
    label = colander.SchemaNode(Text(), validator=colander.Length(min=1, max=120))
    type = colander.SchemaNode(Text(), validator=colander.OneOf(FIELD_TYPES))
    options = colander.SchemaNode(TextList(max_items=200), missing=None)
    description = colander.SchemaNode(Text(), missing=None, validator=colander.Length(max=2000))


class DefinitionOutput(DefinitionInput):
    id = colander.SchemaNode(Integer())


class DefinitionQuery(colander.MappingSchema):
    entity = colander.SchemaNode(
        colander.String(), missing=None, validator=colander.OneOf(ENTITIES)
    )


def definition_json(d: CustomFieldDefinition) -> dict[str, Any]:
    return {
        "id": d.id,
        "entity": d.entity,
        "key": d.key,
        "label": d.label,
        "type": d.type,
        "options": d.options or [],
        "description": d.description,
    }


def list_view(request: Request):
    items = services.list_definitions(request.dbsession, request.validated_query["entity"])
    return {"items": [definition_json(d) for d in items]}


def create_view(request: Request):
    return definition_json(
        services.create_definition(request.dbsession, request_actor(request), request.validated)
    )


def get_view(request: Request):
    return definition_json(services.get_definition(request.dbsession, int(request.matchdict["id"])))


def update_view(request: Request):
    definition = services.get_definition(request.dbsession, int(request.matchdict["id"]))
    services.update_definition(
        request.dbsession, request_actor(request), definition, request.validated
    )
    return definition_json(definition)


def includeme(config):
    item = "/custom-fields/{id:\\d+}"
    add_endpoint(
        config,
        "api.custom_fields",
        "/custom-fields",
        "GET",
        list_view,
        permission=Permission.CUSTOM_FIELDS_READ,
        tag="custom fields",
        summary="List custom field definitions",
        query=DefinitionQuery(),
        response=DefinitionOutput(),
    )
    add_endpoint(
        config,
        "api.custom_fields",
        "/custom-fields",
        "POST",
        create_view,
        permission=Permission.CUSTOM_FIELDS_WRITE,
        tag="custom fields",
        summary="Define a custom field",
        body=DefinitionInput(),
        response=DefinitionOutput(),
        status=201,
    )
    add_endpoint(
        config,
        "api.custom_fields.item",
        item,
        "GET",
        get_view,
        permission=Permission.CUSTOM_FIELDS_READ,
        tag="custom fields",
        summary="Read a custom field definition",
        response=DefinitionOutput(),
    )
    add_endpoint(
        config,
        "api.custom_fields.item",
        item,
        "PATCH",
        update_view,
        permission=Permission.CUSTOM_FIELDS_WRITE,
        tag="custom fields",
        summary="Change a custom field's label, options or description",
        body=DefinitionInput(),
        response=DefinitionOutput(),
    )
