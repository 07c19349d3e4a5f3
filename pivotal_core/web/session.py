"""The staff UI's sign-in: an access token in an HttpOnly, SameSite cookie, renewed while
the user is active; CSRF tokens in a double-submit cookie checked on every unsafe request."""

from __future__ import annotations

import time

from pyramid.request import Request
from pyramid.response import Response

from pivotal_core.authnz.policy import ACCESS_COOKIE
from pivotal_core.authnz.tokens import TokenConfig, issue_access_token


def web_token_config(request: Request) -> TokenConfig:
    base: TokenConfig = request.registry["pivotal.token_config"]
    ttl = int(request.registry.settings["web.session_ttl"])
    return TokenConfig(base.secret, base.issuer, base.audience, ttl, base.refresh_ttl)


def set_session_cookie(request: Request, response: Response, user) -> None:
    cfg = web_token_config(request)
    token = issue_access_token(cfg, user.id, user.token_version)
    response.set_cookie(
        ACCESS_COOKIE,
        token,
        max_age=cfg.access_ttl,
        httponly=True,
        samesite="Lax",
        secure=request.scheme == "https",
        path="/",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(ACCESS_COOKIE, path="/")


def renew_if_half_spent(request: Request, response: Response) -> None:
    """Sliding sessions: an active user's cookie is renewed once half its life is gone."""
    # Only when the request already identified its user: the transaction is over by now.
    identity = request.__dict__.get("identity")
    if identity is None or request.cookies.get(ACCESS_COOKIE) is None:
        return
    claims = identity.token_claims
    if claims.get("exp", 0) - time.time() < int(request.registry.settings["web.session_ttl"]) / 2:
        set_session_cookie(request, response, identity.user)
