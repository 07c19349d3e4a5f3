"""Pivotal CRM core: the WSGI application factory and the plugin marker."""

from __future__ import annotations

import pluggy

hookimpl = pluggy.HookimplMarker("pivotal")

__all__ = ["hookimpl", "main"]


def main(global_config: dict | None = None, **settings: str):
    """Build the Pivotal WSGI application (PasteDeploy ``app_factory``)."""
    from pivotal_core.app import make_app

    return make_app(global_config or {}, settings)
