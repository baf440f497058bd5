"""What catalog imports show on the operator console's home page (core.services.console)."""

from datetime import timedelta

from django.utils import timezone

from core.services import console
from import_manager.models import ImportRun
from product.services.dashboard import RECENT_IMPORTS_DAYS

IMPORTS = "admin:import_manager_importrun_changelist"


def import_figures(user) -> list[console.Figure]:
    """Imports started in the dashboard's window (RECENT_IMPORTS_DAYS), linked to that list."""
    since = (timezone.now() - timedelta(days=RECENT_IMPORTS_DAYS)).replace(microsecond=0)
    count = ImportRun.objects.filter(created_at__gte=since).count()
    return [
        console.Figure(
            "recent_imports",
            f"Imports, last {RECENT_IMPORTS_DAYS} days",
            count,
            IMPORTS,
            {"created_at__gte": since.isoformat()},
        )
    ]


def register_console() -> None:
    permission = "import_manager.view_importrun"
    console.register_figures(
        "import_manager.recent", import_figures, permission=permission, order=30
    )
    console.register_action(
        "import_manager.new",
        "New import",
        "admin:import_manager_importrun_new",
        permission=permission,
        order=10,
    )
