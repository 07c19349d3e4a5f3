"""Accounts area: companies, their domains and hierarchy."""


def includeme(config):
    config.include(".api")
    config.include(".pages")
