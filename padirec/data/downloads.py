"""Downloading one file over HTTP(S) into a cache folder, checked by its digest before it counts.

Standard library only. The file is streamed to a temporary name in the target's folder and renamed
to the target only after its digest matched, so an interrupted or corrupt download never sits where
the finished file belongs; on any failure the temporary is deleted. The errors say what went wrong
and carry the details a caller needs to word its own message (padirec.data.sources).
"""
from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

CHUNK = 1 << 20
TIMEOUT_S = 60  # per blocking socket operation, not for the whole download


class DownloadError(Exception):
    """The file could not be fetched (no network, refused, HTTP error, connection dropped)."""

    def __init__(self, url: str, reason: str):
        self.url, self.reason = url, reason
        super().__init__(f"could not download {url}: {reason}")


class ChecksumMismatch(Exception):
    """The fetched bytes are not the expected file."""

    def __init__(self, algorithm: str, actual: str, expected: str):
        self.algorithm, self.actual, self.expected = algorithm, actual, expected
        super().__init__(f"{algorithm} {actual}, expected {expected}")


def digests(path: Path, algorithms: tuple[str, ...] = ("md5", "sha256")) -> dict[str, str]:
    """Hex digests of a file, read once."""
    hashes = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            for digest in hashes.values():
                digest.update(block)
    return {name: digest.hexdigest() for name, digest in hashes.items()}


def one_line(text: object) -> str:
    """An error's text on one line (some socket and HTTP errors carry newlines)."""
    return " ".join(str(text).split()) or "no reason given"


def _reason(error: Exception) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {one_line(error.reason)}"
    if isinstance(error, urllib.error.URLError):
        return one_line(error.reason)
    return one_line(error) if str(error) else type(error).__name__


def download(url: str, target: Path, md5: str, check: Callable[[Path], None] | None = None,
             timeout: float = TIMEOUT_S) -> dict[str, str]:
    """Fetch `url` into `target` if its MD5 is `md5` (and `check(temporary)` raises nothing); return its
    digests (md5 and sha256). Raises DownloadError or ChecksumMismatch, or whatever `check` raises; in every
    failure the temporary is deleted and `target` is left as it was."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    for block in iter(lambda: response.read(CHUNK), b""):
                        out.write(block)
            except (OSError, http.client.HTTPException, ValueError) as error:  # URLError is an OSError
                raise DownloadError(url, _reason(error)) from None
        found = digests(temporary)
        if found["md5"] != md5:
            raise ChecksumMismatch("md5", found["md5"], md5)
        if check is not None:
            check(temporary)
        os.replace(temporary, target)
        return found
    finally:
        temporary.unlink(missing_ok=True)
