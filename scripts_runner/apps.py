from django.apps import AppConfig


class ScriptsRunnerConfig(AppConfig):
    name = "scripts_runner"
    default_auto_field = "django.db.models.BigAutoField"
