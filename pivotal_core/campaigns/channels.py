"""The channel contract: what a campaign channel plugin (email, phone, ...) provides."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import colander

from pivotal_core.plugins import PluginError


@runtime_checkable
class Channel(Protocol):
    """A campaign channel, returned by a plugin's ``pivotal_channels`` hook.

    ``name`` is a stable identifier (``"email"``, ``"phone"``); ``label`` is shown to
    people. ``settings_schema`` validates a campaign's channel settings.
    ``presend_checks`` returns the problems that stop a launch (empty means ready);
    ``launch`` starts sending. ``templates`` maps campaign page slots to template names.
    """

    name: str
    label: str
    settings_schema: colander.SchemaNode
    templates: dict[str, str]

    def presend_checks(self, campaign: Any) -> Sequence[str]: ...

    def launch(self, campaign: Any) -> None: ...


def collect_channels(hooks: Any) -> dict[str, Channel]:
    """Every enabled plugin's channels by name; two channels with one name is an error."""
    channels: dict[str, Channel] = {}
    for batch in hooks.pivotal_channels():
        for channel in batch:
            if not isinstance(channel, Channel):
                raise PluginError(f"{channel!r} does not follow the Channel contract")
            if channel.name in channels:
                raise PluginError(f"two plugins provide a channel named {channel.name!r}")
            channels[channel.name] = channel
    return channels
