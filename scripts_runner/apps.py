from django.apps import AppConfig


class ScriptsRunnerConfig(AppConfig):
    name = "scripts_runner"
    verbose_name = "Scripts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.db.models.signals import post_delete

        from core.models import Job

        from .services.registry import load_scripts
        from .signals import remove_run_folder

        # Web and worker must both know every script (API listing, job handler).
        load_scripts()
        post_delete.connect(remove_run_folder, sender=Job, dispatch_uid="scripts_runner.folder")

        from .console import register_console

        register_console()  # "Run a script" on the operator console's home page
