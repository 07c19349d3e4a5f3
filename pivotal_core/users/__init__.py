"""Users area: staff and portal users."""


def includeme(config):
    config.include(".api")
    config.include(".pages")
