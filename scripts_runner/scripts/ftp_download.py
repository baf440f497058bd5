"""`ftp_download`: download files matching a pattern from an FTP/FTPS server.

- Lists the remote folder (MLSD, or NLST + SIZE on servers without it) and takes the files
  whose name matches the glob `pattern`.
- Downloads into `<name>.part` and renames once complete; with `resume`, a `.part` left by an
  interrupted run continues from where it stopped (REST), and a broken transfer is retried
  from its current offset.
- Verifies the size (SIZE / the listing) and, with verify=checksum, a SHA-256 or MD5 published
  beside the file (`<name>.sha256`, `<name>.md5`, or a SHA256SUMS / MD5SUMS file).
- A file already present with the same size (and checksum) is skipped.

The password comes from the optional named credential `ftp_password` (anonymous without it).
Remote names are reduced to plain file names: a listing cannot make the script write outside
the destination folder.
"""

from __future__ import annotations

import contextlib
import fnmatch
import ftplib
import hashlib
import io
import os
import ssl
import time
from pathlib import Path

from scripts_runner.sandbox.runtime import ScriptError
from scripts_runner.services.parameters import (
    BooleanParam,
    ChoiceParam,
    FilePathParam,
    IntegerParam,
    StringParam,
)
from scripts_runner.services.paths import PathRejected, open_output, safe_join
from scripts_runner.services.registry import DATA_IMPORT, Limits, Script, register

BLOCK = 64 * 1024
SUMS_FILES = {"SHA256SUMS": "sha256", "MD5SUMS": "md5"}
SIDECARS = {".sha256": "sha256", ".md5": "md5"}


class RemoteFile:
    def __init__(self, name: str, size: int | None):
        self.name = name
        self.size = size


@register
class FtpDownload(Script):
    name = "ftp_download"
    rerun_safe = True  # downloads resume from .part files; a complete file is skipped
    category = DATA_IMPORT
    description = (
        "Download files matching a pattern from an FTP or FTPS server into the data directory, "
        "resuming partial downloads and checking size (and checksum when one is published)."
    )
    timeout = 7200
    limits = Limits(cpu_seconds=3600, memory_mb=512, file_size_mb=20_480, open_files=64)
    optional_credentials = ["ftp_password"]
    parameters = [
        StringParam(
            "host",
            required=True,
            max_length=253,
            pattern=r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?",
            help="Server host name or IP address.",
        ),
        IntegerParam("port", default=21, min_value=1, max_value=65535),
        StringParam("username", default="anonymous", max_length=128, pattern=r"[\w.@+-]+"),
        BooleanParam("tls", default=False, help="FTPS (explicit TLS, encrypted data channel)."),
        FilePathParam(
            "ca_file", help="CA certificates (PEM) to verify an FTPS server's certificate."
        ),
        BooleanParam("passive", default=True),
        StringParam("remote_dir", default="/", max_length=1024, pattern=r"[\w ./-]*"),
        StringParam(
            "pattern",
            default="*",
            max_length=255,
            pattern=r"[\w .*?!\[\]-]+",
            help="Glob on file names, e.g. products_*.csv.",
        ),
        FilePathParam("dest_dir", kind="dir", output="download"),
        BooleanParam("resume", default=True, help="Continue partial downloads."),
        ChoiceParam(
            "verify",
            choices=[("size", "Size"), ("checksum", "Size and published checksum")],
            default="size",
        ),
        BooleanParam("overwrite", default=False, help="Download again files already present."),
        IntegerParam("max_files", default=1000, min_value=1, max_value=100_000),
        IntegerParam("retries", default=3, min_value=0, max_value=20),
        IntegerParam("timeout_seconds", default=60, min_value=1, max_value=3600),
    ]

    def run(self, params, ctx):
        self.params = params
        self.ctx = ctx
        dest = Path(params["dest_dir"])
        dest.mkdir(parents=True, exist_ok=True)
        self.ftp = self._connect()
        try:
            listing = self._list()
            checksums = self._checksums(listing) if params["verify"] == "checksum" else {}
            wanted = [
                item
                for item in listing.values()
                if fnmatch.fnmatchcase(item.name, params["pattern"])
                and not any(item.name.endswith(ext) for ext in SIDECARS)
                and item.name not in SUMS_FILES
            ][: params["max_files"]]
            if not wanted:
                ctx.log(f"No file matches {params['pattern']!r} in {params['remote_dir']}")
            self.total_bytes = sum(item.size or 0 for item in wanted) or 1
            self.completed_bytes = 0
            files, skipped, failures = [], [], []
            for item in wanted:
                try:
                    local = safe_join(dest, item.name)
                except PathRejected as exc:
                    failures.append({"file": item.name, "error": str(exc)})
                    ctx.warn(str(exc))
                    continue
                try:
                    outcome = self._fetch(item, local, checksums.get(item.name))
                except ScriptError as exc:
                    failures.append({"file": item.name, "error": str(exc)})
                    ctx.warn(f"{item.name}: {exc}")
                    self._reconnect()
                    continue
                finally:
                    self.completed_bytes += item.size or 0
                (skipped if outcome == "skipped" else files).append(
                    {"file": item.name, "path": str(local), "size": local.stat().st_size}
                )
        finally:
            try:
                self.ftp.quit()
            except (ftplib.Error, OSError, EOFError):
                self.ftp.close()
        ctx.progress(100, "done")
        ctx.log(
            f"Downloaded {len(files)} file(s), skipped {len(skipped)} already present, "
            f"{len(failures)} failed"
        )
        summary = {
            "downloaded": files,
            "skipped": skipped,
            "failed": failures,
            "files": [entry["path"] for entry in files + skipped],
            "dest_dir": str(dest),
        }
        if failures:
            raise ScriptError(
                f"{len(failures)} file(s) failed: "
                + "; ".join(f"{f['file']}: {f['error']}" for f in failures)
            )
        return summary

    # -- connection ----------------------------------------------------------------------
    def _connect(self):
        p = self.params
        timeout = p["timeout_seconds"]
        if p["tls"]:
            context = ssl.create_default_context(cafile=p.get("ca_file"))
            ftp = ftplib.FTP_TLS(context=context, timeout=timeout)  # noqa: S321
        else:
            # Plain FTP is what many supplier feeds still offer; `tls` is there when they can.
            ftp = ftplib.FTP(timeout=timeout)  # noqa: S321
        password = self.ctx.credential("ftp_password") or (
            "anonymous@" if p["username"] == "anonymous" else ""
        )
        try:
            ftp.connect(p["host"], p["port"])
            ftp.login(p["username"], password)
            if p["tls"]:
                ftp.prot_p()
            ftp.set_pasv(p["passive"])
            ftp.voidcmd("TYPE I")
            if p["remote_dir"]:
                ftp.cwd(p["remote_dir"])
        except ftplib.error_perm as exc:
            raise ScriptError(f"FTP server refused: {exc}") from None
        except (OSError, EOFError, ftplib.Error) as exc:
            raise ScriptError(
                f"Cannot connect to {p['host']}:{p['port']}: {exc or type(exc).__name__}"
            ) from None
        self.ctx.log(
            f"Connected to {p['host']}:{p['port']} as {p['username']}"
            + (" (TLS)" if p["tls"] else "")
            + f", folder {ftp.pwd()}"
        )
        return ftp

    def _reconnect(self) -> None:
        """A fresh session after a broken transfer (the old one may be half-closed)."""
        with contextlib.suppress(OSError, EOFError):
            self.ftp.close()
        self.ftp = self._connect()

    def _list(self) -> dict[str, RemoteFile]:
        ftp = self.ftp
        items: dict[str, RemoteFile] = {}
        try:
            for name, facts in ftp.mlsd(facts=["type", "size"]):
                if facts.get("type", "file") == "file":
                    size = int(facts["size"]) if facts.get("size", "").isdigit() else None
                    items[os.path.basename(name)] = RemoteFile(os.path.basename(name), size)
        except ftplib.error_perm:  # no MLSD: names, then SIZE for each
            names = ftp.nlst()
            ftp.voidcmd("TYPE I")  # listing switched to ASCII, where servers refuse SIZE
            for name in names:
                base = os.path.basename(name)
                try:
                    size = ftp.size(base)
                except ftplib.error_perm:
                    continue  # a folder, or unreadable
                items[base] = RemoteFile(base, size)
        self.ctx.log(f"{len(items)} file(s) in the remote folder")
        return items

    def _read_small(self, name: str) -> str:
        buffer = io.BytesIO()
        self.ftp.retrbinary(f"RETR {name}", buffer.write)
        return buffer.getvalue()[:1_000_000].decode("utf-8", "replace")

    def _checksums(self, listing) -> dict[str, tuple[str, str]]:
        """{file name: (algorithm, hex digest)} from sidecar and *SUMS files."""
        sums: dict[str, tuple[str, str]] = {}
        for sums_name, algorithm in SUMS_FILES.items():
            if sums_name in listing:
                for line in self._read_small(sums_name).splitlines():
                    parts = line.split()
                    if len(parts) == 2:
                        sums[parts[1].lstrip("*")] = (algorithm, parts[0].lower())
        for name in listing:
            for suffix, algorithm in SIDECARS.items():
                if name.endswith(suffix):
                    text = self._read_small(name).split()
                    if text:
                        sums[name[: -len(suffix)]] = (algorithm, text[0].lower())
        return sums

    # -- one file ------------------------------------------------------------------------
    def _fetch(self, item: RemoteFile, local: Path, checksum) -> str:
        p, ctx = self.params, self.ctx
        size = item.size if item.size is not None else self._size(item.name)
        if local.exists() and not p["overwrite"] and local.stat().st_size == size:
            if checksum is None or self._digest(local, checksum[0]) == checksum[1]:
                ctx.log(f"{item.name}: already present ({size} bytes), skipped")
                return "skipped"
            ctx.log(f"{item.name}: present but its checksum differs; downloading again")
        part = local.with_name(local.name + ".part")
        if part.is_symlink():
            raise ScriptError("the partial file is a symbolic link; refusing to write to it")
        attempts = p["retries"] + 1
        for attempt in range(1, attempts + 1):
            offset = part.stat().st_size if (p["resume"] and part.exists()) else 0
            if size is not None and offset > size:
                offset = 0  # the remote file shrank: start over
            if offset:
                ctx.log(f"{item.name}: resuming at byte {offset} of {size}")
            else:
                ctx.log(f"{item.name}: downloading {size if size is not None else '?'} bytes")
            try:
                self._retrieve(item.name, part, offset, size)
                break
            except (OSError, EOFError, ftplib.error_temp, ftplib.error_reply) as exc:
                got = part.stat().st_size if part.exists() else 0
                if attempt == attempts:
                    raise ScriptError(
                        f"transfer failed after {attempts} attempt(s): {exc}"
                    ) from None
                ctx.warn(f"{item.name}: transfer broke at byte {got} ({exc}); retrying")
                time.sleep(min(5, attempt))
                self._reconnect()
                if not p["resume"]:
                    part.unlink(missing_ok=True)
            except ftplib.error_perm as exc:
                raise ScriptError(f"the server refused the download: {exc}") from None
        got = part.stat().st_size
        if size is not None and got != size:
            raise ScriptError(f"size mismatch: got {got} bytes, the server says {size}")
        if checksum is not None:
            algorithm, expected = checksum
            actual = self._digest(part, algorithm)
            if actual != expected:
                part.unlink()
                raise ScriptError(f"{algorithm} mismatch: expected {expected}, got {actual}")
            ctx.log(f"{item.name}: {algorithm} verified")
        os.replace(part, local)
        ctx.log(f"{item.name}: done ({got} bytes)")
        return "downloaded"

    def _retrieve(self, name: str, part: Path, offset: int, size) -> None:
        with open_output(part, "ab" if offset else "wb") as handle:
            last = time.monotonic()

            def write(block: bytes) -> None:
                nonlocal last
                handle.write(block)
                if time.monotonic() - last >= 0.5:
                    last = time.monotonic()
                    done = self.completed_bytes + handle.tell()
                    self.ctx.progress(
                        min(99, done * 100 // self.total_bytes),
                        f"{name}: {handle.tell()} of {size} bytes",
                    )

            self.ftp.retrbinary(f"RETR {name}", write, blocksize=BLOCK, rest=offset or None)

    def _size(self, name) -> int | None:
        try:
            self.ftp.voidcmd("TYPE I")
            return self.ftp.size(name)
        except (TimeoutError, ftplib.error_perm):
            return None

    @staticmethod
    def _digest(path: Path, algorithm: str) -> str:
        digest = hashlib.new(algorithm)
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        return digest.hexdigest()
