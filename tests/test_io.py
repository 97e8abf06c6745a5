"""Atomic, byte-reproducible artifact writing."""
from __future__ import annotations

import numpy as np
import torch
import pytest

from padirec.pipeline import io


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


def test_write_bytes_is_atomic_and_leaves_no_temporary_file(tmp_path):
    io.write_bytes(tmp_path / "blob.bin", b"\x00\x01")
    assert (tmp_path / "blob.bin").read_bytes() == b"\x00\x01"
    assert [p.name for p in tmp_path.iterdir()] == ["blob.bin"]


def test_checkpoints_are_byte_reproducible(tmp_path):
    """Identical weights give identical bytes whatever the file name (torch names the archive's folder
    after the file it writes), and loading then saving again changes nothing."""
    from padirec.pipeline import artifacts, config
    from padirec.training import generators as generator
    from padirec.models.backbones import build_backbone

    torch.manual_seed(0)
    model = build_backbone("gru4rec", 40, hidden=16)
    for name in ("a.pt", "b.pt"):
        artifacts.save_backbone(model, "gru4rec", {"hidden": 16}, tmp_path / name, extra={"epochs": 3})
    loaded, meta = artifacts.load_backbone(tmp_path / "a.pt", "gru4rec")
    artifacts.save_backbone(loaded, meta["name"], meta["settings"], tmp_path / "c.pt", meta["extra"])
    assert len({io.sha256_of(tmp_path / name) for name in ("a.pt", "b.pt", "c.pt")}) == 1

    sweep = artifacts.AdapterSweep("gru4rec", ["acc", "div"], np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([0]),
                                   np.array([1]), np.random.default_rng(0).normal(size=(1, 2, 1, 1096)).astype(np.float32))
    cfg = config.DiffusionConfig(train_steps=2, d_model=16, layers=1, heads=2, steps=20, sample_steps=5)
    trained = generator.train_generator(sweep, cfg, progress=False)
    for name in ("g1.pt", "g2.pt"):
        trained.save(tmp_path / name, "gru4rec")
    generator.Generator.load(tmp_path / "g1.pt", backbone="gru4rec").save(tmp_path / "g3.pt", "gru4rec")
    assert len({io.sha256_of(tmp_path / name) for name in ("g1.pt", "g2.pt", "g3.pt")}) == 1
    assert not list(tmp_path.glob(".*"))


def test_atomic_writes_get_an_ordinary_file_mode(tmp_path):
    """mkstemp's 0600 must not leak into artifacts that others read (umask 022 gives 0644)."""
    import os

    previous = os.umask(0o022)
    try:
        target = tmp_path / "table.md"
        io.write_text(target, "x")
        assert target.stat().st_mode & 0o777 == 0o666 & ~io._UMASK
    finally:
        os.umask(previous)
