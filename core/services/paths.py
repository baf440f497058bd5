"""Confinement of user-supplied file paths to the platform's data directory.

Django-free on purpose: sandboxed children import it too (`safe_join`, `open_output`).
Used by every app that takes a path from a user: script parameters (scripts_runner), the
bulk code jobs' files (codes).

Every path a user hands the platform goes through `confine_path`: it refuses NUL bytes, `..`
components, absolute paths outside the data directory, symbolic links that lead out of it,
and (for inputs) anything that is not a regular file or directory (devices, FIFOs, sockets).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

MAX_PATH_CHARS = 4096
FILE = "file"
DIRECTORY = "dir"


class PathRejected(ValueError):
    """A path the platform may not use; the message says why."""


def is_inside(path: str | os.PathLike, root: str | os.PathLike) -> bool:
    """True when `path` is `root` or below it (both already normalised)."""
    path, root = os.fspath(path), os.fspath(root)
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives / mix of absolute and relative
        return False


def confine_path(
    raw,
    data_dir: str | os.PathLike,
    *,
    kind: str = FILE,
    must_exist: bool = True,
) -> Path:
    """Resolve `raw` (relative to `data_dir`, or absolute inside it) to a real absolute path.

    `kind` is "file" or "dir". With `must_exist`, the target must exist and be of that kind;
    without it (outputs), a target that exists must still be of that kind. Symbolic links are
    resolved first, so a link inside the data directory that points elsewhere is refused.
    Raises PathRejected with a message meant for the user.
    """
    if not isinstance(raw, str):
        raise PathRejected("Expected a path (a string).")
    if "\x00" in raw:
        raise PathRejected("The path contains a NUL byte.")
    if not raw.strip():
        raise PathRejected("The path is empty.")
    if len(raw) > MAX_PATH_CHARS:
        raise PathRejected(f"The path is longer than {MAX_PATH_CHARS} characters.")
    candidate = Path(raw)
    # Refused even when the result would land inside: `..` is never needed for a data file
    # and accepting it invites confusion between what was typed and what is used.
    if ".." in candidate.parts:
        raise PathRejected("'..' is not allowed in paths.")
    configured_root = os.path.abspath(data_dir)
    root = os.path.realpath(data_dir)
    if candidate.is_absolute():
        lexical = os.path.normpath(raw)
        if not (is_inside(lexical, configured_root) or is_inside(lexical, root)):
            raise PathRejected("The path is outside the data directory.")
    else:
        candidate = Path(root) / candidate
    real = os.path.realpath(candidate)
    if not is_inside(real, root):
        raise PathRejected("The path leads outside the data directory (through a symbolic link).")
    if kind == FILE and real == root:
        raise PathRejected("Expected a file, got the data directory itself.")
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        if must_exist:
            what = "directory" if kind == DIRECTORY else "file"
            raise PathRejected(f"No such {what} in the data directory.") from None
        return Path(real)
    except OSError as exc:
        raise PathRejected(f"The path cannot be used: {exc.strerror}.") from None
    if kind == DIRECTORY:
        if not stat.S_ISDIR(mode):
            raise PathRejected("Not a directory.")
    elif not stat.S_ISREG(mode):
        raise PathRejected(
            "Not a regular file (directories, devices, pipes and sockets are refused)."
        )
    return Path(real)


def safe_join(directory: str | os.PathLike, name: str) -> Path:
    """`directory/name` for a single file name that came from outside (an FTP listing, ...).

    Only a plain name is accepted: no separators, no `..`, no NUL, not hidden-by-dots-only.
    """
    if not name or "\x00" in name or "/" in name or "\\" in name or name in (".", ".."):
        raise PathRejected(f"Unsafe file name {name!r}.")
    return Path(directory) / name


def open_output(path: str | os.PathLike, mode: str = "w", *, encoding: str = "utf-8"):
    """Open a file for writing without following a symbolic link at its last component.

    Parameters were confined before the run, but a link planted afterwards must not redirect
    the write (O_NOFOLLOW makes that an error instead). Missing parent folders are created.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    flags |= os.O_APPEND if "a" in mode else os.O_TRUNC
    fd = os.open(path, flags, 0o644)
    binary = "b" in mode
    if binary:
        return os.fdopen(fd, mode)
    # newline="" as the csv module requires; plain text is written with "\n" anyway.
    return os.fdopen(fd, mode, encoding=encoding, newline="")
