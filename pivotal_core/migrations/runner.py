"""Running Alembic from code: ``pivotal db upgrade`` and the tests use this."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

from alembic import command
from alembic.config import Config

from pivotal_core.plugins import ENTRY_POINT_GROUP, build_plugin_manager, installed_plugins

HERE = Path(__file__).parent


def load_plugin_models() -> None:
    """Import every installed plugin so its tables are in the metadata."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        ep.load()


def migration_locations() -> list[str]:
    """Version folders of the core and of every installed plugin, enabled or not: a
    disabled plugin's tables stay, so switching it back on loses nothing."""
    pm = build_plugin_manager(sorted(installed_plugins()))
    locations: list[str] = []
    for batch in pm.hook.pivotal_migration_locations():
        for location in batch:
            if location not in locations:
                locations.append(location)
    return locations


def alembic_config(url: str, connection=None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.set_main_option("version_locations", " ".join(migration_locations()))
    cfg.set_main_option("path_separator", "space")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(url: str, target: str = "heads", connection=None) -> None:
    """Upgrade ``core@head`` and the head of every installed plugin's branch."""
    command.upgrade(alembic_config(url, connection), target)


def current_heads(url: str) -> list[str]:
    from alembic.script import ScriptDirectory

    return list(ScriptDirectory.from_config(alembic_config(url)).get_heads())
