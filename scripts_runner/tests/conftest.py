"""What only the script runner tests need: run folders inside the test's data directory, and
the misbehaving sandbox scripts."""

import pytest


@pytest.fixture
def data_dir(data_dir, settings):
    """The shared `data_dir` (core.testing.fixtures), with the per-run folders inside it even
    when the developer's environment sets SCRIPTS_WORK_DIR."""
    settings.SCRIPTS_WORK_DIR = ""
    return data_dir


@pytest.fixture
def sandbox_scripts():
    """Register the misbehaving test scripts for the duration of a test."""
    from scripts_runner.services import registry

    from . import sandbox_scripts as module

    classes = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, registry.Script) and value.name
    ]
    for cls in classes:
        registry.register(cls)
    yield module
    for cls in classes:
        registry.unregister(cls.name)
