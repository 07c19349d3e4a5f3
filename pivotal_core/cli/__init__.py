"""The ``pivotal`` command: database, users, plugins, worker, demo data, imports, development
server."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from pivotal_core.config import SettingsError
from pivotal_core.errors import PivotalError
from pivotal_core.plugins import PluginError


@dataclass
class Context:
    config_path: str
    _registry: Any = None

    @property
    def ini(self) -> dict[str, Any]:
        from pyramid.paster import get_appsettings, setup_logging

        path = Path(self.config_path)
        if not path.exists():
            raise click.UsageError(f"configuration file {path} not found (use -c FILE)")
        setup_logging(str(path))
        return dict(get_appsettings(str(path)))

    @property
    def registry(self) -> Any:
        if self._registry is None:
            from pivotal_core.app import make_config

            self._registry = make_config({}, self.ini).registry
        return self._registry

    @property
    def settings(self) -> dict[str, Any]:
        return self.registry.settings


def run_in_transaction(registry: Any, work):
    """Run ``work(session)`` in a transaction of its own; returns its result."""
    from pivotal_core.db import new_transaction_manager, tm_session

    manager = new_transaction_manager()
    with manager:
        session = tm_session(registry["dbsession_factory"], manager)
        session.info["pivotal.hooks"] = registry.pivotal_hooks.hook
        return work(session)


class PivotalGroup(click.Group):
    """Turns the errors a user can cause into a one-line message and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (PluginError, SettingsError) as exc:
            raise click.ClickException(str(exc)) from exc
        except PivotalError as exc:
            fields = "; ".join(f"{k}: {v}" for k, v in exc.fields.items())
            raise click.ClickException(exc.message + (f" ({fields})" if fields else "")) from exc


@click.group(cls=PivotalGroup)
@click.option(
    "-c",
    "--config",
    "config_path",
    default=lambda: os.environ.get("PIVOTAL_CONFIG", "development.ini"),
    show_default="development.ini or $PIVOTAL_CONFIG",
    help="The .ini file to use.",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str) -> None:
    """Pivotal CRM administration."""
    ctx.obj = Context(config_path)


def main() -> None:
    from pivotal_core.cli import commands  # noqa: F401 - registers the commands

    cli()
