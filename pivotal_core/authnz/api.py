"""Auth endpoints: login, refresh, logout, the current user, password change."""

from __future__ import annotations

from pyramid.request import Request

from pivotal_core.api.endpoints import add_endpoint
from pivotal_core.api.errors import error_response
from pivotal_core.api.records import request_actor
from pivotal_core.authnz import services
from pivotal_core.authnz.permissions import Permission
from pivotal_core.authnz.schemas import LoginInput, PasswordChangeInput, RefreshInput, TokenOutput
from pivotal_core.errors import PivotalError
from pivotal_core.users.schemas import UserOutput, user_json
from pivotal_core.users.services import change_password


def client_address(request: Request) -> str | None:
    """The client's address: the socket peer, or the entry that the trusted proxies in front
    of the app appended to X-Forwarded-For (a client can forge the rest of that header)."""
    trusted = int(request.registry.settings["web.trusted_proxies"])
    if trusted > 0:
        hops = [
            h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()
        ]
        if len(hops) >= trusted:
            return hops[-trusted]
    return request.remote_addr


def login_view(request: Request):
    data = request.validated
    try:
        pair = services.login(
            request.dbsession,
            request.registry["pivotal.token_config"],
            services.Throttle.from_settings(request.registry.settings),
            data["email"],
            data["password"],
            client_address(request),
            bcrypt_rounds=request.registry.settings["auth.bcrypt_rounds"],
        )
    except PivotalError as exc:
        # Returned, not raised: the failed attempt must be committed for throttling.
        return error_response(request, exc)
    return pair.as_dict()


def refresh_view(request: Request):
    try:
        pair = services.refresh(
            request.dbsession,
            request.registry["pivotal.token_config"],
            request.validated["refresh_token"],
        )
    except PivotalError as exc:
        # Returned, not raised: revoking a reused token's family must be committed.
        return error_response(request, exc)
    return pair.as_dict()


def logout_view(request: Request):
    services.logout(request.dbsession, request.identity.user)
    return {"status": "signed out", "revoked": "all sessions of this user"}


def me_view(request: Request):
    identity = request.identity
    return {**user_json(identity.user), "permissions": sorted(identity.permissions)}


def password_view(request: Request):
    change_password(
        request.dbsession,
        request_actor(request),
        request.identity.user,
        request.validated["new_password"],
        current_password=request.validated["current_password"],
        bcrypt_rounds=request.registry.settings["auth.bcrypt_rounds"],
    )
    return {"status": "password changed; sign in again"}


def includeme(config):
    add_endpoint(
        config,
        "api.auth.login",
        "/auth/login",
        "POST",
        login_view,
        permission=None,
        public=True,
        summary="Sign in with email and password",
        tag="auth",
        body=LoginInput(),
        response=TokenOutput(),
    )
    add_endpoint(
        config,
        "api.auth.refresh",
        "/auth/refresh",
        "POST",
        refresh_view,
        permission=None,
        public=True,
        tag="auth",
        body=RefreshInput(),
        response=TokenOutput(),
        summary="Exchange a refresh token for a new pair (the old one is spent)",
    )
    add_endpoint(
        config,
        "api.auth.logout",
        "/auth/logout",
        "POST",
        logout_view,
        permission=Permission.ME,
        tag="auth",
        summary="Sign out: revoke every token of the current user",
    )
    add_endpoint(
        config,
        "api.me",
        "/me",
        "GET",
        me_view,
        permission=Permission.ME,
        tag="auth",
        summary="The current user and their permissions",
        response=UserOutput(),
    )
    add_endpoint(
        config,
        "api.me.password",
        "/me/password",
        "POST",
        password_view,
        permission=Permission.ME,
        tag="auth",
        body=PasswordChangeInput(),
        summary="Change the current user's password (revokes every token)",
    )
