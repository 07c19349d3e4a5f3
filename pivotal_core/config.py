"""Settings: core defaults, plugin defaults, the .ini file and PIVOTAL_* environment overrides.

Precedence, lowest first: core defaults, plugin defaults, the .ini file, the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

CORE_DEFAULTS: dict[str, Any] = {
    "pivotal.env": "development",
    "pivotal.plugins": "",
    "pivotal.theme": "pivotal",
    "sqlalchemy.url": "sqlite:///var/pivotal.sqlite",
    "huey.url": "sqlite:///var/huey.sqlite",
    "huey.immediate": "false",
    "huey.name": "pivotal",
    "auth.secret": "",
    "auth.issuer": "pivotal",
    "auth.audience": "pivotal-api",
    "auth.access_ttl": "900",
    "auth.refresh_ttl": "2592000",
    "auth.bcrypt_rounds": "12",
    "auth.login_window": "900",
    "auth.login_max_failures_per_account": "5",
    "auth.login_max_failures_per_address": "20",
    "phone.default_region": "US",
    "web.trusted_proxies": "0",
    "web.session_ttl": "43200",
    "dataquality.imports_dir": "var/imports",
    # A million contacts with a dozen columns is about 200 MB of CSV.
    "dataquality.max_upload_bytes": str(512 * 1024 * 1024),
    "dataquality.upload_retention_hours": "72",
    # Days the file of a finished import batch is kept (a dry run can be repeated for
    # real while it is); 0 keeps them for good.
    "dataquality.batch_file_retention_days": "30",
    # A running job whose worker gives no sign of life for this long is marked failed.
    "jobs.stale_after_minutes": "60",
    # The hour (UTC) of the nightly duplicates scan of contacts and accounts; -1: none.
    "dataquality.duplicate_scan_hour": "3",
    "api.default_page_size": "50",
    "api.max_page_size": "200",
    "dataquality.source_priority": "manual salesforce hubspot",
    # Keys of erased people's digests, newest first; empty: auth.secret.
    "privacy.erasure_keys": "",
}

# Settings that hold secrets: in production they must come from the environment.
SECRET_SETTINGS = ("auth.secret", "privacy.erasure_keys")

INT_SETTINGS = (
    "auth.access_ttl",
    "auth.refresh_ttl",
    "auth.bcrypt_rounds",
    "auth.login_window",
    "auth.login_max_failures_per_account",
    "auth.login_max_failures_per_address",
    "api.default_page_size",
    "api.max_page_size",
    "web.trusted_proxies",
    "web.session_ttl",
    "dataquality.max_upload_bytes",
    "dataquality.upload_retention_hours",
    "dataquality.batch_file_retention_days",
    "jobs.stale_after_minutes",
    "dataquality.duplicate_scan_hour",
)
BOOL_SETTINGS = ("huey.immediate",)
LIST_SETTINGS = ("pivotal.plugins", "dataquality.source_priority", "privacy.erasure_keys")


class SettingsError(RuntimeError):
    """The configuration cannot be used; the message says which setting and why."""


def env_name(key: str) -> str:
    """The environment variable of a setting.

    ``sqlalchemy.url`` -> ``PIVOTAL_SQLALCHEMY_URL``; ``pivotal.plugins`` -> ``PIVOTAL_PLUGINS``.
    """
    if key.startswith("pivotal."):
        key = key[len("pivotal.") :]
    return "PIVOTAL_" + key.upper().replace(".", "_").replace("-", "_")


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise SettingsError(f"{value!r} is not a boolean (use true or false)")


def as_list(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [part for part in str(value).replace(",", " ").split() if part]


def merge_settings(
    ini: Mapping[str, Any],
    plugin_defaults: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Merge defaults, .ini values and the environment, then coerce types."""
    environ = os.environ if environ is None else environ
    for key in ini:
        short = key[len("pivotal.") :] if key.startswith("pivotal.") else None
        if short and short in ini and ini[short] != ini[key]:
            raise SettingsError(f"settings {key!r} and {short!r} conflict; keep one spelling")
    merged: dict[str, Any] = dict(CORE_DEFAULTS)
    for key, value in (plugin_defaults or {}).items():
        if key in CORE_DEFAULTS:
            raise SettingsError(f"plugin default {key!r} shadows a core setting")
        merged[key] = value
    merged.update(ini)
    production = str(merged.get("pivotal.env")) == "production"
    for key in list(merged):
        name = env_name(key)
        if name in environ:
            merged[key] = environ[name]
        elif production and key in SECRET_SETTINGS and key in ini and ini[key]:
            raise SettingsError(
                f"{key} must come from the environment ({name}) in production, not the .ini file"
            )
    for key in INT_SETTINGS:
        try:
            merged[key] = int(merged[key])
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"{key} must be a whole number, not {merged[key]!r}") from exc
    if merged["dataquality.upload_retention_hours"] < 1:
        raise SettingsError("dataquality.upload_retention_hours must be at least 1")
    if merged["dataquality.batch_file_retention_days"] < 0:
        raise SettingsError("dataquality.batch_file_retention_days must be 0 (keep) or more")
    if merged["jobs.stale_after_minutes"] < 5:
        raise SettingsError("jobs.stale_after_minutes must be at least 5")
    if not -1 <= merged["dataquality.duplicate_scan_hour"] <= 23:
        raise SettingsError(
            "dataquality.duplicate_scan_hour must be an hour from 0 to 23 (UTC), or -1 for none"
        )
    for key in BOOL_SETTINGS:
        merged[key] = as_bool(merged[key])
    for key in LIST_SETTINGS:
        merged[key] = as_list(merged[key])
    if not merged["auth.secret"]:
        if production:
            raise SettingsError("auth.secret is required: set PIVOTAL_AUTH_SECRET")
        raise SettingsError("auth.secret is empty: set it in the .ini or PIVOTAL_AUTH_SECRET")
    if len(str(merged["auth.secret"])) < 32:
        raise SettingsError("auth.secret must be at least 32 characters")
    if any(len(key) < 32 for key in merged["privacy.erasure_keys"]):
        raise SettingsError("privacy.erasure_keys: each key must be at least 32 characters")
    return merged
