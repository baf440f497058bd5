"""The suite's shared fixtures, registered once here. Each module's docstring says what it
provides; docs/CONTRIBUTING.md ("Tests") lists them. An app's `tests/conftest.py` keeps only
what its own tests need.
"""

import pytest

# Helpers outside the test folders: pytest rewrites their asserts too (clear failure diffs).
pytest.register_assert_rewrite("core.testing", "product.testing", "webhook.testing")

pytest_plugins = [
    "core.testing.fixtures",
    "product.testing.fixtures",
    "webhook.testing.fixtures",
]
