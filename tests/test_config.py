"""Settings: defaults under the .ini, PIVOTAL_* overrides, secrets, clear errors."""

from __future__ import annotations

import pytest

from pivotal_core.config import SettingsError, env_name, merge_settings

SECRET = "s" * 40


def test_env_names():
    assert env_name("sqlalchemy.url") == "PIVOTAL_SQLALCHEMY_URL"
    assert env_name("pivotal.plugins") == "PIVOTAL_PLUGINS"
    assert env_name("hello_channel.greeting") == "PIVOTAL_HELLO_CHANNEL_GREETING"


def test_defaults_ini_and_environment_in_order():
    merged = merge_settings(
        {"auth.secret": SECRET, "auth.access_ttl": "60", "hello.x": "ini"},
        {"hello.x": "plugin default", "hello.y": "plugin default"},
        {"PIVOTAL_AUTH_ACCESS_TTL": "120"},
    )
    assert merged["auth.access_ttl"] == 120
    assert merged["hello.x"] == "ini"
    assert merged["hello.y"] == "plugin default"
    assert merged["phone.default_region"] == "US"


def test_plugin_list_and_booleans_are_parsed():
    merged = merge_settings(
        {"auth.secret": SECRET, "pivotal.plugins": "a, b\n c", "huey.immediate": "yes"}, {}, {}
    )
    assert merged["pivotal.plugins"] == ["a", "b", "c"]
    assert merged["huey.immediate"] is True


@pytest.mark.parametrize(
    ("ini", "environ", "message"),
    [
        ({"auth.secret": SECRET, "auth.access_ttl": "soon"}, {}, "auth.access_ttl must be a whole"),
        ({"auth.secret": SECRET, "huey.immediate": "maybe"}, {}, "not a boolean"),
        ({"auth.secret": "short"}, {}, "at least 32 characters"),
        ({}, {}, "auth.secret is empty"),
        ({"pivotal.env": "production"}, {}, "PIVOTAL_AUTH_SECRET"),
        (
            {"pivotal.env": "production", "auth.secret": SECRET},
            {},
            "must come from the environment",
        ),
        ({"auth.secret": SECRET, "pivotal.theme": "a", "theme": "b"}, {}, "conflict"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(ini, environ, message):
    with pytest.raises(SettingsError, match=message):
        merge_settings(ini, {}, environ)


def test_production_takes_the_secret_from_the_environment():
    merged = merge_settings({"pivotal.env": "production"}, {}, {"PIVOTAL_AUTH_SECRET": SECRET})
    assert merged["auth.secret"] == SECRET


def test_plugin_default_may_not_shadow_a_core_setting():
    with pytest.raises(SettingsError, match="shadows a core setting"):
        merge_settings({"auth.secret": SECRET}, {"auth.issuer": "evil"}, {})


def test_import_file_settings_have_defaults_and_environment_overrides():
    merged = merge_settings({"auth.secret": SECRET}, {}, {})
    assert merged["dataquality.max_upload_bytes"] == 512 * 1024 * 1024
    assert merged["dataquality.upload_retention_hours"] == 72
    merged = merge_settings(
        {"auth.secret": SECRET, "dataquality.max_upload_bytes": "1000"},
        {},
        {
            "PIVOTAL_DATAQUALITY_MAX_UPLOAD_BYTES": "2048",
            "PIVOTAL_DATAQUALITY_UPLOAD_RETENTION_HOURS": "24",
        },
    )
    assert merged["dataquality.max_upload_bytes"] == 2048
    assert merged["dataquality.upload_retention_hours"] == 24


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"PIVOTAL_DATAQUALITY_MAX_UPLOAD_BYTES": "1GB"}, "max_upload_bytes must be a whole"),
        ({"PIVOTAL_DATAQUALITY_UPLOAD_RETENTION_HOURS": "3d"}, "retention_hours must be a whole"),
        ({"PIVOTAL_DATAQUALITY_UPLOAD_RETENTION_HOURS": "0"}, "must be at least 1"),
    ],
)
def test_bad_import_file_settings_are_refused(environ, message):
    with pytest.raises(SettingsError, match=message):
        merge_settings({"auth.secret": SECRET}, {}, environ)
