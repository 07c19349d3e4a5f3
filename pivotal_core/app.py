"""Builds the WSGI application: settings, the plugin manager, the core areas, then plugins."""

from __future__ import annotations

import os
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from pyramid.config import Configurator
from pyramid.request import Request

from pivotal_core.config import SettingsError, as_list, env_name, merge_settings
from pivotal_core.plugins import build_plugin_manager
from pivotal_core.web.templating import apply_template_lookup

CORE_AREAS = (
    "pivotal_core.db",
    "pivotal_core.authnz",
    "pivotal_core.api",
    "pivotal_core.users",
    "pivotal_core.accounts",
    "pivotal_core.contacts",
    "pivotal_core.customfields",
    "pivotal_core.audience",
    "pivotal_core.dataquality",
    "pivotal_core.jobs",
    "pivotal_core.campaigns",
    "pivotal_core.web",
)


def pivotal_version() -> str:
    try:
        return version("pivotal-core")
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "0+unknown"


def load_settings(ini: dict[str, Any], environ: dict[str, str] | None = None) -> tuple[dict, Any]:
    """Settings and the plugin manager, built together: plugin defaults sit under the .ini."""
    environ = dict(os.environ) if environ is None else environ
    enabled = as_list(environ.get(env_name("pivotal.plugins"), ini.get("pivotal.plugins", "")))
    pm = build_plugin_manager(enabled)
    plugin_defaults: dict[str, Any] = {}
    for defaults in pm.hook.pivotal_settings_defaults():
        for key, value in defaults.items():
            if key in plugin_defaults:
                raise SettingsError(f"two plugins declare a default for {key!r}")
            plugin_defaults[key] = value
    settings = merge_settings(ini, plugin_defaults, environ)
    settings["pivotal.version"] = pivotal_version()
    return settings, pm


def request_id(request: Request) -> str:
    from pivotal_core.api.records import request_id as from_headers

    return from_headers(request)


def make_config(global_config: dict[str, Any], ini: dict[str, Any]) -> Configurator:
    settings, pm = load_settings(ini)
    config = Configurator(settings=settings)
    config.registry.pivotal_hooks = pm
    config.add_request_method(
        lambda request: request.registry.pivotal_hooks.hook, "hooks", reify=True
    )
    config.add_request_method(request_id, "request_id", reify=True)
    for area in CORE_AREAS:
        config.include(area)
    # Plugins configure after the core has committed, so they may override core views.
    config.commit()
    pm.hook.pivotal_configure(config=config)
    config.commit()
    apply_template_lookup(config)
    return config


def make_app(global_config: dict[str, Any], ini: dict[str, Any]):
    return make_config(global_config, ini).make_wsgi_app()
