"""Developer tooling behind `python3 dev.py run|test`: embedded services, runner, test driver."""

from pathlib import Path

#: Repository root (the directory holding manage.py and dev.py).
ROOT = Path(__file__).resolve().parent.parent
#: Runtime state of the embedded services and logs; git-ignored and kept between runs.
VAR_DIR = ROOT / "var"


def say(message: str) -> None:
    """Print one line of tooling progress, flushed so it interleaves with child output."""
    print(f"[dev] {message}", flush=True)


def rel(path: Path) -> str:
    """`path` relative to the working directory when inside it, for short messages."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
