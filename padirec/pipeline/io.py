"""File helpers: atomic writes, checksums and byte-reproducible .npz archives.

Every artifact of the pipeline goes through `atomic_path`: it is written under a temporary name
in the same folder and renamed into place only when complete, so an interrupted stage never
leaves a half-written file for a later stage to read.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np

# A fixed timestamp for archive members: zip entries otherwise carry the write time, which
# would make identical data produce different bytes (and different DVC hashes) on every run.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it to `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; the artifact gets an ordinary file's mode
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: str | os.PathLike, payload: bytes) -> None:
    """Write bytes atomically (serialise in memory first, so the bytes never depend on the temporary name)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(payload)


def write_json(path: str | os.PathLike, obj) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def sha256_of(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> None:
    """Write arrays as a compressed .npz whose bytes depend only on the arrays (and atomically)."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            array = np.asarray(arrays[name])
            if array.dtype == object:
                raise TypeError(f"array {name!r} has dtype object; store strings as fixed-width str")
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, array, allow_pickle=False)
            member = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            member.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(member, buffer.getvalue())


def load_npz(path: str | os.PathLike, made_by: str) -> dict[str, np.ndarray]:
    """Read an .npz fully; a missing or unreadable file names the stage that makes it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run the '{made_by}' stage first (dvc repro {made_by}).")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise ValueError(
            f"{path} is truncated or not a padirec archive ({error}); delete it and re-run the "
            f"'{made_by}' stage (dvc repro -f {made_by})."
        ) from error
