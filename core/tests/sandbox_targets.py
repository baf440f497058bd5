"""Callables the sandbox tests run in the child (`core.tests.sandbox_targets:<name>`).

Django-free: the child imports this module by name (PYTHONPATH is the repository) without
Django settings, as it imports any target.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.sandbox.protocol import ChildError, progress_line


def env_probe(payload):
    """What the child's environment holds, and where it runs."""
    for name in payload.get("print", []):
        print(f"{name}={os.environ.get(name, '<unset>')}")
    return {"env": sorted(os.environ), "cwd": os.getcwd(), "home": os.environ.get("HOME")}


def chatter(payload):
    """Interleaves stdout, stderr and PROGRESS lines."""
    rounds = payload["rounds"]
    for i in range(1, rounds + 1):
        print(f"out {i}")
        print(f"err {i}", file=sys.stderr)
        print(progress_line(i * 100 // rounds, f"round {i}"))
    print("PROGRESS 250 not a progress line")
    print("tail end")
    return {"rounds": rounds}


def leak(payload):
    """Prints a secret it was given through the environment."""
    print(f"the token is {os.environ['API_TOKEN']}!")
    return {"length": len(os.environ["API_TOKEN"])}


def memory_hog(payload):
    hoard = []
    while True:
        hoard.append(bytearray(10 * 1024 * 1024))
        print(f"holding {len(hoard) * 10} MB")


def cpu_loop(payload):
    print("spinning")
    n = 0
    while True:
        n += 1


def file_hog(payload):
    with open("big.bin", "wb") as handle:
        for _ in range(10):
            handle.write(b"x" * 512 * 1024)
            handle.flush()
    print("wrote everything")  # never reached


def open_files(payload):
    handles = [open(f"f{i}.txt", "w") for i in range(200)]  # noqa: SIM115
    print(f"opened {len(handles)}")


def sleeper(payload):
    """Starts a child and a grandchild that leaves the process group, then sleeps."""
    seconds = str(payload["seconds"])
    child = subprocess.Popen(["sleep", seconds])
    escaped = subprocess.Popen(["sleep", seconds], start_new_session=True)
    Path("pids.txt").write_text(f"{os.getpid()} {child.pid} {escaped.pid}\n")
    print(f"sleeping with children {child.pid} {escaped.pid}", flush=True)
    time.sleep(payload["seconds"])


def failer(payload):
    for i in range(30):
        print(f"working {i}")
    how = payload["how"]
    if how == "error":
        raise ChildError("the input was bad")
    if how == "exit":
        sys.exit(7)
    if how == "signal":
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGTERM)
    raise RuntimeError("unexpected")


def returns_a_list(payload):
    return [1, 2, 3]
