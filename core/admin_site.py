"""The admin site as the platform's operator console: named after the platform, and a home
page that opens on the figures and common actions the apps register (core.services.console).

It is Django's default site (`admin.site`, `@admin.register`): INSTALLED_APPS names
`config.apps.ConsoleAdminConfig` in place of "django.contrib.admin".
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.contrib import admin
from django.urls import NoReverseMatch, reverse

from core.services import console


@dataclass(frozen=True)
class ConsoleLink:
    """A figure or an action as the home page shows it: its URL resolved."""

    key: str
    label: str
    url: str
    value: int | None = None
    alert: bool = False


class ConsoleAdminSite(admin.AdminSite):
    site_header = console.PLATFORM_NAME
    site_title = console.PLATFORM_NAME
    index_title = "Operator console"
    index_template = "admin/console/index.html"

    def index(self, request, extra_context=None):
        user = request.user
        context = {
            "console_figures": [
                ConsoleLink(
                    figure.key,
                    figure.label,
                    _url(figure.url_name, figure.query),
                    value=figure.value,
                    alert=figure.alert and figure.value > 0,
                )
                for figure in console.figures_for(user)
            ],
            "console_actions": [
                ConsoleLink(action.key, action.label, url)
                for action in console.actions_for(user)
                if (url := _url(action.url_name, action.query))
            ],
            **(extra_context or {}),
        }
        return super().index(request, context)


def _url(url_name: str, query: dict[str, str]) -> str:
    """The admin URL of `url_name` with `query`; "" when it is not installed (no link)."""
    if not url_name:
        return ""
    try:
        path = reverse(url_name)
    except NoReverseMatch:
        return ""
    return f"{path}?{urlencode(query)}" if query else path
