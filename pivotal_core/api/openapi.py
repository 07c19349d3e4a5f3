"""The OpenAPI 3.1 document, generated from the endpoint registry and colander schemas."""

from __future__ import annotations

import re
from typing import Any

import colander
from pyramid.request import Request

from pivotal_core.api.endpoints import Endpoint, endpoints_of
from pivotal_core.api.validation import FileUpload, JSONObject, TextList

PATH_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")


def node_schema(node: colander.SchemaNode) -> dict[str, Any]:
    """JSON Schema of one colander node."""
    typ = node.typ
    schema: dict[str, Any]
    if isinstance(typ, colander.Mapping):
        properties = {child.name: node_schema(child) for child in node.children}
        required = [c.name for c in node.children if c.missing is colander.required]
        schema = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            schema["required"] = required
    elif isinstance(typ, TextList):
        schema = {
            "type": "array",
            "items": {"type": "string", "maxLength": typ.max_length},
            "maxItems": typ.max_items,
        }
    elif isinstance(typ, JSONObject):
        schema = {"type": "object", "maxProperties": typ.max_keys}
    elif isinstance(typ, FileUpload):
        schema = {"type": "string", "contentMediaType": "application/octet-stream"}
    elif isinstance(typ, colander.Sequence):
        schema = {"type": "array", "items": node_schema(node.children[0])}
    elif isinstance(typ, colander.List):
        schema = {"type": "array"}
    elif isinstance(typ, colander.Boolean):
        schema = {"type": "boolean"}
    elif isinstance(typ, colander.Int):
        schema = {"type": "integer"}
    elif isinstance(typ, colander.Float):
        schema = {"type": "number"}
    elif isinstance(typ, colander.DateTime):
        schema = {"type": "string", "format": "date-time"}
    else:
        schema = {"type": "string"}
    validators = getattr(node.validator, "validators", None) or [node.validator]
    for validator in validators:
        if isinstance(validator, colander.Length):
            if validator.min is not None:
                schema["minLength"] = validator.min
            if validator.max is not None:
                schema["maxLength"] = validator.max
        elif isinstance(validator, colander.OneOf):
            schema["enum"] = list(validator.choices)
        elif isinstance(validator, colander.Range):
            if validator.min is not None:
                schema["minimum"] = validator.min
            if validator.max is not None:
                schema["maximum"] = validator.max
    if node.missing is not colander.required and node.missing in (None, colander.drop):
        schema["type"] = [schema["type"], "null"]
    if node.description:
        schema["description"] = node.description
    return schema


def _component_name(node: colander.SchemaNode) -> str:
    return type(node).__name__ if type(node) is not colander.SchemaNode else ""


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        }
    },
}


def _operation(endpoint: Endpoint, components: dict[str, Any]) -> dict[str, Any]:
    def ref(node: colander.SchemaNode, partial: bool = False) -> dict[str, Any]:
        name = _component_name(node)
        schema = node_schema(node)
        if partial:
            schema.pop("required", None)
            name = f"{name}Patch" if name else ""
        if not name:
            return schema
        if name in components and components[name] != schema:
            # Two schemas share a class name (say, in two plugins): qualify the newcomer.
            name = f"{type(node).__module__.replace('.', '_')}_{name}"
        components.setdefault(name, schema)
        return {"$ref": f"#/components/schemas/{name}"}

    op: dict[str, Any] = {
        "operationId": f"{endpoint.route_name}.{endpoint.method.lower()}",
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
    }
    if endpoint.permission:
        op["description"] = f"Requires the `{endpoint.permission}` permission."
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "integer"}}
        for name in PATH_PARAM.findall(endpoint.pattern)
    ]
    if endpoint.query is not None:
        for child in endpoint.query.children:
            param = {
                "name": child.name,
                "in": "query",
                "required": False,
                "schema": node_schema(child),
            }
            if child.description:
                param["description"] = child.description
            params.append(param)
    if params:
        op["parameters"] = params
    if endpoint.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": ref(endpoint.body, endpoint.method == "PATCH")}
            },
        }
    if endpoint.form is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"multipart/form-data": {"schema": ref(endpoint.form)}},
        }
    success: dict[str, Any] = {"description": "Success"}
    if endpoint.response is not None:
        schema = ref(endpoint.response)
        if endpoint.query is not None and endpoint.method == "GET" and "{" not in endpoint.pattern:
            schema = {"type": "object", "properties": {"items": {"type": "array", "items": schema}}}
        success["content"] = {"application/json": {"schema": schema}}
    for media_type in endpoint.produces:
        # A text download is a string; anything else the view streams is left open.
        schema = {"type": "string"} if media_type.startswith("text/") else {}
        success.setdefault("content", {})[media_type] = {"schema": schema}
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    responses = {str(endpoint.status): success}
    if endpoint.body is not None or endpoint.form is not None or endpoint.query is not None:
        responses["400"] = {"description": "Invalid input; fields name the problems", **error}
    if endpoint.max_body is not None:
        responses["413"] = {"description": "The request body is too large", **error}
    if endpoint.public:
        op["security"] = []
        responses["401"] = {"description": "Credentials refused", **error}
    else:
        responses["401"] = {"description": "Missing, expired or revoked token", **error}
        responses["403"] = {"description": "The role lacks the permission", **error}
    if params and any(p["in"] == "path" for p in params):
        responses["404"] = {"description": "No such record", **error}
    if endpoint.method in ("POST", "PATCH"):
        responses["409"] = {"description": "Conflicts with an existing record", **error}
    op["responses"] = responses
    return op


def build_openapi(registry: Any, version: str) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in sorted(endpoints_of(registry), key=lambda e: (e.pattern, e.method)):
        path = PATH_PARAM.sub(r"{\1}", endpoint.pattern)
        paths.setdefault(path, {})[endpoint.method.lower()] = _operation(endpoint, components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Pivotal CRM API",
            "version": version,
            "description": "Accounts, contacts, users, audit history and jobs of Pivotal CRM.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
        "security": [{"bearerAuth": []}],
    }


def openapi_view(request: Request) -> dict[str, Any]:
    cached = request.registry.get("pivotal.openapi")
    if cached is None:
        cached = build_openapi(
            request.registry, request.registry.settings.get("pivotal.version", "0")
        )
        request.registry["pivotal.openapi"] = cached
    return cached
