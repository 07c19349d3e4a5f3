"""Logging in, rotating refresh tokens, logging out and revoking, with login throttling."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from pivotal_core.authnz.models import LoginFailure, RefreshToken
from pivotal_core.authnz.passwords import verify_password
from pivotal_core.authnz.tokens import (
    InvalidToken,
    TokenConfig,
    decode_token,
    issue_access_token,
    issue_refresh_token,
    token_digest,
)
from pivotal_core.db import utcnow
from pivotal_core.errors import TooManyRequests, Unauthorized
from pivotal_core.normalize import NormalizationError, normalize_email
from pivotal_core.users.models import User

INVALID_CREDENTIALS = "Email or password is incorrect"


@dataclass(frozen=True)
class Throttle:
    window: int
    per_account: int
    per_address: int

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> Throttle:
        return cls(
            window=int(settings["auth.login_window"]),
            per_account=int(settings["auth.login_max_failures_per_account"]),
            per_address=int(settings["auth.login_max_failures_per_address"]),
        )


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    user: User

    def as_dict(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }


def _login_key(email: str) -> str:
    try:
        return "account:" + (normalize_email(email) or "")
    except NormalizationError:
        return "account:" + email.strip().lower()


def _check_throttle(session: Session, throttle: Throttle, keys: dict[str, int]) -> None:
    since = utcnow() - timedelta(seconds=throttle.window)
    counts = dict(
        session.execute(
            select(LoginFailure.key, func.count())
            .where(LoginFailure.key.in_(list(keys)), LoginFailure.failed_at >= since)
            .group_by(LoginFailure.key)
        ).all()
    )
    for key, limit in keys.items():
        if counts.get(key, 0) >= limit:
            raise TooManyRequests(
                "Too many failed logins; wait a few minutes and try again",
                retry_after=throttle.window,
            )


def issue_tokens(
    session: Session, cfg: TokenConfig, user: User, family: str | None = None
) -> TokenPair:
    family = family or secrets.token_hex(16)
    refresh, expires_at = issue_refresh_token(cfg, user.id, family)
    session.add(
        RefreshToken(
            user_id=user.id,
            token_hash=token_digest(refresh),
            family=family,
            issued_at=utcnow(),
            expires_at=expires_at,
        )
    )
    access = issue_access_token(cfg, user.id, user.token_version)
    return TokenPair(access, refresh, cfg.access_ttl, user)


def login(
    session: Session,
    cfg: TokenConfig,
    throttle: Throttle,
    email: str,
    password: str,
    address: str | None,
    *,
    bcrypt_rounds: int = 12,
) -> TokenPair:
    """Check credentials and issue a token pair.

    Failures are recorded in ``session`` and raise :class:`Unauthorized` with one message
    whether or not the account exists; the caller must still commit the session.
    """
    account_key = _login_key(email)
    address_key = f"address:{address or 'unknown'}"
    _check_throttle(
        session, throttle, {account_key: throttle.per_account, address_key: throttle.per_address}
    )
    user = session.scalars(select(User).where(User.email == account_key[len("account:") :])).first()
    ok = verify_password(password, user.password_hash if user else None, bcrypt_rounds)
    if not ok or user is None or not user.is_active:
        now = utcnow()
        session.add_all(
            [
                LoginFailure(key=account_key, failed_at=now),
                LoginFailure(key=address_key, failed_at=now),
            ]
        )
        raise Unauthorized(INVALID_CREDENTIALS)
    session.execute(delete(LoginFailure).where(LoginFailure.key == account_key))
    user.last_login_at = utcnow()
    return issue_tokens(session, cfg, user)


def refresh(session: Session, cfg: TokenConfig, token: str) -> TokenPair:
    """Spend a refresh token and issue a new pair in the same family.

    A token presented a second time means it leaked: the whole family is revoked. The
    revocation is written to ``session`` before :class:`Unauthorized` is raised.
    """
    try:
        claims = decode_token(cfg, token, "refresh")
    except InvalidToken as exc:
        raise Unauthorized(f"Refresh {exc}") from exc
    row = session.scalars(
        select(RefreshToken).where(RefreshToken.token_hash == token_digest(token))
    ).first()
    if row is None:
        raise Unauthorized("Refresh token is invalid")
    now = utcnow()
    if row.used_at is not None or row.revoked_at is not None:
        revoke_family(session, row.family)
        raise Unauthorized("Refresh token was already used; sign in again")
    user = session.get(User, claims["sub"])
    if user is None or not user.is_active or row.user_id != user.id:
        raise Unauthorized("Refresh token is invalid")
    row.used_at = now
    return issue_tokens(session, cfg, user, family=row.family)


def revoke_family(session: Session, family: str) -> None:
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.family == family, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def logout(session: Session, user: User) -> None:
    """Sign the user out everywhere: access tokens are stateless, so the version bump
    that voids them covers every session of the user."""
    revoke_all_tokens(session, user)


def revoke_all_tokens(session: Session, user: User) -> None:
    """Void every access and refresh token of ``user`` (password change, deactivation)."""
    user.token_version = (user.token_version or 0) + 1
    session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
