"""Receiving import files: streamed to DATA_DIR/uploads, never held in memory.

`ImportUploadHandler` is a Django upload handler: the multipart parser hands it the file in
chunks, which go straight to `DATA_DIR/uploads/<random id>/<sanitised name>`. It refuses a
body larger than IMPORT_MAX_UPLOAD_BYTES (413, before reading it when Content-Length says
so), a file name whose extension is not an import format and content that does not look
like that format (400).
"""

from __future__ import annotations

import re
import shutil
import unicodedata
import uuid
from pathlib import Path, PurePosixPath, PureWindowsPath

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile

from import_manager.exceptions import UnsupportedImportFile, UploadTooLarge

from .parsers import EXTENSIONS, format_for_name

FILE_FIELD = "file"
# Room for the multipart boundaries and the other form fields around the file.
MULTIPART_SLACK = 1024 * 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def max_upload_bytes() -> int:
    return settings.IMPORT_MAX_UPLOAD_BYTES


def too_large_message() -> str:
    limit = max_upload_bytes()
    return f"The file is larger than the allowed {limit} bytes ({limit / 1024 / 1024:.0f} MiB)."


def sanitize_filename(name: str, default: str = "upload") -> str:
    """A safe file name: no directories, no `..`, ASCII letters/digits/`._-`, ≤ 120 chars."""
    name = unicodedata.normalize("NFKD", str(name or "")).encode("ascii", "ignore").decode()
    # Whatever the client's OS, keep only the last path component.
    name = PureWindowsPath(PurePosixPath(name).name).name
    name = _UNSAFE.sub("_", name).strip("._-") or default
    stem, dot, ext = name.rpartition(".")
    if dot and stem:
        stem = stem.lstrip(".")[: 120 - len(ext) - 1] or default
        return f"{stem}.{ext[:10]}"
    return name[:120]


def content_matches(file_format: str, head: bytes) -> bool:
    """Does the start of the file look like `file_format`? (cheap sniffing, not validation)"""
    if file_format == "xlsx":
        return head.startswith(b"PK\x03\x04")
    if b"\x00" in head[:4096] or head.startswith(b"PK\x03\x04"):
        return False  # binary: not a text format
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if file_format == "json":
        return text[:1] in (b"[", b"{")
    if file_format == "xml":
        return text[:1] == b"<"
    return bool(text)  # csv: any text


def _reject_unsupported(name: str) -> UnsupportedImportFile:
    known = ", ".join(sorted(EXTENSIONS))
    return UnsupportedImportFile(
        f"'{name}' is not an import file: the extension must be one of {known}.",
        fields={FILE_FIELD: ["Unsupported file type."]},
    )


class StoredUpload(UploadedFile):
    """An uploaded file already written under DATA_DIR (`path`), with its `file_format`."""

    def __init__(self, path: Path, name: str, size: int, file_format: str):
        super().__init__(file=None, name=name, size=size)
        self.path = path
        self.file_format = file_format

    def open(self, mode="rb"):
        self.file = self.path.open(mode)
        return self

    def discard(self) -> None:
        shutil.rmtree(self.path.parent, ignore_errors=True)


class ImportUploadHandler(FileUploadHandler):
    """Streams the `file` part of a multipart body to disk, enforcing size and type."""

    chunk_size = 1024 * 1024

    def __init__(self, request=None):
        super().__init__(request)
        self.stored: list[StoredUpload] = []
        self._handle = None

    def handle_raw_input(self, input_data, meta, content_length, boundary, encoding=None):
        if content_length and content_length > max_upload_bytes() + MULTIPART_SLACK:
            raise UploadTooLarge(too_large_message())

    def new_file(
        self,
        field_name,
        file_name,
        content_type,
        content_length,
        charset=None,
        content_type_extra=None,
    ):
        if field_name != FILE_FIELD or self._handle is not None or self.stored:
            raise SkipFile()  # only one file, in the `file` field
        super().new_file(
            field_name, file_name, content_type, content_length, charset, content_type_extra
        )
        safe = sanitize_filename(file_name)
        self.file_format = format_for_name(safe)
        if self.file_format is None:
            raise _reject_unsupported(safe)
        folder = Path(settings.DATA_DIR) / "uploads" / uuid.uuid4().hex
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / safe
        self.safe_name = safe
        self._handle = self.path.open("wb")
        self._size = 0

    def receive_data_chunk(self, raw_data, start):
        if self._handle is None:
            return raw_data
        if self._size == 0 and raw_data and not content_matches(self.file_format, raw_data):
            self._abort()
            raise UnsupportedImportFile(
                f"The content of '{self.safe_name}' does not look like {self.file_format.upper()}.",
                fields={FILE_FIELD: ["The content does not match the file type."]},
            )
        self._size += len(raw_data)
        if self._size > max_upload_bytes():
            self._abort()
            raise UploadTooLarge(too_large_message())
        self._handle.write(raw_data)
        return None

    def file_complete(self, file_size):
        if self._handle is None:
            return None
        self._handle.close()
        self._handle = None
        upload = StoredUpload(self.path, self.safe_name, self._size, self.file_format)
        self.stored.append(upload)
        return upload

    def upload_interrupted(self):
        self._abort()

    def _abort(self):
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            shutil.rmtree(self.path.parent, ignore_errors=True)

    def discard_all(self) -> None:
        """Delete what was stored (the request failed after the upload)."""
        self._abort()
        for upload in self.stored:
            upload.discard()
        self.stored.clear()
