"""File parameters are confined to the data directory: every escape attempt is refused."""

import os
import socket

import pytest

from scripts_runner.services.paths import PathRejected, confine_path, open_output, safe_join


@pytest.fixture
def root(tmp_path):
    data = tmp_path / "data"
    (data / "feeds").mkdir(parents=True)
    (data / "feeds" / "products.csv").write_text("sku\n")
    (tmp_path / "secret.txt").write_text("outside")
    return data


def rejected(raw, root, **kwargs) -> str:
    with pytest.raises(PathRejected) as caught:
        confine_path(raw, root, **kwargs)
    return str(caught.value)


def test_relative_and_absolute_paths_inside_are_accepted(root):
    expected = (root / "feeds" / "products.csv").resolve()
    assert confine_path("feeds/products.csv", root) == expected
    assert confine_path(str(root / "feeds" / "products.csv"), root) == expected
    assert confine_path("./feeds//products.csv", root) == expected


def test_absolute_paths_outside_are_refused(root):
    assert rejected("/etc/passwd", root) == "The path is outside the data directory."
    assert rejected(str(root.parent / "secret.txt"), root) == (
        "The path is outside the data directory."
    )
    # a sibling whose name starts like the data directory is still outside
    (root.parent / "data-old").mkdir()
    (root.parent / "data-old" / "x.csv").write_text("x")
    assert "outside" in rejected(str(root.parent / "data-old" / "x.csv"), root)


@pytest.mark.parametrize(
    "raw", ["../secret.txt", "feeds/../../secret.txt", "feeds/../products.csv", ".."]
)
def test_dot_dot_is_refused_even_when_it_would_land_inside(root, raw):
    assert rejected(raw, root) == "'..' is not allowed in paths."


def test_symlinks_that_lead_out_are_refused(root):
    os.symlink(root.parent / "secret.txt", root / "feeds" / "innocent.csv")
    os.symlink(root.parent, root / "up")
    os.symlink("/etc", root / "etc")
    leads_out = "The path leads outside the data directory (through a symbolic link)."
    assert rejected("feeds/innocent.csv", root) == leads_out
    assert rejected("up/secret.txt", root) == leads_out
    assert rejected("etc/passwd", root) == leads_out
    # also for outputs, where the target does not exist yet
    assert rejected("up/new.csv", root, must_exist=False) == leads_out


def test_symlinks_that_stay_inside_are_followed(root):
    os.symlink(root / "feeds" / "products.csv", root / "latest.csv")
    assert confine_path("latest.csv", root) == (root / "feeds" / "products.csv").resolve()


def test_nul_bytes_are_refused(root):
    assert rejected("feeds/products.csv\x00.txt", root) == "The path contains a NUL byte."


def test_device_files_are_refused(root):
    # /dev as the data directory: its device nodes are "inside" and still refused.
    message = rejected("null", "/dev")
    assert message == "Not a regular file (directories, devices, pipes and sockets are refused)."
    os.symlink("/dev/zero", root / "zero.csv")
    assert "outside" in rejected("zero.csv", root)


def test_fifos_sockets_and_directories_are_not_files(root, tmp_path):
    os.mkfifo(root / "pipe.csv")
    not_regular = "Not a regular file (directories, devices, pipes and sockets are refused)."
    assert rejected("pipe.csv", root) == not_regular
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(root / "sock.csv"))
        assert rejected("sock.csv", root) == not_regular
    assert rejected("feeds", root) == not_regular
    assert rejected("feeds/products.csv", root, kind="dir") == "Not a directory."
    assert rejected("pipe.csv", root, must_exist=False) == not_regular


def test_missing_inputs_empty_and_non_string_paths(root):
    assert rejected("nope.csv", root) == "No such file in the data directory."
    assert rejected("nope", root, kind="dir") == "No such directory in the data directory."
    assert rejected("", root) == "The path is empty."
    assert rejected(None, root) == "Expected a path (a string)."
    assert rejected(str(root), root) == "Expected a file, got the data directory itself."


def test_remote_names_are_reduced_to_plain_file_names(root):
    assert safe_join(root, "products.csv") == root / "products.csv"
    for name in ("../x", "a/b", "..", ".", "", "a\\b", "x\x00"):
        with pytest.raises(PathRejected):
            safe_join(root, name)


def test_outputs_are_never_written_through_a_link(root):
    os.symlink(root.parent / "secret.txt", root / "report.csv")
    with pytest.raises(OSError):
        open_output(root / "report.csv")
    assert (root.parent / "secret.txt").read_text() == "outside"
