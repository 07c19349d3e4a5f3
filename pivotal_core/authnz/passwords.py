"""Password hashing with bcrypt; passwords over 72 bytes are refused, never truncated."""

from __future__ import annotations

import bcrypt

from pivotal_core.errors import ValidationFailed

MAX_PASSWORD_BYTES = 72
MIN_PASSWORD_LENGTH = 10

# Checked when no user matches, so a login takes as long whether or not the account exists.
_DUMMY_HASH = bcrypt.hashpw(b"pivotal-no-such-user", bcrypt.gensalt(4))


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


def verify_password(password: str, password_hash: str | None) -> bool:
    raw = password.encode("utf-8")
    if len(raw) > MAX_PASSWORD_BYTES:
        # Still spend the time of a check: the answer must not reveal anything.
        bcrypt.checkpw(b"x", _DUMMY_HASH)
        return False
    if not password_hash:
        bcrypt.checkpw(raw, _DUMMY_HASH)
        return False
    return bcrypt.checkpw(raw, password_hash.encode("ascii"))
