import pytest


@pytest.fixture
def data_dir(settings, tmp_path):
    """A DATA_DIR of the test's own (uploads and downloads land here)."""
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    return settings.DATA_DIR
