"""Permissions (``area:action``) and the roles that hold them.

Plugins add permissions through the ``pivotal_permissions`` hook.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum


class Permission(StrEnum):
    ME = "me:read"
    USERS_READ = "users:read"
    USERS_WRITE = "users:write"
    ACCOUNTS_READ = "accounts:read"
    ACCOUNTS_WRITE = "accounts:write"
    ACCOUNTS_DELETE = "accounts:delete"
    CONTACTS_READ = "contacts:read"
    CONTACTS_WRITE = "contacts:write"
    CONTACTS_DELETE = "contacts:delete"
    AUDIT_READ = "audit:read"
    CUSTOM_FIELDS_READ = "custom_fields:read"
    CUSTOM_FIELDS_WRITE = "custom_fields:write"
    JOBS_READ = "jobs:read"
    CHANNELS_READ = "channels:read"
    PLUGINS_READ = "plugins:read"
    AUDIENCE_READ = "audience:read"
    AUDIENCE_WRITE = "audience:write"
    CAMPAIGNS_READ = "campaigns:read"
    CAMPAIGNS_WRITE = "campaigns:write"
    CAMPAIGNS_LAUNCH = "campaigns:launch"
    LEADS_READ = "leads:read"
    LEADS_REVIEW = "leads:review"
    DATAQUALITY_READ = "dataquality:read"
    DATAQUALITY_MERGE = "dataquality:merge"
    DATAQUALITY_IMPORT = "dataquality:import"
    PRIVACY_ERASE = "privacy:erase"


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    CAMPAIGN_MANAGER = "campaign_manager"
    DATA_STEWARD = "data_steward"
    QA_REVIEWER = "qa_reviewer"
    AGENT = "agent"
    CLIENT = "client"


@dataclass(frozen=True)
class PermissionGrant:
    """A permission a plugin adds, and the roles that receive it."""

    permission: str
    roles: tuple[str, ...]
    description: str = ""


P = Permission
_STAFF_READ = {P.ME, P.ACCOUNTS_READ, P.CONTACTS_READ, P.JOBS_READ, P.CHANNELS_READ}

CORE_ROLES: dict[str, frozenset[str]] = {
    Role.ADMIN: frozenset(Permission),
    # Erasing personal data for good is for admins and data stewards only.
    Role.MANAGER: frozenset(set(Permission) - {P.USERS_WRITE, P.PRIVACY_ERASE}),
    Role.CAMPAIGN_MANAGER: frozenset(
        _STAFF_READ
        | {P.AUDIT_READ, P.CUSTOM_FIELDS_READ, P.CAMPAIGNS_READ, P.CAMPAIGNS_WRITE}
        | {P.CAMPAIGNS_LAUNCH, P.LEADS_READ, P.AUDIENCE_READ, P.AUDIENCE_WRITE}
    ),
    Role.DATA_STEWARD: frozenset(
        _STAFF_READ
        | {P.AUDIENCE_READ}
        | {P.ACCOUNTS_WRITE, P.ACCOUNTS_DELETE, P.CONTACTS_WRITE, P.CONTACTS_DELETE}
        | {P.AUDIT_READ, P.CUSTOM_FIELDS_READ, P.CUSTOM_FIELDS_WRITE}
        | {P.DATAQUALITY_READ, P.DATAQUALITY_MERGE, P.PRIVACY_ERASE}
        | {P.DATAQUALITY_IMPORT}
    ),
    Role.QA_REVIEWER: frozenset(_STAFF_READ | {P.AUDIT_READ, P.LEADS_READ, P.LEADS_REVIEW}),
    Role.AGENT: frozenset({P.ME, P.CONTACTS_READ, P.ACCOUNTS_READ, P.CAMPAIGNS_READ}),
    # Portal users reach their organisation's data through the portal plugin only.
    Role.CLIENT: frozenset({P.ME}),
}


def build_role_permissions(
    grants: Iterable[PermissionGrant],
) -> Mapping[str, frozenset[str]]:
    """Core roles merged with plugin grants; an unknown role in a grant is an error."""
    roles = {role: set(perms) for role, perms in CORE_ROLES.items()}
    for grant in grants:
        for role in grant.roles:
            if role not in roles:
                from pivotal_core.plugins import PluginError

                raise PluginError(
                    f"permission {grant.permission!r} is granted to unknown role {role!r}"
                )
            roles[role].add(grant.permission)
        # The admin holds every permission, including plugins' ones.
        roles[Role.ADMIN].add(grant.permission)
    return {role: frozenset(perms) for role, perms in roles.items()}
