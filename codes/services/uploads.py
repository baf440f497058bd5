"""Files uploaded to the automation endpoints: streamed to DATA_DIR/uploads/codes/, never held
in memory, with the catalog import's size limit and content sniffing.

`CodeFilesUploadHandler(fields)` takes the named multipart file fields (`file`, or
`old_file` / `new_file` for a diff); each lands in its own folder and is then passed to the
job as a path in the data directory, like a `csv_path` the client names itself.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile

from import_manager.exceptions import UploadTooLarge
from import_manager.services.uploads import (
    MULTIPART_SLACK,
    StoredUpload,
    content_matches,
    max_upload_bytes,
    sanitize_filename,
    too_large_message,
)

from ..exceptions import CodeFileError
from .files import TABLE_FORMATS

UPLOADS_DIR = ("uploads", "codes")


class CodeFilesUploadHandler(FileUploadHandler):
    """Streams the multipart file fields named in `fields` to disk (CSV, TXT or XLSX)."""

    chunk_size = 1024 * 1024

    def __init__(self, request=None, fields: tuple[str, ...] = ("file",)):
        super().__init__(request)
        self.fields = fields
        self.stored: dict[str, StoredUpload] = {}
        self._handle = None

    def handle_raw_input(self, input_data, meta, content_length, boundary, encoding=None):
        if content_length and content_length > len(self.fields) * max_upload_bytes() + (
            MULTIPART_SLACK
        ):
            raise UploadTooLarge(too_large_message())

    def new_file(self, field_name, file_name, *args, **kwargs):
        if field_name not in self.fields or field_name in self.stored or self._handle:
            raise SkipFile()
        super().new_file(field_name, file_name, *args, **kwargs)
        safe = sanitize_filename(file_name)
        self.file_format = TABLE_FORMATS.get(Path(safe).suffix.lower())
        if self.file_format is None:
            known = ", ".join(sorted(TABLE_FORMATS))
            raise CodeFileError(
                f"'{safe}' is not a code file: the extension must be one of {known}.",
                fields={field_name: ["Unsupported file type."]},
            )
        folder = Path(settings.DATA_DIR).joinpath(*UPLOADS_DIR, uuid.uuid4().hex)
        folder.mkdir(parents=True, exist_ok=True)
        self.path, self.safe_name, self.size = folder / safe, safe, 0
        self._handle = self.path.open("wb")

    def receive_data_chunk(self, raw_data, start):
        if self._handle is None:
            return raw_data
        if self.size == 0 and raw_data and not content_matches(self.file_format, raw_data):
            self._abort()
            raise CodeFileError(
                f"The content of '{self.safe_name}' does not look like {self.file_format.upper()}.",
                fields={self.field_name: ["The content does not match the file type."]},
            )
        self.size += len(raw_data)
        if self.size > max_upload_bytes():
            self._abort()
            raise UploadTooLarge(too_large_message())
        self._handle.write(raw_data)
        return None

    def file_complete(self, file_size):
        if self._handle is None:
            return None
        self._handle.close()
        self._handle = None
        upload = StoredUpload(self.path, self.safe_name, self.size, self.file_format)
        self.stored[self.field_name] = upload
        return upload

    def upload_interrupted(self):
        self._abort()

    def _abort(self):
        if self._handle is not None:
            self._handle.close()
            self._handle = None
            shutil.rmtree(self.path.parent, ignore_errors=True)

    def discard_all(self) -> None:
        """Delete what was stored (the request was refused after the upload)."""
        self._abort()
        for upload in self.stored.values():
            upload.discard()
        self.stored.clear()
