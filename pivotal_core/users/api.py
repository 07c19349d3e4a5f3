"""Users administration: /api/v1/users (admins)."""

from __future__ import annotations

from pyramid.request import Request
from sqlalchemy import select

from pivotal_core.api.endpoints import add_endpoint
from pivotal_core.api.pagination import SortKey, keyset_page, list_query_schema
from pivotal_core.api.records import page_json, request_actor
from pivotal_core.authnz.permissions import Permission
from pivotal_core.users import services
from pivotal_core.users.models import User
from pivotal_core.users.schemas import (
    UserCreateInput,
    UserOutput,
    UserPasswordInput,
    UserUpdateInput,
    user_json,
)

SORT_KEYS = {
    "id": SortKey("id", User.id, "number"),
    "email": SortKey("email", User.email, "text"),
    "created_at": SortKey("created_at", User.created_at, "datetime"),
}


def list_users(request: Request):
    params = request.validated_query
    stmt = select(User)
    if params["q"]:
        stmt = stmt.where(services.search_users(params["q"]))
    if params["deleted"] == "only":
        stmt = stmt.where(User.is_active.is_(False))
    page = keyset_page(
        request.dbsession,
        stmt,
        User.id,
        SORT_KEYS,
        sort=params["sort"],
        default_sort="email",
        limit=params["limit"],
        cursor=params["cursor"],
    )
    return page_json([user_json(u) for u in page.items], page, params["limit"])


def create_user(request: Request):
    data = request.validated
    user = services.create_user(
        request.dbsession,
        request_actor(request),
        email=data["email"],
        password=data["password"],
        role=data["role"],
        full_name=data["full_name"],
        organisation_id=data["organisation_id"],
        bcrypt_rounds=request.registry.settings["auth.bcrypt_rounds"],
    )
    return user_json(user)


def get_user(request: Request):
    return user_json(services.get_user(request.dbsession, int(request.matchdict["id"])))


def update_user(request: Request):
    user = services.get_user(request.dbsession, int(request.matchdict["id"]))
    services.update_user(request.dbsession, request_actor(request), user, dict(request.validated))
    return user_json(user)


def set_password(request: Request):
    user = services.get_user(request.dbsession, int(request.matchdict["id"]))
    services.change_password(
        request.dbsession,
        request_actor(request),
        user,
        request.validated["new_password"],
        bcrypt_rounds=request.registry.settings["auth.bcrypt_rounds"],
    )
    return {"status": "password set; the user's tokens are revoked"}


def includeme(config):
    settings = config.get_settings()
    query = list_query_schema(settings["api.max_page_size"], settings["api.default_page_size"])
    item = "/users/{id:\\d+}"
    add_endpoint(
        config,
        "api.users",
        "/users",
        "GET",
        list_users,
        permission=Permission.USERS_READ,
        tag="users",
        summary="List users",
        query=query,
        response=UserOutput(),
    )
    add_endpoint(
        config,
        "api.users",
        "/users",
        "POST",
        create_user,
        permission=Permission.USERS_WRITE,
        tag="users",
        summary="Create a user",
        body=UserCreateInput(),
        response=UserOutput(),
        status=201,
    )
    add_endpoint(
        config,
        "api.users.item",
        item,
        "GET",
        get_user,
        permission=Permission.USERS_READ,
        tag="users",
        summary="Read a user",
        response=UserOutput(),
    )
    add_endpoint(
        config,
        "api.users.item",
        item,
        "PATCH",
        update_user,
        permission=Permission.USERS_WRITE,
        tag="users",
        summary="Update a user; is_active=false deactivates and revokes tokens",
        body=UserUpdateInput(),
        response=UserOutput(),
    )
    add_endpoint(
        config,
        "api.users.password",
        item + "/password",
        "POST",
        set_password,
        permission=Permission.USERS_WRITE,
        tag="users",
        summary="Set a user's password (revokes their tokens)",
        body=UserPasswordInput(),
    )
