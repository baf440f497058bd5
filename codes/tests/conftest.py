import pytest


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    """A DATA_DIR of the test's own (uploads, inputs and result files land here)."""
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    settings.FIENTA_CLI_DIR = ""
    settings.SHOPIFY_SHOP_DOMAIN = ""
    return settings.DATA_DIR
