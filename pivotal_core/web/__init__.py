"""The staff web UI: templates, theme assets, sign-in, the shell and its error pages."""

from __future__ import annotations

from pathlib import Path

from pyramid.csrf import CookieCSRFStoragePolicy
from pyramid.security import NO_PERMISSION_REQUIRED

from pivotal_core.web.templating import add_template_dir, theme_dir

# Front-end packages installed into the theme by `make setup` (npm ci), served as-is.
VENDOR_ASSETS = {
    "htmx": "htmx.org/dist",
    "inter": "@fontsource/inter",
    "jetbrains-mono": "@fontsource/jetbrains-mono",
    "chartjs": "chart.js/dist",
}


def includeme(config):
    settings = config.get_settings()
    config.include("pyramid_jinja2")
    config.add_jinja2_renderer(".jinja2")
    theme = theme_dir(settings)
    add_template_dir(config, theme / "templates", owner="theme")
    add_template_dir(config, Path(__file__).parent / "templates", owner="core")
    cache = 0 if settings["pivotal.env"] == "development" else 3600
    # Styles, scripts and fonts are public: the sign-in page needs them.
    public = {"cache_max_age": cache, "permission": NO_PERMISSION_REQUIRED}
    config.add_static_view("static/theme", str(theme / "static"), **public)
    for name, folder in VENDOR_ASSETS.items():
        config.add_static_view(
            f"static/vendor/{name}", str(theme / "node_modules" / folder), **public
        )
    config.set_csrf_storage_policy(
        CookieCSRFStoragePolicy(cookie_name="pivotal_csrf", samesite="Lax", httponly=False)
    )
    config.set_default_csrf_options(
        require_csrf=True,
        token="csrf_token",  # noqa: S106 - the form field's name, not a secret
        header="X-CSRF-Token",
    )
    config.include(".pages")
    config.include(".admin_pages")
