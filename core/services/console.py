"""The operator console's home page: the figures and common actions the apps register.

core knows no domain app, so each app contributes its own from its AppConfig.ready():

    from core.services import console

    console.register_figures("product.catalog", catalog_figures, permission="product.view_product")
    console.register_action(
        "import_manager.new", "New import", "admin:import_manager_importrun_new",
        permission="import_manager.view_importrun",
    )

A figure provider takes the user looking at the page and returns its `Figure`s, each with the
admin list behind its number (an admin URL name and the list's filter). Providers should cost
one aggregate query each: the home page runs all of them on every visit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

#: What the console (the Django admin) is called: the site header, page titles, login page.
PLATFORM_NAME = "Commerce operations platform"
#: The window of the "recent" figures (failed jobs, imports), in days.
RECENT_DAYS = 7


@dataclass(frozen=True)
class Figure:
    """One number on the home page and the list behind it."""

    key: str  # stable identifier (page element and tests), e.g. "products"
    label: str
    value: int
    url_name: str = ""  # admin URL name of the list behind the number
    query: dict[str, str] = field(default_factory=dict)  # that list's filter
    alert: bool = False  # a non-zero value wants attention (failures)


@dataclass(frozen=True)
class Action:
    """A link to a common task ("New import"), shown to users with `permission`."""

    key: str
    label: str
    url_name: str
    query: dict[str, str] = field(default_factory=dict)
    permission: str | None = None
    order: int = 100


FigureProvider = Callable[[object], Iterable[Figure]]


@dataclass(frozen=True)
class _Provider:
    key: str
    figures: FigureProvider
    permission: str | None
    order: int


_PROVIDERS: dict[str, _Provider] = {}
_ACTIONS: dict[str, Action] = {}


def register_figures(
    key: str, provider: FigureProvider, *, permission: str | None = None, order: int = 100
) -> None:
    """Show `provider(user)`'s figures on the home page (to users with `permission`), sorted
    by `order`. Registering the same key again replaces it (ready() may run twice)."""
    _PROVIDERS[key] = _Provider(key, provider, permission, order)


def register_action(
    key: str,
    label: str,
    url_name: str,
    *,
    query: dict[str, str] | None = None,
    permission: str | None = None,
    order: int = 100,
) -> None:
    """Link a common task from the home page (to users with `permission`), sorted by `order`."""
    _ACTIONS[key] = Action(key, label, url_name, dict(query or {}), permission, order)


def figures_for(user) -> list[Figure]:
    """Every registered figure `user` may see, in registration order within each `order`."""
    providers = sorted(_PROVIDERS.values(), key=lambda provider: provider.order)
    return [
        figure
        for provider in providers
        if _may(user, provider.permission)
        for figure in provider.figures(user)
    ]


def actions_for(user) -> list[Action]:
    """Every registered action `user` may take."""
    actions = sorted(_ACTIONS.values(), key=lambda action: action.order)
    return [action for action in actions if _may(user, action.permission)]


def _may(user, permission: str | None) -> bool:
    return permission is None or user.has_perm(permission)
