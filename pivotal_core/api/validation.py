"""Strict JSON input validation with colander, producing ``{path: message}`` field errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import colander

from pivotal_core.errors import ValidationFailed


class Text(colander.String):
    """A JSON string; other JSON types are refused rather than coerced. ``""`` means no value."""

    def deserialize(self, node: colander.SchemaNode, cstruct: Any) -> Any:
        if cstruct is colander.null or cstruct is None or cstruct == "":
            return colander.null
        if not isinstance(cstruct, str):
            raise colander.Invalid(node, "must be a string")
        return cstruct


class Integer(colander.Int):
    def deserialize(self, node: colander.SchemaNode, cstruct: Any) -> Any:
        if cstruct is colander.null or cstruct is None:
            return colander.null
        if isinstance(cstruct, bool) or not isinstance(cstruct, int):
            raise colander.Invalid(node, "must be a whole number")
        return cstruct


class Boolean(colander.Boolean):
    def deserialize(self, node: colander.SchemaNode, cstruct: Any) -> Any:
        if cstruct is colander.null or cstruct is None:
            return colander.null
        if not isinstance(cstruct, bool):
            raise colander.Invalid(node, "must be true or false")
        return cstruct


class TextList(colander.SchemaType):
    """A JSON array of strings."""

    def __init__(self, max_items: int = 200, max_length: int = 100) -> None:
        self.max_items = max_items
        self.max_length = max_length

    def serialize(self, node: colander.SchemaNode, appstruct: Any) -> Any:
        return appstruct

    def deserialize(self, node: colander.SchemaNode, cstruct: Any) -> Any:
        if cstruct is colander.null or cstruct is None:
            return colander.null
        if not isinstance(cstruct, list):
            raise colander.Invalid(node, "must be a list of strings")
        if len(cstruct) > self.max_items:
            raise colander.Invalid(node, f"must have at most {self.max_items} items")
        for item in cstruct:
            if not isinstance(item, str):
                raise colander.Invalid(node, "must be a list of strings")
            if len(item) > self.max_length:
                raise colander.Invalid(node, f"items must be at most {self.max_length} characters")
        return list(cstruct)


class JSONObject(colander.SchemaType):
    """A JSON object of scalar values (custom fields); checked against definitions later."""

    def __init__(self, max_keys: int = 200) -> None:
        self.max_keys = max_keys

    def serialize(self, node: colander.SchemaNode, appstruct: Any) -> Any:
        return appstruct

    def deserialize(self, node: colander.SchemaNode, cstruct: Any) -> Any:
        if cstruct is colander.null or cstruct is None:
            return colander.null
        if not isinstance(cstruct, dict):
            raise colander.Invalid(node, "must be an object")
        if len(cstruct) > self.max_keys:
            raise colander.Invalid(node, f"must have at most {self.max_keys} keys")
        return dict(cstruct)


class FileUpload(colander.SchemaType):
    """A file part of a ``multipart/form-data`` body: an object with ``filename`` and
    ``file`` (WebOb's field storage). A part without a file name is no file."""

    def serialize(self, node: colander.SchemaNode, appstruct: Any) -> Any:
        return appstruct

    def deserialize(self, node: colander.SchemaNode, cstruct: Any) -> Any:
        if cstruct is colander.null or cstruct is None or cstruct == "":
            return colander.null
        if not (hasattr(cstruct, "file") and hasattr(cstruct, "filename")):
            raise colander.Invalid(node, "must be a file, not a text field")
        if not cstruct.filename:
            return colander.null  # an empty file input of a browser form
        return cstruct


def _flatten(error: colander.Invalid) -> dict[str, str]:
    fields: dict[str, str] = {}
    for path, message in error.asdict(separator="; ").items():
        fields[path or "body"] = message
    return fields


def _partial(schema: colander.SchemaNode) -> colander.SchemaNode:
    clone = schema.clone()
    for child in clone.children:
        child.missing = colander.drop
    return clone


def deserialize(schema: colander.SchemaNode, data: Any, *, partial: bool = False) -> dict[str, Any]:
    """Validate ``data`` (parsed JSON) against a Mapping schema.

    Unknown keys, wrong JSON types and failed validators become one
    :class:`ValidationFailed` naming every bad field. With ``partial``
    (PATCH), absent fields are left out and an explicit ``null`` clears a field
    that may be empty.
    """
    if not isinstance(data, Mapping):
        raise ValidationFailed({"body": "must be a JSON object"})
    known = {child.name: child for child in schema.children}
    errors: dict[str, str] = {}
    for key in data:
        if key not in known:
            errors[str(key)] = "is not a known field"
    nulls = [key for key, value in data.items() if key in known and value is None]
    present = {key: value for key, value in data.items() if key in known and value is not None}
    for key in nulls:
        if known[key].missing is colander.required:
            errors[key] = "may not be empty"
    node = _partial(schema) if partial else schema
    try:
        result = node.deserialize(present)
    except colander.Invalid as exc:
        errors.update(_flatten(exc))
        result = {}
    if errors:
        raise ValidationFailed(errors)
    for key in nulls:
        if partial or key not in result:
            result[key] = None
    return result


def deserialize_form(schema: colander.SchemaNode, request: Any) -> dict[str, Any]:
    """Validate the fields of a ``multipart/form-data`` body (files as :class:`FileUpload`).

    A body of another type, unknown fields, fields given twice and failed validators
    become one :class:`ValidationFailed` naming every bad field.
    """
    if request.content_type != "multipart/form-data":
        raise ValidationFailed(
            {"body": "must be multipart/form-data"}, "Send the form as multipart/form-data"
        )
    known = {child.name for child in schema.children}
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for key, value in request.POST.items():
        if key not in known:
            errors[str(key)] = "is not a known field"
        elif key in values:
            errors[key] = "is given more than once"
        else:
            values[key] = value
    return _checked(schema, {k: v for k, v in values.items() if v != ""}, errors)


def parse_query(schema: colander.SchemaNode, params: Mapping[str, str]) -> dict[str, Any]:
    """Validate query parameters: they arrive as strings, so coercing types is right here."""
    known = {child.name for child in schema.children}
    errors = {key: "is not a known parameter" for key in params if key not in known}
    return _checked(schema, {k: v for k, v in params.items() if k in known}, errors)


def _checked(schema: colander.SchemaNode, values: Any, errors: dict[str, str]) -> dict[str, Any]:
    """``values`` deserialized; their problems and ``errors`` found before are raised together."""
    try:
        result = schema.deserialize(values)
    except colander.Invalid as exc:
        errors.update(_flatten(exc))
        result = {}
    if errors:
        raise ValidationFailed(errors)
    return result
