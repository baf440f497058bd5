"""`python manage.py runscript NAME --param key=value …`: run a registered script from a shell.

Same validation as the API and the admin (values are parsed from text), same sandbox, and a
Job like any other run, so the run is in the history and its log downloadable. By default the
job runs in this process and its log is printed as it is written; `--enqueue` hands it to a
worker and follows it. Ctrl-C cancels the run. Exit status: 0 completed, 1 failed or
cancelled, 2 invalid parameters.
"""

from __future__ import annotations

import threading
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections, connection

from core.models import Job, JobLogLine
from core.services.jobs import cancel_job, execute_job
from scripts_runner.services.listing import scripts_grouped
from scripts_runner.services.parameters import TEXT
from scripts_runner.services.runs import (
    InvalidScriptParameters,
    create_script_job,
    start_script_run,
)

POLL_SECONDS = 0.2
TAIL_CHUNK = 5000


class Command(BaseCommand):
    help = "Run a registered script with validated parameters, printing its log."

    def add_arguments(self, parser):
        parser.add_argument("script", nargs="?", help="Script name (see --list).")
        parser.add_argument(
            "--param",
            "-p",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="A parameter; repeat the option (or use a,b) for a multi-choice parameter.",
        )
        parser.add_argument("--user", help="Email of the user the run belongs to.")
        parser.add_argument(
            "--enqueue", action="store_true", help="Run it on a worker and follow the log."
        )
        parser.add_argument("--list", action="store_true", help="List the scripts and exit.")

    def handle(self, *args, **options):
        if options["list"]:
            self._list()
            return
        if not options["script"]:
            raise CommandError("Name a script (see --list).")
        values = self._values(options["param"])
        owner = self._owner(options["user"])
        try:
            if options["enqueue"]:
                job = start_script_run(options["script"], values, owner=owner, source=TEXT)
            else:
                job = create_script_job(options["script"], values, owner=owner, source=TEXT)
        except InvalidScriptParameters as exc:
            problems = "\n".join(
                f"  {name}: {message}"
                for name, messages in (exc.fields or {}).items()
                for message in messages
            )
            raise CommandError(f"{exc.message}\n{problems}", returncode=2) from None
        self.stderr.write(f"Job {job.pk} ({job.title})")
        self._last_seq = 0  # survives the Ctrl-C restart of _follow: no line printed twice
        runner = None
        if not options["enqueue"]:
            runner = threading.Thread(target=_execute, args=(job.pk,), daemon=True)
            runner.start()
        try:
            job = self._follow(job, runner)
        except KeyboardInterrupt:
            self.stderr.write("Cancelling…")
            cancel_job(job.pk)
            job = self._follow(job, runner)
        if job.status != "completed":
            raise CommandError(f"Script {job.status}: {job.error.split(chr(10) * 2)[0]}")
        self.stderr.write(self.style.SUCCESS(f"Completed: {job.result.get('summary', job.result)}"))

    def _follow(self, job: Job, runner: threading.Thread | None) -> Job:
        """Print stored lines as they arrive until the job has ended and all are printed."""
        last_progress = None
        while True:
            done = (runner is not None and not runner.is_alive()) or (
                runner is None and Job.objects.get(pk=job.pk).is_terminal
            )
            rows = list(
                JobLogLine.objects.filter(job_id=job.pk, seq__gt=self._last_seq)
                .order_by("seq")
                .values_list("seq", "line")[:TAIL_CHUNK]
            )
            if rows:
                self.stdout.write("\n".join(line for _, line in rows))
                self._last_seq = rows[-1][0]
                continue
            job.refresh_from_db()
            progress = (job.progress, job.phase)
            if progress != last_progress and job.status == "running":
                last_progress = progress
                self.stderr.write(f"[{job.progress:3d}%] {job.phase}")
            if done and job.is_terminal:
                return job
            time.sleep(POLL_SECONDS)

    def _values(self, pairs: list[str]) -> dict:
        values: dict = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                raise CommandError(f"--param takes KEY=VALUE, got {pair!r}", returncode=2)
            key = key.strip()
            if key in values:
                previous = values[key]
                values[key] = (
                    [*previous, value] if isinstance(previous, list) else [previous, value]
                )
            else:
                values[key] = value
        return values

    def _owner(self, email):
        if not email:
            return None
        from core.models import User

        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            raise CommandError(f"No user with email {email}.", returncode=2)
        return user

    def _list(self):
        for group in scripts_grouped():
            if not group["scripts"]:
                continue
            self.stdout.write(self.style.MIGRATE_HEADING(group["label"]))
            for script in group["scripts"]:
                self.stdout.write(f"  {script['name']:<24} {script['description'][:90]}")


def _execute(job_id) -> None:
    """The job in a thread of its own (its own DB connection), so the main thread can tail
    the log and turn Ctrl-C into a cancel."""
    try:
        execute_job(job_id)
    finally:
        close_old_connections()
        connection.close()
