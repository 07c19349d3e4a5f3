"""User input schemas and the JSON shape of a user (never the password hash)."""

from __future__ import annotations

from typing import Any

import colander

from pivotal_core.api.validation import Boolean, Integer, Text
from pivotal_core.authnz.permissions import Role
from pivotal_core.users.models import User

ROLES = [r.value for r in Role]


class UserCreateInput(colander.MappingSchema):
    email = colander.SchemaNode(Text(), validator=colander.Length(max=254))
    full_name = colander.SchemaNode(Text(), missing="", validator=colander.Length(max=200))
    role = colander.SchemaNode(Text(), validator=colander.OneOf(ROLES))
    organisation_id = colander.SchemaNode(Integer(), missing=None)
    password = colander.SchemaNode(Text(), validator=colander.Length(max=1000))


class UserUpdateInput(colander.MappingSchema):
    email = colander.SchemaNode(Text(), validator=colander.Length(max=254))
    full_name = colander.SchemaNode(Text(), missing="", validator=colander.Length(max=200))
    role = colander.SchemaNode(Text(), validator=colander.OneOf(ROLES))
    organisation_id = colander.SchemaNode(Integer(), missing=None)
    is_active = colander.SchemaNode(Boolean())


class UserPasswordInput(colander.MappingSchema):
    new_password = colander.SchemaNode(Text(), validator=colander.Length(max=1000))


class UserOutput(colander.MappingSchema):
    id = colander.SchemaNode(Integer())
    email = colander.SchemaNode(Text())
    full_name = colander.SchemaNode(Text())
    role = colander.SchemaNode(Text(), validator=colander.OneOf(ROLES))
    organisation_id = colander.SchemaNode(Integer(), missing=None)
    is_active = colander.SchemaNode(Boolean())
    last_login_at = colander.SchemaNode(colander.DateTime(), missing=None)
    created_at = colander.SchemaNode(colander.DateTime())


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "full_name": user.full_name,
        "role": user.role,
        "organisation_id": user.organisation_id,
        "is_active": user.is_active,
        "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
        "created_at": user.created_at.isoformat() if user.created_at else None,
    }
