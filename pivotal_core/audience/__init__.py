"""The audience engine: filter fields, the filter DSL, saved filters, segments and lists."""


def includeme(config):
    from pivotal_core.audience.fields import check_unique, plugin_fields

    # Plugin fields are read again for each query; checking them once here turns a broken
    # plugin field into a start-up error rather than a failing request.
    check_unique(plugin_fields(config.registry.pivotal_hooks.hook))
    config.include(".api")
    config.include(".bulk_api")
    config.include(".bulk_pages")
    config.include(".domain_set_api")
    config.include(".domain_set_pages")
    config.include(".pages")
