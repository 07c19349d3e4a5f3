"""Contacts area: people at accounts."""


def includeme(config):
    config.include(".api")
    config.include(".pages")
