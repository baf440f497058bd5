"""Path confinement for script parameters: core's (`core.services.paths`), re-exported.

Scripts and their tests import it from here; the implementation is shared with every app.
"""

from core.services.paths import (
    DIRECTORY,
    FILE,
    MAX_PATH_CHARS,
    PathRejected,
    confine_path,
    is_inside,
    open_output,
    safe_join,
)

__all__ = [
    "DIRECTORY",
    "FILE",
    "MAX_PATH_CHARS",
    "PathRejected",
    "confine_path",
    "is_inside",
    "open_output",
    "safe_join",
]
