"""Input schemas of the auth endpoints."""

from __future__ import annotations

import colander

from pivotal_core.api.validation import Text


class LoginInput(colander.MappingSchema):
    email = colander.SchemaNode(Text(), validator=colander.Length(max=254))
    password = colander.SchemaNode(Text(), validator=colander.Length(max=1000))


class RefreshInput(colander.MappingSchema):
    refresh_token = colander.SchemaNode(Text(), validator=colander.Length(max=4000))


class TokenOutput(colander.MappingSchema):
    access_token = colander.SchemaNode(Text())
    refresh_token = colander.SchemaNode(Text())
    token_type = colander.SchemaNode(Text())
    expires_in = colander.SchemaNode(colander.Int())


class PasswordChangeInput(colander.MappingSchema):
    current_password = colander.SchemaNode(Text(), validator=colander.Length(max=1000))
    new_password = colander.SchemaNode(Text(), validator=colander.Length(max=1000))
