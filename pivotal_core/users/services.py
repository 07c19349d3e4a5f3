"""Users: create, update, change password, deactivate; every change audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from pivotal_core.audit.services import Actor, record_changes
from pivotal_core.authnz.passwords import check_password_rules, hash_password, verify_password
from pivotal_core.authnz.permissions import Role
from pivotal_core.authnz.services import revoke_all_tokens
from pivotal_core.errors import Conflict, NotFound, ValidationFailed
from pivotal_core.normalize import NormalizationError, normalize_email, normalize_text
from pivotal_core.users.models import User

AUDITED_FIELDS = ("email", "full_name", "role", "organisation_id", "is_active")


def _clean_email(value: str) -> str:
    try:
        email = normalize_email(value)
    except NormalizationError as exc:
        raise ValidationFailed({"email": exc.message}) from exc
    if not email:
        raise ValidationFailed({"email": "is required"})
    return email


def _check_role(role: str) -> None:
    if role not in {r.value for r in Role}:
        raise ValidationFailed({"role": f"must be one of {', '.join(r.value for r in Role)}"})


def _ensure_email_free(session: Session, email: str, exclude_id: int | None = None) -> None:
    stmt = select(User.id).where(User.email == email)
    if exclude_id is not None:
        stmt = stmt.where(User.id != exclude_id)
    existing = session.scalar(stmt)
    if existing is not None:
        raise Conflict(
            f"A user with email {email} already exists (user {existing})",
            {"email": f"is already used by user {existing}"},
        )


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"User {user_id} not found")
    return user


def create_user(
    session: Session,
    actor: Actor,
    *,
    email: str,
    password: str,
    role: str,
    full_name: str = "",
    organisation_id: int | None = None,
    bcrypt_rounds: int = 12,
) -> User:
    email = _clean_email(email)
    _check_role(role)
    if role == Role.CLIENT and organisation_id is None:
        raise ValidationFailed({"organisation_id": "is required for client users"})
    check_password_rules(password)
    _ensure_email_free(session, email)
    user = User(
        email=email,
        full_name=normalize_text(full_name, 200) or "",
        role=role,
        organisation_id=organisation_id,
        password_hash=hash_password(password, bcrypt_rounds),
        token_version=1,
        is_active=True,
        preferences={},
    )
    session.add(user)
    session.flush()
    record_changes(
        session,
        actor,
        "user",
        user.id,
        "create",
        {name: (None, getattr(user, name)) for name in AUDITED_FIELDS},
    )
    return user


def update_user(session: Session, actor: Actor, user: User, values: dict[str, Any]) -> User:
    changes: dict[str, tuple[Any, Any]] = {}
    if "email" in values:
        values["email"] = _clean_email(values["email"] or "")
        _ensure_email_free(session, values["email"], exclude_id=user.id)
    if "role" in values:
        _check_role(values["role"])
    if "full_name" in values:
        values["full_name"] = normalize_text(values["full_name"], 200) or ""
    for name in AUDITED_FIELDS:
        if name in values and getattr(user, name) != values[name]:
            changes[name] = (getattr(user, name), values[name])
            setattr(user, name, values[name])
    if user.role == Role.CLIENT and user.organisation_id is None:
        raise ValidationFailed({"organisation_id": "is required for client users"})
    if actor.user_id == user.id:
        # Nobody locks themselves out: another admin has to do it.
        if "is_active" in changes and not user.is_active:
            raise ValidationFailed({"is_active": "you cannot deactivate your own account"})
        if "role" in changes and changes["role"][0] == Role.ADMIN:
            raise ValidationFailed({"role": "you cannot take the admin role from yourself"})
    if "is_active" in changes and not user.is_active:
        revoke_all_tokens(session, user)
    if "role" in changes:
        # A demoted user's old tokens must not keep the old role's reach.
        revoke_all_tokens(session, user)
    if changes:
        session.flush()
        record_changes(session, actor, "user", user.id, "update", changes)
    return user


def change_password(
    session: Session,
    actor: Actor,
    user: User,
    new_password: str,
    *,
    current_password: str | None = None,
    bcrypt_rounds: int = 12,
) -> None:
    """Set a new password and void every token; users changing their own give the old one."""
    if current_password is not None and not verify_password(current_password, user.password_hash):
        raise ValidationFailed({"current_password": "is incorrect"})
    check_password_rules(new_password, "new_password")
    user.password_hash = hash_password(new_password, bcrypt_rounds)
    revoke_all_tokens(session, user)
    session.flush()
    record_changes(session, actor, "user", user.id, "update", {"password": ("***", "***")})


def search_users(q: str) -> Any:
    """Users whose email or name contains ``q`` (case-insensitive)."""
    needle = q.strip().lower()
    return or_(
        User.email.contains(needle, autoescape=True),
        func.lower(User.full_name).contains(needle, autoescape=True),
    )


def count_users(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0
