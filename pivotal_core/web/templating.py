"""Template lookup for the staff UI: the active theme first, then plugins, then the core.

Templates are named by area (``accounts/list.jinja2``); a theme overrides any of them by
shipping a file of the same name under ``themes/<theme>/templates/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyramid.config import Configurator

import pivotal_core

REGISTRY_KEY = "pivotal.template_dirs"


def themes_dir(settings: dict[str, Any]) -> Path:
    configured = settings.get("pivotal.themes_dir")
    if configured:
        return Path(configured)
    return Path(pivotal_core.__file__).resolve().parent.parent / "themes"


def theme_dir(settings: dict[str, Any]) -> Path:
    path = themes_dir(settings) / settings["pivotal.theme"]
    if not path.is_dir():
        raise ValueError(
            f"pivotal.theme {settings['pivotal.theme']!r}: no theme folder at {path}"
            " (set pivotal.themes_dir)"
        )
    return path


def add_template_dir(config: Configurator, path: str | Path, owner: str = "plugin") -> None:
    """Add a folder of templates; ``owner`` is ``core`` or ``plugin`` (plugins win over core)."""
    dirs = config.registry.setdefault(REGISTRY_KEY, {"theme": [], "plugin": [], "core": []})
    dirs[owner].append(str(path))


def apply_template_lookup(config: Configurator) -> None:
    """Set the Jinja2 search path once every area and plugin has added its folders."""
    dirs = config.registry[REGISTRY_KEY]
    environment = config.get_jinja2_environment()
    environment.loader.searchpath = dirs["theme"] + dirs["plugin"] + dirs["core"]
    environment.cache.clear() if environment.cache is not None else None
