"""padirec.data.sources on the real MovieLens-100K wheel: fetching, checksums, local data sets."""
from __future__ import annotations

import shutil

import pytest

from padirec.data import sources
from padirec.pipeline import config


def test_unknown_data_set_name_is_a_clear_error(tmp_path):
    with pytest.raises(sources.DataError, match="unknown data set data.name = 'ml-10k'.*ml-100k"):
        sources.fetch_raw(config.DataConfig(name="ml-10k"), tmp_path)


def test_wheel_dropped_by_hand_is_used_and_checked(repo, tmp_path):
    wheel = repo / "data" / "raw" / sources.BUILTIN_SOURCES["ml-100k"].wheel
    shutil.copy(wheel, tmp_path / wheel.name)
    raw = sources.fetch_raw(config.DataConfig(), tmp_path)
    assert "used the wheel found at" in raw.how and raw.inter.exists()
    again = sources.fetch_raw(config.DataConfig(), tmp_path)
    assert "already extracted" in again.how


def test_corrupt_wheel_fails_before_extracting(repo, tmp_path):
    wheel = repo / "data" / "raw" / sources.BUILTIN_SOURCES["ml-100k"].wheel
    corrupt = bytearray(wheel.read_bytes())
    corrupt[1000] ^= 0xFF
    (tmp_path / wheel.name).write_bytes(bytes(corrupt))
    with pytest.raises(sources.DataError, match="checksum mismatch for .*recbole-1.2.1-py3-none-any.whl"):
        sources.fetch_raw(config.DataConfig(), tmp_path)
    assert not (tmp_path / "ml-100k").exists() or not any((tmp_path / "ml-100k").iterdir())


def test_corrupt_extracted_file_is_named(raw_files, tmp_path):
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    for path in (raw_files.inter, raw_files.item, raw_files.user):
        shutil.copy(path, folder / path.name)
    with open(folder / "ml-100k.item", "a") as handle:
        handle.write("9999\tExtra\t2000\tDrama\n")
    with pytest.raises(sources.DataError, match="checksum mismatch for .*ml-100k.item"):
        sources.fetch_raw(config.DataConfig(), tmp_path)


def test_missing_item_file(tmp_path):
    (tmp_path / "lonely").mkdir()
    (tmp_path / "lonely" / "lonely.inter").write_text("user_id:token\titem_id:token\n")
    with pytest.raises(FileNotFoundError, match="lonely.item is missing"):
        sources.fetch_raw(config.DataConfig(name="lonely"), tmp_path)
