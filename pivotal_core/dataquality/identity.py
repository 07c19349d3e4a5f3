"""The keyed hash that stands in for an erased person's identifiers: the erase module stores
it, the importer compares incoming rows against it, and nothing can turn it back into the
email, phone number or LinkedIn URL it was made from."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

from pivotal_core.config import as_list

# Identifier kinds an erased identity keeps, and the contact fields they come from.
IDENTITY_KINDS = ("email", "phone", "linkedin")
CONTACT_IDENTITY_FIELDS = {
    "email": "email",
    "phone": "phone",
    "mobile": "phone",
    "linkedin_url": "linkedin",
}


KEYS_SETTING = "privacy.erasure_keys"


def erasure_keys(settings: Mapping[str, Any]) -> tuple[str, ...]:
    """The keys of erased-identity digests, newest first: ``privacy.erasure_keys`` when set,
    else ``auth.secret``. Digests are made with the first and recognised under any, so the
    key can change (list the new one first, the old ones after) without forgetting whom
    was erased."""
    keys = tuple(as_list(settings.get(KEYS_SETTING) or ()))
    if keys:
        return keys
    secret = settings.get("auth.secret")
    return (secret,) if secret else ()


def as_keys(secret: str | Sequence[str]) -> tuple[str, ...]:
    """One key or several (newest first) as a tuple."""
    return (secret,) if isinstance(secret, str) else tuple(secret)


def identity_digest(kind: str, value: str, secret: str) -> str:
    """HMAC-SHA256 of a normalized identifier under ``auth.secret``, as 64 hex digits.

    ``value`` must already be normalized (lower-case email, E.164 phone, canonical LinkedIn
    URL) so that every spelling of one identifier gives one digest. Keyed, so that a leaked
    table cannot be reversed by hashing a list of known addresses.
    """
    if not secret:
        raise ValueError("identity_digest needs the auth.secret setting")
    if kind not in IDENTITY_KINDS:
        raise ValueError(f"unknown identity kind {kind!r}; use one of {', '.join(IDENTITY_KINDS)}")
    message = f"{kind}:{value}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
