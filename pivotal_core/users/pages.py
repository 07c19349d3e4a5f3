"""Users and roles in the staff UI: list, details with the user's activity, create, edit,
deactivate, set a password, and the permissions each role holds."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pyramid.httpexceptions import HTTPSeeOther
from pyramid.interfaces import IRoutesMapper
from pyramid.request import Request
from pyramid.view import view_config
from sqlalchemy import Select, func, select

from pivotal_core.api.pagination import SortKey
from pivotal_core.api.records import request_actor
from pivotal_core.api.validation import deserialize
from pivotal_core.audit.models import AuditEvent
from pivotal_core.audit.services import record_history
from pivotal_core.authnz.permissions import Permission, Role
from pivotal_core.errors import Conflict, ValidationFailed
from pivotal_core.users import services
from pivotal_core.users.models import User
from pivotal_core.users.schemas import UserCreateInput, UserPasswordInput, UserUpdateInput
from pivotal_core.web.tables import Column, DataTable
from pivotal_core.web.templating import add_template_dir

ROLE_OPTIONS = [(r.value, r.value.replace("_", " ")) for r in Role]
ACTIVITY_LIMIT = 50


def _when(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%d %H:%M") if value else None


class UserTable(DataTable):
    """Users are never deleted, only deactivated: the table's "deleted" view lists those."""

    def base_statement(self, deleted: bool) -> Select:
        return select(User).where(User.is_active.is_(not deleted))


USERS_TABLE = UserTable(
    name="users",
    model=User,
    columns=(
        Column("email", "Email", lambda u: u.email, sort="email", link=True),
        Column("full_name", "Name", lambda u: u.full_name, sort="full_name"),
        Column("role", "Role", lambda u: u.role, sort="role"),
        Column("is_active", "Active", lambda u: "yes" if u.is_active else "no"),
        Column("last_login_at", "Last login", lambda u: _when(u.last_login_at), mono=True),
        Column(
            "created_at", "Created", lambda u: _when(u.created_at), sort="created_at", mono=True
        ),
        Column(
            "organisation_id", "Organisation", lambda u: u.organisation_id, mono=True, default=False
        ),
        Column("id", "ID", lambda u: u.id, sort="id", mono=True, default=False),
    ),
    sort_keys={
        "id": SortKey("id", User.id, "number"),
        "email": SortKey("email", User.email, "text"),
        "full_name": SortKey("full_name", User.full_name, "text"),
        "role": SortKey("role", User.role, "text"),
        "created_at": SortKey("created_at", User.created_at, "datetime"),
    },
    default_sort="email",
    search=services.search_users,
    detail_route="web.user",
    list_route="web.users",
)


def _form_values(post: Mapping[str, str], names: tuple[str, ...]) -> tuple[dict[str, Any], dict]:
    """The form's fields as the JSON types the user schemas expect, and errors of form syntax."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in names:
        raw = post.get(name, "")
        if name == "is_active":
            values[name] = raw in ("1", "on", "true")
        elif name == "organisation_id":
            raw = raw.strip()
            if not raw:
                values[name] = None
            elif raw.isdigit() and len(raw) < 19:
                values[name] = int(raw)
            else:
                errors[name] = "must be a whole number"
        elif name in ("password", "new_password"):
            values[name] = raw  # as typed: a password's spaces are part of it
        else:
            values[name] = raw.strip()
    return values, errors


def _validated(schema: Any, post: Mapping[str, str]) -> dict[str, Any]:
    names = tuple(child.name for child in schema.children)
    values, errors = _form_values(post, names)
    try:
        data = deserialize(schema, {k: v for k, v in values.items() if k not in errors})
    except ValidationFailed as exc:
        errors = {**exc.fields, **errors}
        data = {}
    if errors:
        raise ValidationFailed(errors)
    return data


def _as_typed(post: Mapping[str, str], extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """What the user typed, to show the form again (never the password)."""
    values, _ = _form_values(post, ("email", "full_name", "role", *extra))
    values["organisation_id"] = post.get("organisation_id", "").strip()
    return values


def _refused(request: Request, exc: ValidationFailed | Conflict) -> dict[str, str]:
    """Nothing of a refused form is kept: the transaction is doomed, the status says why."""
    request.tm.doom()
    request.response.status_int = exc.status
    return exc.fields or {"form": exc.message}


def _bcrypt_rounds(request: Request) -> int:
    return int(request.registry.settings["auth.bcrypt_rounds"])


@view_config(route_name="web.users", renderer="users/list.jinja2", permission=Permission.USERS_READ)
def user_list(request: Request) -> dict[str, Any]:
    return {"view": USERS_TABLE.view(request)}


@view_config(
    route_name="web.user_roles", renderer="users/roles.jinja2", permission=Permission.USERS_READ
)
def role_list(request: Request) -> dict[str, Any]:
    roles: Mapping[str, frozenset[str]] = request.registry["pivotal.role_permissions"]
    permissions = sorted({p for perms in roles.values() for p in perms})
    counts = dict(
        request.dbsession.execute(
            select(User.role, func.count()).where(User.is_active.is_(True)).group_by(User.role)
        ).all()
    )
    return {"roles": roles, "permissions": permissions, "counts": counts}


@view_config(
    route_name="web.user", renderer="users/detail.jinja2", permission=Permission.USERS_READ
)
def user_detail(request: Request) -> dict[str, Any]:
    session = request.dbsession
    user = services.get_user(session, int(request.matchdict["id"]))
    activity = list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.actor_id == user.id)
            .order_by(AuditEvent.id.desc())
            .limit(ACTIVITY_LIMIT)
        )
    )
    history = record_history(session, "user", user.id, limit=ACTIVITY_LIMIT)
    mapper = request.registry.getUtility(IRoutesMapper)
    linkable = {e for e in ("account", "contact", "user") if mapper.get_route(f"web.{e}")}
    return {"user": user, "activity": activity, "history": history, "linkable": linkable}


def _new_form(request: Request, values: dict[str, Any], errors: dict[str, str]) -> dict:
    return {"user": None, "values": values, "errors": errors, "roles": ROLE_OPTIONS}


@view_config(
    route_name="web.user_new",
    request_method="GET",
    renderer="users/form.jinja2",
    permission=Permission.USERS_WRITE,
)
def user_new_form(request: Request) -> dict[str, Any]:
    return _new_form(request, {"role": Role.AGENT.value}, {})


@view_config(
    route_name="web.user_new",
    request_method="POST",
    renderer="users/form.jinja2",
    permission=Permission.USERS_WRITE,
)
def user_create(request: Request):
    try:
        data = _validated(UserCreateInput(), request.POST)
        user = services.create_user(
            request.dbsession,
            request_actor(request, "ui"),
            email=data["email"],
            password=data["password"],
            role=data["role"],
            full_name=data["full_name"],
            organisation_id=data["organisation_id"],
            bcrypt_rounds=_bcrypt_rounds(request),
        )
    except (ValidationFailed, Conflict) as exc:
        return _new_form(request, _as_typed(request.POST), _refused(request, exc))
    request.session.flash(f"Created user {user.email}", "success")
    return HTTPSeeOther(location=request.route_path("web.user", id=user.id))


def _edit_form(
    request: Request,
    user: User,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    password_errors: dict[str, str] | None = None,
    confirm_deactivation: bool = False,
) -> dict[str, Any]:
    if values is None:
        values = {
            "email": user.email,
            "full_name": user.full_name,
            "role": user.role,
            "organisation_id": user.organisation_id,
            "is_active": user.is_active,
        }
    return {
        "user": user,
        "values": values,
        "errors": errors or {},
        "password_errors": password_errors or {},
        "confirm_deactivation": confirm_deactivation,
        "roles": ROLE_OPTIONS,
    }


@view_config(
    route_name="web.user_edit",
    request_method="GET",
    renderer="users/form.jinja2",
    permission=Permission.USERS_WRITE,
)
def user_edit_form(request: Request) -> dict[str, Any]:
    return _edit_form(request, services.get_user(request.dbsession, int(request.matchdict["id"])))


@view_config(
    route_name="web.user_edit",
    request_method="POST",
    renderer="users/form.jinja2",
    permission=Permission.USERS_WRITE,
)
def user_update(request: Request):
    session = request.dbsession
    user = services.get_user(session, int(request.matchdict["id"]))
    typed = _as_typed(request.POST, ("is_active",))
    try:
        data = _validated(UserUpdateInput(), request.POST)
        if user.is_active and not data["is_active"] and request.POST.get("confirm") != "deactivate":
            # Deactivation signs the user out everywhere: ask once before doing it.
            request.tm.doom()
            return _edit_form(request, user, typed, confirm_deactivation=True)
        services.update_user(session, request_actor(request, "ui"), user, data)
    except (ValidationFailed, Conflict) as exc:
        return _edit_form(request, user, typed, errors=_refused(request, exc))
    request.session.flash(
        f"Saved {user.email}" + ("" if user.is_active else " (deactivated; tokens revoked)"),
        "success",
    )
    return HTTPSeeOther(location=request.route_path("web.user", id=user.id))


@view_config(
    route_name="web.user_password",
    request_method="POST",
    renderer="users/form.jinja2",
    permission=Permission.USERS_WRITE,
)
def user_set_password(request: Request):
    session = request.dbsession
    user = services.get_user(session, int(request.matchdict["id"]))
    try:
        data = _validated(UserPasswordInput(), request.POST)
        services.change_password(
            session,
            request_actor(request, "ui"),
            user,
            data["new_password"],
            bcrypt_rounds=_bcrypt_rounds(request),
        )
    except ValidationFailed as exc:
        return _edit_form(request, user, password_errors=_refused(request, exc))
    request.session.flash(
        f"Password set for {user.email}; their sessions are signed out", "success"
    )
    return HTTPSeeOther(location=request.route_path("web.user", id=user.id))


def includeme(config):
    add_template_dir(config, Path(__file__).parent / "templates", owner="core")
    config.add_route("web.users", "/users")
    config.add_route("web.user_roles", "/users/roles")
    config.add_route("web.user_new", "/users/new")
    config.add_route("web.user", "/users/{id:\\d+}")
    config.add_route("web.user_edit", "/users/{id:\\d+}/edit")
    config.add_route("web.user_password", "/users/{id:\\d+}/password")
    config.scan(".pages")
