"""Channels available to campaigns: /api/v1/channels."""

from __future__ import annotations

from pyramid.request import Request

from pivotal_core.api.endpoints import add_endpoint
from pivotal_core.authnz.permissions import Permission


def list_channels(request: Request):
    channels = request.registry["pivotal.channels"]
    return {
        "items": [
            {
                "name": c.name,
                "label": c.label,
                "settings": [child.name for child in c.settings_schema.children],
            }
            for c in channels.values()
        ]
    }


def includeme(config):
    add_endpoint(
        config,
        "api.channels",
        "/channels",
        "GET",
        list_channels,
        permission=Permission.CHANNELS_READ,
        tag="campaigns",
        summary="Campaign channels provided by enabled plugins",
    )
