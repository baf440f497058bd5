"""Fixtures of the script runner tests: a private data directory per test."""

import pytest


@pytest.fixture
def data_dir(settings, tmp_path):
    """settings.DATA_DIR pointed at an empty folder (run folders are created inside it)."""
    root = tmp_path / "data"
    root.mkdir()
    settings.DATA_DIR = root
    settings.SCRIPTS_WORK_DIR = ""
    return root


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
