"""JWT access and refresh tokens: algorithm pinned, every registered claim required."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt

from pivotal_core.db import utcnow

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["iss", "aud", "sub", "iat", "exp", "jti", "typ"]


class InvalidToken(Exception):
    """The token cannot be used; the message is safe to show."""


@dataclass(frozen=True)
class TokenConfig:
    secret: str
    issuer: str
    audience: str
    access_ttl: int
    refresh_ttl: int

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> TokenConfig:
        return cls(
            secret=settings["auth.secret"],
            issuer=settings["auth.issuer"],
            audience=settings["auth.audience"],
            access_ttl=int(settings["auth.access_ttl"]),
            refresh_ttl=int(settings["auth.refresh_ttl"]),
        )


def _encode(cfg: TokenConfig, typ: str, sub: int, ttl: int, now: datetime, **extra: Any) -> str:
    claims = {
        "iss": cfg.issuer,
        "aud": cfg.audience,
        "sub": str(sub),
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=ttl)).timestamp()),
        "jti": secrets.token_hex(16),
        "typ": typ,
        **extra,
    }
    return jwt.encode(claims, cfg.secret, algorithm=ALGORITHM)


def issue_access_token(cfg: TokenConfig, user_id: int, token_version: int) -> str:
    return _encode(cfg, "access", user_id, cfg.access_ttl, utcnow(), ver=token_version)


def issue_refresh_token(cfg: TokenConfig, user_id: int, family: str) -> tuple[str, datetime]:
    now = utcnow()
    token = _encode(cfg, "refresh", user_id, cfg.refresh_ttl, now, fam=family)
    return token, now + timedelta(seconds=cfg.refresh_ttl)


def decode_token(cfg: TokenConfig, token: str, typ: str) -> dict[str, Any]:
    try:
        claims = jwt.decode(
            token,
            cfg.secret,
            algorithms=[ALGORITHM],
            audience=cfg.audience,
            issuer=cfg.issuer,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken("token has expired") from exc
    except jwt.InvalidTokenError as exc:
        raise InvalidToken("token is invalid") from exc
    if claims.get("typ") != typ:
        raise InvalidToken(f"not an {typ} token" if typ == "access" else f"not a {typ} token")
    try:
        claims["sub"] = int(claims["sub"])
    except (TypeError, ValueError) as exc:
        raise InvalidToken("token is invalid") from exc
    return claims


def token_digest(token: str) -> str:
    """How refresh tokens are stored: a leaked table grants nothing."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
