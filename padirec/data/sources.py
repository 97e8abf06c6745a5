"""Raw data in the RecBole atomic-file format: where the files come from and how they are read.

BUILTIN_SOURCES maps each built-in data.name to its source, and each kind of source fetches itself:
- WheelSource: a data set shipped inside a PyPI wheel (MovieLens-100K in recbole 1.2.1). The wheel is
  downloaded with pip (or taken from the raw folder), verified by checksum and the atomic files
  extracted and verified in turn.
- ZipSource: a data set published as a zip archive at a fixed address (MovieLens-1M from GroupLens).
  The archive is downloaded with the standard library (urllib) or taken from the raw folder, verified
  by checksum, and converted into atomic files.
Any other data.name is a folder of the user's own atomic files under the raw folder.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from padirec.pipeline.sections import DataConfig
from padirec.pipeline.io import sha256_of


class DataError(ValueError):
    """The raw data or the preparation settings cannot produce a data set."""


@dataclass(frozen=True)
class RawFiles:
    inter: Path
    item: Path
    user: Path | None
    how: str  # one sentence on where the files came from, for the notebook to show


@dataclass(frozen=True)
class WheelSource:
    """A data set shipped inside a PyPI wheel, fetched with `pip download --no-deps`."""

    requirement: str
    wheel: str
    wheel_sha256: str
    member_dir: str
    file_sha256: dict[str, str]

    def fetch(self, name: str, raw_dir: Path) -> RawFiles:
        folder = raw_dir / name
        files = {kind: folder / f"{name}.{kind}" for kind in self.file_sha256}
        if all(path.exists() for path in files.values()):
            for kind, path in files.items():
                _verify(path, self.file_sha256[kind], f"delete {folder} to extract it again from the wheel")
            return RawFiles(files["inter"], files["item"], files["user"],
                            f"using the files already extracted in {_shown(folder)}")
        wheel = raw_dir / self.wheel
        if wheel.exists():
            how = f"used the wheel found at {_shown(wheel)} (no download)"
        else:
            _download_wheel(self, raw_dir)
            how = f"downloaded {self.requirement} with pip into {_shown(wheel)}"
        _verify(wheel, self.wheel_sha256, f"delete {wheel} and re-run to download it again")
        _extract(wheel, self, name, folder)
        return RawFiles(files["inter"], files["item"], files["user"], f"{how}; extracted {name} to {_shown(folder)}")


# A converter reads the open archive and returns the text of each atomic file ("inter", "item", "user");
# `where` names the archive and `fix` says what to do, both for its error messages.
Converter = Callable[[zipfile.ZipFile, str, str], dict[str, str]]


@dataclass(frozen=True)
class ZipSource:
    """A data set published as one zip archive at a fixed address, converted into atomic files.

    Only the MD5 is checked: it is the digest the provider publishes next to the archive. The SHA-256
    is recorded for reference and reported by the download, never a reason to refuse the file.
    """

    url: str
    archive: str  # the archive's file name in the raw folder
    md5: str  # checked
    sha256: str  # recorded, not checked
    size: int  # bytes, for the messages
    convert: Converter

    def fetch(self, name: str, raw_dir: Path) -> RawFiles:
        folder = raw_dir / name
        files = {kind: folder / f"{name}.{kind}" for kind in ATOMIC_KINDS}
        manifest = folder / CONVERTED_MANIFEST
        if manifest.exists() and all(path.exists() for path in files.values()):
            fix = f"delete {folder} to convert it again from {self.archive}"
            try:
                recorded = {kind: json.loads(manifest.read_text())["sha256"][kind] for kind in files}
            except (ValueError, KeyError, TypeError):
                raise DataError(f"{manifest} is not a record of converted files; {fix}.") from None
            for kind, path in files.items():
                _verify(path, recorded[kind], fix)
            return RawFiles(files["inter"], files["item"], files["user"],
                            f"using the files already converted in {_shown(folder)}")
        archive = raw_dir / self.archive
        if archive.exists():
            fix = f"delete {archive} and re-run to download it again"
            found = _digests(archive)
            if found["md5"] != self.md5:
                raise DataError(f"checksum mismatch for {archive}: md5 {found['md5']}, expected {self.md5}. "
                                f"The file is corrupt or not the expected release; {fix}.")
            tables = self._converted(archive, str(archive), fix)
            how = f"used the archive found at {_shown(archive)} (no download)"
        else:
            tables = {}
            fix = "nothing was kept; re-run to download it again"
            check = lambda temporary: tables.update(self._converted(temporary, f"the download of {self.url}", fix))
            try:
                found = _download(self.url, archive, self.md5, check)
            except _Unreachable as error:
                raise DataError(
                    f"could not download {self.url} ({error.reason}). Without network access, download "
                    f"{self.archive} ({self.size:,} bytes, md5 {self.md5}) on another machine and put it at {archive}; "
                    "the stage then picks it up without downloading."
                ) from None
            except _ChecksumMismatch as error:
                raise DataError(f"checksum mismatch for the download of {self.url}: md5 {error.actual}, expected "
                                f"{error.expected}. It is corrupt or not the expected release; {fix}.") from None
            how = f"downloaded {self.url} into {_shown(archive)}"
        sha256 = "md5 as published and sha256 as recorded" if found["sha256"] == self.sha256 else \
            f"md5 as published, sha256 {found['sha256']} (the recorded one is {self.sha256}; only the md5 is checked)"
        _install(tables, raw_dir, folder, name, {"archive_md5": found["md5"], "archive_sha256": found["sha256"]})
        return RawFiles(files["inter"], files["item"], files["user"],
                        f"{how}, {sha256}; converted {name} to {_shown(folder)}")

    def _converted(self, archive: Path, where: str, fix: str) -> dict[str, str]:
        try:
            with zipfile.ZipFile(archive) as opened:
                return self.convert(opened, where, fix)
        except (zipfile.BadZipFile, zlib.error, EOFError) as error:  # truncated, or damaged past its checksum
            raise DataError(f"{where} is not a readable zip archive ({_one_line(error)}); {fix}.") from None


ATOMIC_KINDS = ("inter", "item", "user")
CONVERTED_MANIFEST = "converted.json"  # the converted files' sha256, written last: the conversion's commit mark


# ---------------------------------------------------------------------------------------------
# MovieLens-1M: the .dat files of the GroupLens release as atomic files


ML1M_FIELDS = {  # the release's README: "::"-separated, Latin-1
    "ratings.dat": ("UserID", "MovieID", "Rating", "Timestamp"),
    "movies.dat": ("MovieID", "Title", "Genres"),
    "users.dat": ("UserID", "Gender", "Age", "Occupation", "Zip-code"),
}
# The same headers as the MovieLens-100K atomic files of the recbole wheel.
ATOMIC_HEADERS = {
    "inter": ("user_id:token", "item_id:token", "rating:float", "timestamp:float"),
    "item": ("item_id:token", "movie_title:token_seq", "release_year:token", "class:token_seq"),
    "user": ("user_id:token", "age:token", "gender:token", "occupation:token", "zip_code:token"),
}
TITLE_YEAR = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})\)\s*$")


def movielens_1m_atomic(archive: zipfile.ZipFile, where: str, fix: str) -> dict[str, str]:
    """ml-1m/{ratings,movies,users}.dat as the text of the atomic files: ratings as they are, each title
    split into title and release year, genres space-separated (each one token) in `class`, and each user's
    age (the release's age band), gender, occupation (its code) and zip code."""
    members = {name: f"ml-1m/{name}" for name in ML1M_FIELDS}
    missing = [member for member in members.values() if member not in archive.namelist()]
    if missing:
        raise DataError(f"{where} has no {', '.join(missing)}: it is not the MovieLens-1M release; {fix}.")
    ratings = _dat_rows(archive, members["ratings.dat"], where, fix, whole_numbers=(0, 1, 2, 3))
    movies = _dat_rows(archive, members["movies.dat"], where, fix, whole_numbers=(0,))
    users = _dat_rows(archive, members["users.dat"], where, fix, whole_numbers=(0,))
    items = []
    for movie, title, genres in movies:
        named = TITLE_YEAR.match(title)
        title, year = (named["title"], named["year"]) if named else (title.strip(), "")
        # A token_seq is split at spaces: a genre stays one token (Children's, Film-Noir and Sci-Fi are
        # one already; none of the release has a space, which would become '_').
        items.append((movie, title, year, " ".join("_".join(genre.split()) for genre in genres.split("|") if genre.strip())))
    people = [(user, age, gender, occupation, zip_code) for user, gender, age, occupation, zip_code in users]
    return {kind: _atomic_text(ATOMIC_HEADERS[kind], rows)
            for kind, rows in (("inter", ratings), ("item", items), ("user", people))}


def _dat_rows(archive: zipfile.ZipFile, member: str, where: str, fix: str, whole_numbers: tuple[int, ...]) -> list[list[str]]:
    fields = ML1M_FIELDS[member.rsplit("/", 1)[1]]
    text = archive.read(member).decode("latin-1")
    lines = text.split("\n")  # not splitlines(): Latin-1 byte 0x85 decodes to a character it would split at
    if lines and lines[-1] == "":
        lines.pop()
    rows = []
    for number, line in enumerate(lines, start=1):
        values = line.removesuffix("\r").split("::")
        problem = None
        if len(values) != len(fields):
            problem = f"has {len(values)} '::'-separated fields, expected {len(fields)} ({'::'.join(fields)})"
        elif any("\t" in value for value in values):
            problem = "has a tab, the separator of the atomic files"
        else:
            bad = next((index for index in whole_numbers if not (values[index].isascii() and values[index].isdigit())), None)
            if bad is not None:
                problem = f"has {fields[bad]} {values[bad]!r}, not a whole number"
        if problem:
            raise DataError(f"{member} line {number} in {where} {problem}: {line[:80]!r}; {fix}.")
        rows.append(values)
    return rows


def _atomic_text(header: tuple[str, ...], rows) -> str:
    return "".join("\t".join(row) + "\n" for row in [header, *rows])


def _install(tables: dict[str, str], raw_dir: Path, folder: Path, name: str, source: dict) -> None:
    """Write every converted file to a temporary folder first, then move them into `folder`, the manifest
    with their checksums last: a failure on the way leaves no file that counts as converted."""
    with tempfile.TemporaryDirectory(dir=raw_dir, prefix=".convert-") as scratch:
        written = {}
        for kind, text in tables.items():
            path = Path(scratch) / f"{name}.{kind}"
            path.write_text(text, encoding="utf-8", newline="")
            written[kind] = path
        manifest = Path(scratch) / CONVERTED_MANIFEST
        manifest.write_text(json.dumps({**source, "sha256": {kind: sha256_of(path) for kind, path in written.items()}},
                                       indent=1, sort_keys=True) + "\n")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CONVERTED_MANIFEST).unlink(missing_ok=True)
        for path in [*written.values(), manifest]:
            os.replace(path, folder / path.name)


# MovieLens-100K as RecBole 1.2.1 ships it; checksums taken from that wheel. MovieLens-1M from GroupLens:
# the md5 is the one GroupLens publishes (ml-1m.zip.md5), the sha256 the one other projects pin.
BUILTIN_SOURCES = {
    "ml-100k": WheelSource(
        requirement="recbole==1.2.1",
        wheel="recbole-1.2.1-py3-none-any.whl",
        wheel_sha256="9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407",
        member_dir="recbole/dataset_example/ml-100k/",
        file_sha256={
            "inter": "4edb74e2a81178c2ba9ff381495f754f996c4aea351b1272ca36b43da0935eff",
            "item": "51d7cdf777ce5c0f5b32c1d947a4a81fe07d75e78abbe761e0cd4d0756064532",
            "user": "4f670007d9cfbeb9807e757209af1555b9bcc186bde25e767f67cb67c6dd5972",
        },
    ),
    "ml-1m": ZipSource(
        url="https://files.grouplens.org/datasets/movielens/ml-1m.zip",
        archive="ml-1m.zip",
        md5="c4d9eecfca2ab87c1945afe126590906",
        sha256="a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
        size=5_917_549,
        convert=movielens_1m_atomic,
    ),
}


# ---------------------------------------------------------------------------------------------
# Fetching


def fetch_raw(config: DataConfig, raw_dir: Path) -> RawFiles:
    """Locate (and for built-in sources download, verify and extract or convert) the atomic files."""
    source = BUILTIN_SOURCES.get(config.name)
    if source is None:
        return _local_files(config.name, raw_dir / config.name)
    return source.fetch(config.name, raw_dir)


def _shown(path: Path) -> str:
    """A path as a notebook shows it: relative to the working folder where it lies below it (no machine paths)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return Path(path).name


def _local_files(name: str, folder: Path) -> RawFiles:
    inter, item, user = (folder / f"{name}.{kind}" for kind in ("inter", "item", "user"))
    if not folder.exists():
        raise DataError(
            f"unknown data set data.name = '{name}': the built-in ones are {', '.join(BUILTIN_SOURCES)}; "
            f"for your own data set put {name}.inter and {name}.item (RecBole atomic format) in {folder}/."
        )
    for required in (inter, item):
        if not required.exists():
            raise FileNotFoundError(f"{required} is missing: data set '{name}' needs {inter.name} and {item.name} in {folder}/.")
    return RawFiles(inter, item, user if user.exists() else None, f"using the local files in {folder}")


def _verify(path: Path, expected: str, fix: str) -> None:
    actual = sha256_of(path)
    if actual != expected:
        raise DataError(f"checksum mismatch for {path}: sha256 {actual}, expected {expected}. The file is corrupt or not the expected release; {fix}.")


def _download_wheel(source: WheelSource, raw_dir: Path) -> None:
    raw_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=raw_dir, prefix=".download-") as scratch:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--disable-pip-version-check", "-q", "-d", scratch, source.requirement]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        downloaded = Path(scratch) / source.wheel
        if result.returncode != 0 or not downloaded.exists():
            raise DataError(
                f"could not download {source.requirement} from the package index "
                f"({result.stderr.strip()[-400:] or 'no wheel produced'}). Without registry access, fetch "
                f"{source.wheel} on another machine (`pip download --no-deps {source.requirement}`) and put it in {raw_dir}/; "
                "the stage then uses it without downloading."
            )
        shutil.move(downloaded, raw_dir / source.wheel)


def _extract(wheel: Path, source: WheelSource, name: str, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as archive:
        for kind, expected in source.file_sha256.items():
            target = folder / f"{name}.{kind}"
            temporary = target.with_name(f".{target.name}.tmp")
            with archive.open(f"{source.member_dir}{name}.{kind}") as member, open(temporary, "wb") as out:
                shutil.copyfileobj(member, out)
            _verify(temporary, expected, f"the wheel {wheel} is damaged; delete it and re-run")
            temporary.replace(target)


# ---------------------------------------------------------------------------------------------
# Downloading an archive (standard library only)
#
# The file is streamed to a temporary name in the target's folder and renamed to the target only after
# its MD5 matched and `check` accepted it, so an interrupted, corrupt or unreadable download never sits
# where the finished file belongs; on any failure the temporary is deleted.

DOWNLOAD_CHUNK = 1 << 20
DOWNLOAD_TIMEOUT_S = 60  # per blocking socket operation, not for the whole download


class _Unreachable(Exception):
    """The file could not be fetched (no network, refused, HTTP error, connection dropped)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class _ChecksumMismatch(Exception):
    def __init__(self, actual: str, expected: str):
        self.actual, self.expected = actual, expected
        super().__init__(f"md5 {actual}, expected {expected}")


def _digests(path: Path) -> dict[str, str]:
    """The md5 and sha256 of a file, read once."""
    hashes = {"md5": hashlib.md5(), "sha256": hashlib.sha256()}
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(DOWNLOAD_CHUNK), b""):
            for digest in hashes.values():
                digest.update(block)
    return {name: digest.hexdigest() for name, digest in hashes.items()}


def _one_line(text: object) -> str:
    """An error's text on one line (some socket and HTTP errors carry newlines)."""
    return " ".join(str(text).split()) or "no reason given"


def _reason(error: Exception) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {_one_line(error.reason)}"
    if isinstance(error, urllib.error.URLError):
        return _one_line(error.reason)
    return _one_line(error) if str(error) else type(error).__name__


def _download(url: str, target: Path, md5: str, check: Callable[[Path], None]) -> dict[str, str]:
    """Fetch `url` into `target` if its MD5 is `md5` and `check(temporary)` raises nothing; return its md5
    and sha256. Raises _Unreachable or _ChecksumMismatch, or what `check` raises, leaving `target` as it was."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                    for block in iter(lambda: response.read(DOWNLOAD_CHUNK), b""):
                        out.write(block)
            except (OSError, http.client.HTTPException, ValueError) as error:  # URLError is an OSError
                raise _Unreachable(_reason(error)) from None
        found = _digests(temporary)
        if found["md5"] != md5:
            raise _ChecksumMismatch(found["md5"], md5)
        check(temporary)
        os.replace(temporary, target)
        return found
    finally:
        temporary.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# Reading atomic files


def read_atomic(path: Path) -> pd.DataFrame:
    """A RecBole atomic file as strings, with the `:type` suffixes stripped from the header."""
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, quoting=3)
    frame.columns = [column.split(":")[0] for column in frame.columns]
    return frame
