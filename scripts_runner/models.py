"""The script runner has no table of its own: a run is a core Job of kind `scripts.run`.

`ScriptRun` is a proxy of Job so the admin can list script runs (and host the script
launcher) under this app, with this app's permissions.
"""

from django.db import models

from core.models import Job
from scripts_runner.jobs import SCRIPT_RUN


class ScriptRunManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(kind=SCRIPT_RUN.name)


class ScriptRun(Job):
    objects = ScriptRunManager()

    class Meta:
        proxy = True
        verbose_name = "script run"
        verbose_name_plural = "script runs"

    @property
    def script_name(self) -> str:
        return (self.params or {}).get("script_name", "")
