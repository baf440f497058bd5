from django.apps import AppConfig


class ScriptsRunnerConfig(AppConfig):
    name = "scripts_runner"
    verbose_name = "Scripts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from .services.registry import load_scripts

        # Web and worker must both know every script (API listing, job handler).
        load_scripts()
