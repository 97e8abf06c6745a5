"""Raw data in the RecBole atomic-file format: where the files come from and how they are read.

A built-in source (BUILTIN_SOURCES) is a data set shipped inside a PyPI wheel: the wheel is downloaded
with pip (or taken from the raw folder), verified by checksum and the atomic files extracted and
verified in turn. Any other data.name is a folder of the user's own atomic files under the raw folder.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from padirec.pipeline.sections import DataConfig
from padirec.pipeline.io import sha256_of


class DataError(ValueError):
    """The raw data or the preparation settings cannot produce a data set."""


@dataclass(frozen=True)
class WheelSource:
    """A data set shipped inside a PyPI wheel, fetched with `pip download --no-deps`."""

    requirement: str
    wheel: str
    wheel_sha256: str
    member_dir: str
    file_sha256: dict[str, str]


# MovieLens-100K as RecBole 1.2.1 ships it; checksums taken from that wheel.
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
    )
}


@dataclass(frozen=True)
class RawFiles:
    inter: Path
    item: Path
    user: Path | None
    how: str  # one sentence on where the files came from, for the notebook to show


# ---------------------------------------------------------------------------------------------
# Fetching


def fetch_raw(config: DataConfig, raw_dir: Path) -> RawFiles:
    """Locate (and for built-in sources download, verify and extract) the atomic files."""
    folder = raw_dir / config.name
    source = BUILTIN_SOURCES.get(config.name)
    if source is None:
        return _local_files(config.name, folder)
    files = {kind: folder / f"{config.name}.{kind}" for kind in source.file_sha256}
    if all(path.exists() for path in files.values()):
        for kind, path in files.items():
            _verify(path, source.file_sha256[kind], f"delete {folder} to extract it again from the wheel")
        return RawFiles(files["inter"], files["item"], files["user"],
                        f"using the files already extracted in {_shown(folder)}")
    wheel = raw_dir / source.wheel
    if wheel.exists():
        how = f"used the wheel found at {_shown(wheel)} (no download)"
    else:
        _download_wheel(source, raw_dir)
        how = f"downloaded {source.requirement} with pip into {_shown(wheel)}"
    _verify(wheel, source.wheel_sha256, f"delete {wheel} and re-run to download it again")
    _extract(wheel, source, config.name, folder)
    return RawFiles(files["inter"], files["item"], files["user"], f"{how}; extracted {config.name} to {_shown(folder)}")


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
# Reading atomic files


def read_atomic(path: Path) -> pd.DataFrame:
    """A RecBole atomic file as strings, with the `:type` suffixes stripped from the header."""
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, quoting=3)
    frame.columns = [column.split(":")[0] for column in frame.columns]
    return frame
