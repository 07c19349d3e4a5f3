"""Background jobs: huey tasks and their progress in the ``jobs`` table."""

from pivotal_core.jobs.queue import TaskContext, make_huey


def includeme(config):
    registry = config.registry
    settings = config.get_settings()
    huey = make_huey(settings)
    registry["pivotal.huey"] = huey
    registry.pivotal_hooks.hook.pivotal_register_tasks(huey=huey)
    config.add_request_method(lambda request: request.registry["pivotal.huey"], "huey", reify=True)
    huey.pivotal_context = TaskContext(registry)
    config.include(".api")
    config.include(".pages")
