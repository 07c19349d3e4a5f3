"""The plugin manager: entry-point discovery, enabling by name, and the core's own plugins."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

import pluggy

from pivotal_core import hookspecs

ENTRY_POINT_GROUP = "pivotal.plugins"

# The core's own implementations of its hooks; registered first, never disabled.
CORE_PLUGINS = ("pivotal_core.defaults",)


class PluginError(RuntimeError):
    """A plugin configuration problem that stops start-up."""


@dataclass(frozen=True)
class PluginInfo:
    name: str
    distribution: str
    version: str
    enabled: bool
    hooks: tuple[str, ...]


def installed_plugins() -> dict[str, EntryPoint]:
    """Installed ``pivotal.plugins`` entry points by name."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def build_plugin_manager(enabled: list[str]) -> pluggy.PluginManager:
    """Build the manager with the core plugins and the installed plugins named in ``enabled``."""
    import importlib

    pm = pluggy.PluginManager("pivotal")
    pm.add_hookspecs(hookspecs)
    for dotted in CORE_PLUGINS:
        pm.register(importlib.import_module(dotted), name=dotted)
    installed = installed_plugins()
    core_names = set(CORE_PLUGINS)
    core = sorted(name for name in enabled if name in core_names)
    if core:
        raise PluginError(
            f"pivotal.plugins names {', '.join(core)}: part of the core, always enabled; "
            "remove it from the list"
        )
    unknown = sorted(name for name in enabled if name not in installed)
    if unknown:
        listing = ", ".join(sorted(installed)) or "(none)"
        raise PluginError(
            f"pivotal.plugins names {', '.join(unknown)}, which is not installed; "
            f"installed plugins: {listing}"
        )
    for name in installed:
        if name not in enabled:
            pm.set_blocked(name)
    # Historic: plugins registered below still receive it and can add their specs.
    pm.hook.pivotal_addhooks.call_historic(kwargs={"pluginmanager": pm})
    try:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(
            f"plugin {exc.plugin_name!r} does not fit the hook contract: {exc}"
        ) from exc
    return pm


def describe_plugins(pm: pluggy.PluginManager | None, enabled: list[str]) -> list[PluginInfo]:
    """Every installed plugin, its version, whether it is enabled and the hooks it implements."""
    infos = []
    for name, ep in sorted(installed_plugins().items()):
        dist = ep.dist
        plugin = pm.get_plugin(name) if pm is not None else None
        if plugin is None:
            plugin = ep.load()
        checker = pm or pluggy.PluginManager("pivotal")
        hooks = tuple(
            sorted(
                attr
                for attr in dir(plugin)
                if attr.startswith("pivotal_") and checker.parse_hookimpl_opts(plugin, attr)
            )
        )
        infos.append(
            PluginInfo(
                name=name,
                distribution=dist.metadata["Name"] if dist else "?",
                version=dist.version if dist else "?",
                enabled=name in enabled,
                hooks=hooks,
            )
        )
    return infos
