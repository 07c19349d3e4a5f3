"""Password hashing with bcrypt; passwords over 72 bytes are refused, never truncated."""

from __future__ import annotations

import functools

import bcrypt

from pivotal_core.errors import ValidationFailed

MAX_PASSWORD_BYTES = 72
MIN_PASSWORD_LENGTH = 10


@functools.cache
def _dummy_hash(rounds: int) -> bytes:
    """Checked when no user matches, at the real cost, so that a login takes as long
    whether or not the account exists."""
    return bcrypt.hashpw(b"pivotal-no-such-user", bcrypt.gensalt(rounds))


def check_password_rules(password: str, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed({field: f"must be at least {MIN_PASSWORD_LENGTH} characters"})
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise ValidationFailed(
            {
                field: f"is longer than {MAX_PASSWORD_BYTES} bytes in UTF-8; bcrypt would "
                "ignore the rest, so choose a shorter password"
            }
        )


def hash_password(password: str, rounds: int = 12) -> str:
    check_password_rules(password)
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


def verify_password(password: str, password_hash: str | None, rounds: int = 12) -> bool:
    raw = password.encode("utf-8")
    if len(raw) > MAX_PASSWORD_BYTES:
        # Still spend the time of a check: the answer must not reveal anything.
        bcrypt.checkpw(b"x", _dummy_hash(rounds))
        return False
    if not password_hash:
        bcrypt.checkpw(raw, _dummy_hash(rounds))
        return False
    return bcrypt.checkpw(raw, password_hash.encode("ascii"))
