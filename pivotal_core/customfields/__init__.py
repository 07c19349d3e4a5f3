"""Custom fields: typed fields defined at run time for accounts and contacts."""


def includeme(config):
    config.include(".api")
