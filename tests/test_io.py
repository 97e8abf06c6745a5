"""Atomic, byte-reproducible artifact writing."""
from __future__ import annotations

import numpy as np
import pytest

from padirec import io


def test_atomic_path_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "artifact.txt"
    target.write_text("complete old result")
    with pytest.raises(RuntimeError):
        with io.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "complete old result"
    assert [p.name for p in tmp_path.iterdir()] == ["artifact.txt"]


def test_save_npz_is_byte_reproducible_and_round_trips(tmp_path):
    arrays = {"b": np.arange(10, dtype=np.int32), "a": np.array(["x", "yz"]), "meta": np.array("{}")}
    io.save_npz(tmp_path / "one.npz", arrays)
    io.save_npz(tmp_path / "two.npz", dict(reversed(list(arrays.items()))))
    assert (tmp_path / "one.npz").read_bytes() == (tmp_path / "two.npz").read_bytes()
    loaded = io.load_npz(tmp_path / "one.npz", made_by="prepare")
    assert np.array_equal(loaded["b"], arrays["b"]) and list(loaded["a"]) == ["x", "yz"]


def test_load_npz_names_the_stage(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the 'prepare' stage"):
        io.load_npz(tmp_path / "missing.npz", made_by="prepare")
    truncated = tmp_path / "cut.npz"
    io.save_npz(truncated, {"x": np.arange(1000)})
    truncated.write_bytes(truncated.read_bytes()[:50])
    with pytest.raises(ValueError, match="truncated or not a padirec archive.*'prepare'"):
        io.load_npz(truncated, made_by="prepare")
