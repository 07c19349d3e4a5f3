"""The Pyramid security policy: a bearer JWT identifies the user; roles grant permissions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyramid.request import Request, RequestLocalCache
from pyramid.security import Allowed, Denied

from pivotal_core.authnz.tokens import InvalidToken, TokenConfig, decode_token
from pivotal_core.users.models import User

# Views without an explicit permission get this one, which no role holds.
UNDECLARED_PERMISSION = "pivotal:undeclared"
ACCESS_COOKIE = "pivotal_access"


@dataclass(frozen=True)
class Identity:
    user: User
    permissions: frozenset[str]
    token_claims: dict[str, Any]

    @property
    def user_id(self) -> int:
        return self.user.id


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def session_token(request: Request) -> str | None:
    """The staff UI's token, from its HttpOnly cookie. Never accepted by the JSON API, whose
    state-changing views are exempt from CSRF checks because they take bearer tokens only."""
    if request.path_info.startswith("/api/"):
        return None
    return request.cookies.get(ACCESS_COOKIE) or None


class PivotalSecurityPolicy:
    def __init__(self) -> None:
        # Pyramid asks for the identity many times per request; look the user up once.
        self._identities = RequestLocalCache(self._load_identity)

    def identity(self, request: Request) -> Identity | None:
        return self._identities.get_or_create(request)

    def _load_identity(self, request: Request) -> Identity | None:
        token = bearer_token(request) or session_token(request)
        if token is None:
            return None
        cfg: TokenConfig = request.registry["pivotal.token_config"]
        try:
            claims = decode_token(cfg, token, "access")
        except InvalidToken as exc:
            request.environ["pivotal.auth_error"] = str(exc)
            return None
        user = request.dbsession.get(User, claims["sub"])
        if user is None or not user.is_active or user.token_version != claims.get("ver"):
            request.environ["pivotal.auth_error"] = "token has been revoked"
            return None
        roles = request.registry["pivotal.role_permissions"]
        return Identity(
            user=user, permissions=roles.get(user.role, frozenset()), token_claims=claims
        )

    def authenticated_userid(self, request: Request) -> int | None:
        identity = request.identity
        return identity.user_id if identity is not None else None

    def permits(self, request: Request, context: Any, permission: str) -> Allowed | Denied:
        identity = request.identity
        if identity is None:
            return Denied("not authenticated")
        if permission in identity.permissions:
            return Allowed(f"role {identity.user.role} has {permission}")
        return Denied(f"role {identity.user.role} lacks {permission}")

    def remember(self, request: Request, userid: Any, **kw: Any) -> list:
        return []

    def forget(self, request: Request, **kw: Any) -> list:
        return []
