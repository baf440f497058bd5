"""What the script runner offers on the operator console's home page (core.services.console)."""

from core.services import console


def register_console() -> None:
    console.register_action(
        "scripts_runner.run",
        "Run a script",
        "admin:scripts_runner_scriptrun_changelist",  # the script catalog, a launcher per script
        permission="scripts_runner.view_scriptrun",
        order=20,
    )
