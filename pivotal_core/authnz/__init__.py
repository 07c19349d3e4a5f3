"""Authentication and authorization: passwords, tokens, the security policy and roles."""

from pivotal_core.authnz.permissions import build_role_permissions
from pivotal_core.authnz.policy import UNDECLARED_PERMISSION, PivotalSecurityPolicy
from pivotal_core.authnz.tokens import TokenConfig


def includeme(config):
    registry = config.registry
    registry["pivotal.token_config"] = TokenConfig.from_settings(config.get_settings())
    grants = [g for batch in registry.pivotal_hooks.hook.pivotal_permissions() for g in batch]
    registry["pivotal.role_permissions"] = build_role_permissions(grants)
    config.set_security_policy(PivotalSecurityPolicy())
    config.set_default_permission(UNDECLARED_PERMISSION)
    config.include(".api")
