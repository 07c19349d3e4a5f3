"""Hello channel: a minimal campaign channel plugin for Pivotal, kept small enough to read
in one sitting. It shows every part of the channel contract and one API endpoint."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import colander
from pyramid.config import Configurator
from pyramid.request import Request

from pivotal_core import hookimpl
from pivotal_core.api.endpoints import add_endpoint
from pivotal_core.api.validation import Text
from pivotal_core.authnz.permissions import PermissionGrant
from pivotal_core.web.templating import add_template_dir

GREET_PERMISSION = "hello:greet"
GREETING_SETTING = "hello_channel.greeting"
GREETING_MAX_LENGTH = 200
NAME_MAX_LENGTH = 100


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


class HelloCampaignSettings(colander.MappingSchema):
    """A hello campaign's channel settings."""

    greeting = colander.SchemaNode(
        Text(),
        preparer=_strip,
        validator=colander.Length(min=1, max=GREETING_MAX_LENGTH, min_err="may not be blank"),
        description="Words put before each recipient's name, e.g. 'Good morning'",
    )


class HelloGreetRequest(colander.MappingSchema):
    name = colander.SchemaNode(
        Text(),
        preparer=_strip,
        validator=colander.Length(min=1, max=NAME_MAX_LENGTH, min_err="may not be blank"),
        description="Who to greet",
    )


class HelloGreetResponse(colander.MappingSchema):
    greeting = colander.SchemaNode(Text())


class LaunchRefused(ValueError):
    """A campaign was launched while its pre-send checks still report problems."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("campaign is not ready to launch: " + "; ".join(problems))
        self.problems = list(problems)


def recipient_name(contact: Any) -> str | None:
    """The name a recipient is greeted by: first and last name, else the email address."""
    parts = [getattr(contact, "first_name", None), getattr(contact, "last_name", None)]
    full_name = " ".join(part.strip() for part in parts if part and part.strip())
    return full_name or getattr(contact, "email", None) or None


class HelloChannel:
    """A channel that greets each recipient of a campaign by name.

    Campaign records are not part of the core yet, so ``campaign`` is any object with
    ``settings`` (a dict validated by :attr:`settings_schema`) and ``recipients`` (an
    iterable of contacts: objects with ``first_name``, ``last_name`` and ``email``
    attributes, such as :class:`pivotal_core.contacts.models.Contact`).

    Nothing leaves the process: :meth:`launch` composes one greeting line per
    recipient, returns them and appends them to :attr:`launched`, which is what a
    real channel would hand to its transport.
    """

    name = "hello"
    label = "Hello (example)"
    templates = {"campaign_settings": "pivotal_hello_channel:templates/settings.jinja2"}

    def __init__(self) -> None:
        self.settings_schema = HelloCampaignSettings()
        self.launched: list[str] = []

    def presend_checks(self, campaign: Any) -> list[str]:
        """Problems that stop ``campaign`` from launching; an empty list means ready."""
        problems, _, _ = self._check(campaign.settings, list(campaign.recipients))
        return problems

    def launch(self, campaign: Any) -> list[str]:
        """Greet every recipient; returns the lines and appends them to :attr:`launched`.

        :raises LaunchRefused: when :meth:`presend_checks` reports problems.
        """
        problems, settings, recipients = self._check(campaign.settings, list(campaign.recipients))
        if problems:
            raise LaunchRefused(problems)
        lines = [f"{settings['greeting']} {recipient_name(contact)}" for contact in recipients]
        self.launched.extend(lines)
        return lines

    def _check(
        self, settings: Any, recipients: list[Any]
    ) -> tuple[list[str], dict[str, Any], list[Any]]:
        problems: list[str] = []
        valid: dict[str, Any] = {}
        try:
            valid = self.settings_schema.deserialize(settings or {})
        except colander.Invalid as exc:
            problems.extend(
                f"settings.{path}: {message}" if path else f"settings: {message}"
                for path, message in sorted(exc.asdict().items())
            )
        if not recipients:
            problems.append("the campaign has no recipients")
        problems.extend(
            f"recipient {position} has neither a name nor an email address"
            for position, contact in enumerate(recipients, start=1)
            if recipient_name(contact) is None
        )
        return problems, valid, recipients


def greeting_for(request: Request, name: str) -> str:
    return f"{request.registry.settings[GREETING_SETTING]} {name}"


def greet(request: Request) -> dict[str, str]:
    """``POST /api/v1/hello/greet``: the site's greeting followed by the given name."""
    return {"greeting": greeting_for(request, request.validated["name"])}


def hello_page(request: Request) -> dict[str, Any]:
    """``/hello`` in the staff UI: the same greeting, from a form."""
    name = request.POST.get("name", "").strip() if request.method == "POST" else ""
    error = None
    if request.method == "POST" and not 0 < len(name) <= 100:
        error = "Enter a name of 1 to 100 characters."
        request.response.status_int = 400
    greeting = greeting_for(request, name) if name and error is None else None
    return {"name": name, "greeting": greeting, "error": error, "channel": HelloChannel()}


# --------------------------------------------------------------------------
# Hook implementations
# --------------------------------------------------------------------------


@hookimpl
def pivotal_settings_defaults() -> dict[str, Any]:
    return {GREETING_SETTING: "Hello"}


@hookimpl
def pivotal_permissions() -> list[PermissionGrant]:
    return [
        PermissionGrant(
            GREET_PERMISSION,
            ("admin", "manager", "campaign_manager"),
            "Ask the hello channel for a greeting",
        )
    ]


@hookimpl
def pivotal_channels() -> list[HelloChannel]:
    # A new object per application, so two apps in one process never share `launched`.
    return [HelloChannel()]


@hookimpl
def pivotal_configure(config: Configurator) -> None:
    add_endpoint(
        config,
        "api.hello.greet",
        "/hello/greet",
        "POST",
        greet,
        permission=GREET_PERMISSION,
        tag="hello",
        summary="Greet someone with the site's greeting (hello_channel.greeting)",
        body=HelloGreetRequest(),
        response=HelloGreetResponse(),
    )
    # A staff UI page, with its template in the plugin's folder (a theme may override it).
    add_template_dir(config, Path(__file__).parent / "templates", owner="plugin")
    config.add_route("hello.page", "/hello")
    config.add_view(
        hello_page,
        route_name="hello.page",
        request_method=("GET", "POST"),
        renderer="hello/page.jinja2",
        permission=GREET_PERMISSION,
    )


@hookimpl
def pivotal_navigation(request: Request) -> Iterable[dict[str, Any]]:
    return [
        {
            "section": "Campaigns",
            "label": "Hello channel",
            "route": "hello.page",
            "permission": GREET_PERMISSION,
            "order": 900,
        }
    ]
