"""Campaigns: the channel registry (campaign records arrive with the channel work)."""

from pivotal_core.campaigns.channels import collect_channels


def includeme(config):
    config.registry["pivotal.channels"] = collect_channels(config.registry.pivotal_hooks.hook)
    config.include(".api")
