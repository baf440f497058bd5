from django.apps import AppConfig


class ImportManagerConfig(AppConfig):
    name = "import_manager"
    verbose_name = "Catalog imports"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import (
            checks,  # noqa: F401  (registers the system checks)
            receivers,  # noqa: F401  (job_finished → import_completed, file cleanup)
        )
        from .console import register_console

        register_console()  # figure and "New import" on the operator console's home page
