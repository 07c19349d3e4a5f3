"""The staff UI's sidebar: core sections plus plugins' items, filtered by permission."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyramid.request import Request

from pivotal_core.authnz.permissions import Permission

SECTION_ORDER = ("Overview", "Data", "Audience", "Campaigns", "Quality", "Admin")


@dataclass(frozen=True)
class NavItem:
    section: str
    label: str
    route: str
    permission: str | None
    order: int = 100
    shortcut: str | None = None


CORE_ITEMS = (
    NavItem("Overview", "Dashboard", "web.dashboard", Permission.ME, 10, "g d"),
    NavItem("Data", "Accounts", "web.accounts", Permission.ACCOUNTS_READ, 10, "g a"),
    NavItem("Data", "Contacts", "web.contacts", Permission.CONTACTS_READ, 20, "g c"),
    NavItem("Data", "Imports", "web.imports", Permission.DATAQUALITY_IMPORT, 30),
    NavItem("Data", "Duplicates", "web.duplicates", Permission.DATAQUALITY_READ, 40),
    NavItem("Audience", "Segments", "web.segments", Permission.AUDIENCE_READ, 10, "g s"),
    NavItem("Audience", "Lists", "web.lists", Permission.AUDIENCE_READ, 20, "g l"),
    NavItem("Audience", "Domain sets", "web.domain_sets", Permission.AUDIENCE_READ, 30),
    NavItem("Admin", "Jobs", "web.jobs", Permission.JOBS_READ, 10, "g j"),
    NavItem("Admin", "Users", "web.users", Permission.USERS_READ, 20, "g u"),
    NavItem("Admin", "Plugins", "web.plugins", Permission.PLUGINS_READ, 30, "g p"),
)


def navigation(request: Request) -> list[tuple[str, list[NavItem]]]:
    """Sections with the items the current user may open, in display order."""
    items: list[NavItem] = [item for item in CORE_ITEMS if _route_exists(request, item.route)]
    for batch in request.hooks.pivotal_navigation(request=request):
        for raw in batch:
            items.append(_item(raw))
    identity = request.identity
    allowed = identity.permissions if identity else frozenset()
    visible = [i for i in items if i.permission is None or i.permission in allowed]
    sections: dict[str, list[NavItem]] = {}
    for item in sorted(visible, key=lambda i: (i.order, i.label)):
        sections.setdefault(item.section, []).append(item)
    order = {name: n for n, name in enumerate(SECTION_ORDER)}
    return sorted(sections.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))


def _item(raw: Any) -> NavItem:
    if isinstance(raw, NavItem):
        return raw
    return NavItem(
        section=raw.get("section", "Plugins"),
        label=raw["label"],
        route=raw["route"],
        permission=raw.get("permission"),
        order=int(raw.get("order", 100)),
        shortcut=raw.get("shortcut"),
    )


def _route_exists(request: Request, name: str) -> bool:
    from pyramid.interfaces import IRoutesMapper

    return request.registry.getUtility(IRoutesMapper).get_route(name) is not None
