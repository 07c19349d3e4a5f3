"""The plugin contract: every hook a Pivotal plugin may implement.

Each hook is documented in ``docs/plugins/hooks.md``; a test fails when one is not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    from huey import Huey
    from pyramid.config import Configurator
    from pyramid.request import Request

    from pivotal_core.authnz.permissions import PermissionGrant
    from pivotal_core.campaigns.channels import Channel

hookspec = pluggy.HookspecMarker("pivotal")


# --------------------------------------------------------------------------
# Start-up: a plugin describes itself
# --------------------------------------------------------------------------


@hookspec(historic=True)
def pivotal_addhooks(pluginmanager: pluggy.PluginManager) -> None:
    """Add a plugin's own hook specifications to the manager.

    Called once, historically: plugins registered later still receive the call.
    The email plugin uses it to add the ESP provider hook.

    :param pluginmanager: the application's plugin manager.
    """


@hookspec
def pivotal_settings_defaults() -> Mapping[str, Any]:
    """Return default settings as ``{"<plugin>.<key>": value}``.

    Defaults of every plugin are merged under the ``.ini`` file and the
    ``PIVOTAL_*`` environment; two plugins claiming the same key is an error.
    """


@hookspec
def pivotal_configure(config: Configurator) -> None:
    """Add the plugin's routes, views, templates, static assets and services.

    Called after the core has committed its configuration, so a plugin may
    override core views without a configuration conflict.

    :param config: the application's Pyramid configurator.
    """


@hookspec
def pivotal_permissions() -> Sequence[PermissionGrant]:
    """Return extra permissions and the roles that get them.

    Each item is a :class:`pivotal_core.authnz.permissions.PermissionGrant`
    (a permission name such as ``"email:send"`` and the role names granted it).
    """


@hookspec
def pivotal_migration_locations() -> Sequence[str]:
    """Return the paths of the plugin's Alembic version folders.

    Each folder holds one branch labelled with the plugin's name; its tables are
    prefixed with the plugin's name. Installed plugins contribute their folder
    whether enabled or not, so switching a plugin back on loses nothing.
    """


@hookspec
def pivotal_register_tasks(huey: Huey) -> None:
    """Register the plugin's huey tasks and periodic tasks on ``huey``.

    Use :func:`pivotal_core.jobs.queue.register_task` so the task runs inside a
    transaction of its own and reports progress in the ``jobs`` table.
    """


@hookspec
def pivotal_filter_fields() -> Sequence[Any]:
    """Return extra audience filter fields (email engagement, call outcomes, ...).

    Called each time the audience engine lists filter fields or compiles a filter, and
    once at start-up to check the results. Each item is a
    :class:`pivotal_core.audience.fields.FilterField`; every result is collected.
    """


@hookspec
def pivotal_channels() -> Sequence[Channel]:
    """Return the campaign channels the plugin provides.

    A channel follows :class:`pivotal_core.campaigns.channels.Channel`.
    """


@hookspec
def pivotal_contact_blockers(contact: Any, channel: str, at: datetime) -> Sequence[str]:
    """Return reasons not to contact ``contact`` on ``channel`` at ``at``.

    Called by the compliance gate for every contact decision; an empty result
    means no objection. Every result is collected: any reason blocks contact.
    """


@hookspec
def pivotal_navigation(request: Request) -> Sequence[Mapping[str, Any]]:
    """Return sidebar items for the staff UI.

    Each item is ``{"section", "label", "route", "permission", "order"}``; items
    whose permission the current user lacks are hidden by the core.
    """


# --------------------------------------------------------------------------
# Broadcasts: something happened
# --------------------------------------------------------------------------


@hookspec
def pivotal_record_changed(
    entity: str, record: Any, changes: Mapping[str, tuple[Any, Any]], actor: Any, action: str
) -> None:
    """Called after an audited create, update, delete or restore, inside its transaction.

    An exception raised here aborts the change; do slow or fallible work in a job.

    :param entity: entity type, e.g. ``"contact"``.
    :param record: the ORM object after the change.
    :param changes: ``{field: (old, new)}`` of the fields that changed.
    :param actor: the :class:`pivotal_core.audit.services.Actor` (user id, source,
        request or job id) that made the change.
    :param action: ``"create"``, ``"update"``, ``"delete"`` or ``"restore"``.
    """


@hookspec
def pivotal_lead_transitioned(lead: Any, old: str, new: str, actor: Any) -> None:
    """Called after a lead moves from QA state ``old`` to ``new``."""


@hookspec
def pivotal_suppression_added(suppression: Any) -> None:
    """Called after a DNC, unsubscribe or bounce suppression is recorded."""
