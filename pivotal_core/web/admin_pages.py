"""Admin pages of the staff UI that belong to no single area: the installed plugins."""

from __future__ import annotations

from typing import Any

from pyramid.request import Request
from pyramid.view import view_config

from pivotal_core.authnz.permissions import Permission
from pivotal_core.config import env_name
from pivotal_core.plugins import CORE_PLUGINS, describe_plugins


@view_config(
    route_name="web.plugins", renderer="web/plugins.jinja2", permission=Permission.PLUGINS_READ
)
def plugin_list(request: Request) -> dict[str, Any]:
    """Read-only: plugins are switched on in the .ini (``pivotal.plugins``), not here."""
    enabled = list(request.registry.settings["pivotal.plugins"])
    return {
        "plugins": describe_plugins(request.registry.pivotal_hooks, enabled),
        "enabled": enabled,
        "core_plugins": CORE_PLUGINS,
        "env_var": env_name("pivotal.plugins"),
        "version": request.registry.settings.get("pivotal.version"),
    }


def includeme(config):
    config.add_route("web.plugins", "/admin/plugins")
    config.scan(".admin_pages")
