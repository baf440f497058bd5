from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Platform core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.utils.module_loading import autodiscover_modules

        from . import (
            checks,  # noqa: F401  (settings checks)
            schema,  # noqa: F401  (OpenAPI extension for the bearer authentication)
            signals,  # noqa: F401  (role groups after migrate)
            throttles,  # noqa: F401  (start-up check of the rate limit settings)
            worker_signals,  # noqa: F401  (lost and stopped jobs; only fire in workers)
        )

        # Every app declares its job kinds in `<app>/jobs.py`; workers and web must know all.
        autodiscover_modules("jobs")

        from .console import register_console

        register_console()
