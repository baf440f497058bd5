"""`cleanup_duplicates`: find duplicate images in a folder, report them, delete on request.

Exact duplicates: same size, then same SHA-256 of the content. One file of each group is kept
(`keep`: oldest, newest or shortest path) and the others are deleted only with dry_run=false.
With `perceptual`, visually similar images (a 64-bit difference hash within `max_distance`
bits, after exact duplicates are set aside) are reported as near-duplicates, never deleted:
resized or re-encoded copies are likely, but "similar" is a judgement for a person.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections import defaultdict
from pathlib import Path

from scripts_runner.sandbox.runtime import ScriptError
from scripts_runner.services.parameters import (
    BooleanParam,
    ChoiceParam,
    FilePathParam,
    IntegerParam,
    MultiChoiceParam,
)
from scripts_runner.services.paths import is_inside, open_output
from scripts_runner.services.registry import MAINTENANCE, Limits, Script, register

IMAGE_TYPES = ["jpg", "jpeg", "png", "gif", "webp", "bmp", "tif", "tiff"]
HASH_CHUNK = 1 << 20


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def difference_hash(path: Path) -> int | None:
    """64-bit dHash: grey 9x8 thumbnail, one bit per horizontally adjacent pixel pair."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.draft("L", (64, 64))  # JPEG: decode at a fraction of the size
            small = image.convert("L").resize((9, 8), Image.Resampling.LANCZOS)
    except (UnidentifiedImageError, OSError, ValueError):
        return None
    pixels = list(small.getdata())
    bits = 0
    for row in range(8):
        for col in range(8):
            left, right = pixels[row * 9 + col], pixels[row * 9 + col + 1]
            bits = (bits << 1) | (left > right)
    return bits


@register
class CleanupDuplicates(Script):
    name = "cleanup_duplicates"
    rerun_safe = True  # deleting duplicates again finds fewer: it converges
    category = MAINTENANCE
    description = (
        "Find duplicate images in a folder by content hash (SHA-256) and optionally by "
        "perceptual hash; write a report and delete the extra copies only with dry_run=false."
    )
    timeout = 3600
    limits = Limits(cpu_seconds=1800, memory_mb=1024, file_size_mb=512, open_files=128)
    parameters = [
        FilePathParam("folder", required=True, kind="dir", help="Folder in the data directory."),
        BooleanParam("recursive", default=True),
        MultiChoiceParam("extensions", choices=IMAGE_TYPES, default=IMAGE_TYPES, min_items=1),
        ChoiceParam(
            "keep",
            choices=[
                ("oldest", "Keep the oldest file (modification time)"),
                ("newest", "Keep the newest file"),
                ("shortest_path", "Keep the file with the shortest path"),
            ],
            default="oldest",
        ),
        BooleanParam("perceptual", default=False, help="Also report near-duplicate images."),
        IntegerParam(
            "max_distance", default=4, min_value=0, max_value=32, help="dHash bits that may differ."
        ),
        BooleanParam("dry_run", default=True, help="Only report; delete nothing."),
        FilePathParam(
            "report_file", extensions=[".csv"], output="duplicates.csv", help="CSV report."
        ),
    ]

    def run(self, params, ctx):
        root = Path(params["folder"])
        extensions = {f".{ext}" for ext in params["extensions"]}
        files = self._images(root, extensions, params["recursive"], ctx)
        ctx.log(f"{len(files)} image files under {root}")
        by_size: dict[int, list[Path]] = defaultdict(list)
        for path in files:
            by_size[path.stat().st_size].append(path)
        candidates = [group for group in by_size.values() if len(group) > 1]
        to_hash = sum(len(group) for group in candidates)
        groups: list[list[Path]] = []
        hashed = 0
        for group in candidates:
            by_hash: dict[str, list[Path]] = defaultdict(list)
            for path in group:
                by_hash[sha256_of(path)].append(path)
                hashed += 1
                if hashed % 200 == 0:
                    ctx.progress(hashed * 60 // max(1, to_hash), f"hashed {hashed} files")
            groups.extend(same for same in by_hash.values() if len(same) > 1)
        ctx.progress(60, "exact duplicates found")

        report_path = Path(params["report_file"])
        deleted = freed = 0
        duplicates = set()
        with open_output(report_path) as handle:
            writer = csv.writer(handle)
            writer.writerow(["group", "kind", "action", "path", "size", "kept", "detail"])
            for number, group in enumerate(groups, start=1):
                keep = self._keeper(group, params["keep"])
                for path in sorted(group):
                    if path == keep:
                        writer.writerow(
                            [number, "exact", "keep", path, path.stat().st_size, "", ""]
                        )
                        continue
                    duplicates.add(path)
                    size = path.stat().st_size
                    if params["dry_run"]:
                        action = "would_delete"
                    else:
                        path.unlink()
                        deleted += 1
                        freed += size
                        action = "deleted"
                    writer.writerow([number, "exact", action, path, size, keep, "sha256"])
                    ctx.log(f"{action}: {path} (same as {keep})")
            near = []
            if params["perceptual"]:
                survivors = [path for path in files if path not in duplicates]
                near = self._near_duplicates(survivors, params["max_distance"], ctx)
                for number, (first, second, distance) in enumerate(near, start=len(groups) + 1):
                    for path in (first, second):
                        writer.writerow(
                            [
                                number,
                                "perceptual",
                                "report",
                                path,
                                path.stat().st_size,
                                "",
                                f"distance={distance}",
                            ]
                        )
                    ctx.log(f"similar ({distance} bits): {first} ~ {second}")
        verb = "would delete" if params["dry_run"] else "deleted"
        count = len(duplicates)
        ctx.log(
            f"{len(groups)} groups of identical files: {verb} {count} copies"
            + (f", {len(near)} similar pairs reported" if params["perceptual"] else "")
        )
        return {
            "files": len(files),
            "duplicate_groups": len(groups),
            "duplicates": count,
            "deleted": deleted,
            "bytes_freed": freed,
            "near_duplicates": len(near),
            "dry_run": params["dry_run"],
            "report_file": str(report_path),
        }

    @staticmethod
    def _images(root: Path, extensions: set[str], recursive: bool, ctx) -> list[Path]:
        files = []
        real_root = os.path.realpath(root)
        walker = os.walk(root) if recursive else [(str(root), [], os.listdir(root))]
        for folder, _dirs, names in walker:
            for name in names:
                path = Path(folder) / name
                if path.suffix.lower() not in extensions:
                    continue
                # Links are not followed: a link could lead outside the folder, and deleting
                # "a copy" that is a link to the kept file would lose nothing but confuse.
                if path.is_symlink() or not path.is_file():
                    continue
                if not is_inside(os.path.realpath(path), real_root):
                    continue
                files.append(path)
        return sorted(files)

    @staticmethod
    def _keeper(group: list[Path], rule: str) -> Path:
        if rule == "newest":
            return max(group, key=lambda p: (p.stat().st_mtime, str(p)))
        if rule == "shortest_path":
            return min(group, key=lambda p: (len(str(p)), str(p)))
        return min(group, key=lambda p: (p.stat().st_mtime, str(p)))

    @staticmethod
    def _near_duplicates(files: list[Path], max_distance: int, ctx):
        try:
            import PIL  # noqa: F401
        except ImportError:
            raise ScriptError("Perceptual hashing needs Pillow, which is not installed.") from None
        hashes = []
        for index, path in enumerate(files, start=1):
            value = difference_hash(path)
            if value is None:
                ctx.warn(f"not a readable image, skipped: {path}")
            else:
                hashes.append((path, value))
            if index % 100 == 0:
                ctx.progress(60 + index * 35 // len(files), f"perceptual hash {index}")
        pairs = []
        # Quadratic, but over hashes only (about 1 µs a pair): fine for tens of thousands.
        for i, (first, first_hash) in enumerate(hashes):
            for second, second_hash in hashes[i + 1 :]:
                distance = (first_hash ^ second_hash).bit_count()
                if distance <= max_distance:
                    pairs.append((first, second, distance))
        return pairs
