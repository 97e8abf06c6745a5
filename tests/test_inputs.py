"""Bad input files: each a clear error naming the file and the stage that makes it."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest
import torch

from padirec import artifacts, config, data, generator, io


def test_failed_download_says_how_to_provide_the_wheel(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        return subprocess.CompletedProcess(args, 1, "", "ERROR: Could not find a version (network unreachable)")

    monkeypatch.setattr(data.subprocess, "run", offline)
    with pytest.raises(data.DataError, match=r"could not download recbole==1.2.1.*network unreachable.*put it in"):
        data.fetch_raw(config.DataConfig(), tmp_path)
    assert not (tmp_path / "recbole-1.2.1-py3-none-any.whl").exists()


def test_missing_or_foreign_sweep_names_the_sweep_stage(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the 'sweep' stage"):
        artifacts.AdapterSweep.load(tmp_path / "sasrec.npz")
    io.save_npz(tmp_path / "other.npz", {"values": np.arange(3)})
    with pytest.raises(ValueError, match="not an adapter sweep; re-run the 'sweep' stage"):
        artifacts.AdapterSweep.load(tmp_path / "other.npz")


def test_missing_truncated_or_foreign_generator(tmp_path):
    with pytest.raises(FileNotFoundError, match="run the 'diffusion' stage"):
        generator.Generator.load(tmp_path / "sasrec.pt")
    truncated = tmp_path / "cut.pt"
    torch.save({"format": generator.GENERATOR_FORMAT, "state_dict": {"w": torch.zeros(1000)}}, truncated)
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(ValueError, match="truncated or not a padirec generator.*'diffusion'"):
        generator.Generator.load(truncated)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(ValueError, match="not a padirec generator"):
        generator.Generator.load(foreign)


def test_missing_dataset_names_the_prepare_stage(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"run the 'prepare' stage first \(dvc repro prepare\)"):
        data.Dataset.load(tmp_path / "dataset.npz")


def test_generator_rejects_requirements_of_the_wrong_length():
    sweep = artifacts.AdapterSweep("sasrec", ["acc", "div"], np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([0]),
                                   np.array([1]), np.random.default_rng(0).normal(size=(1, 2, 1, 1096)).astype(np.float32))
    cfg = config.DiffusionConfig(train_steps=2, d_model=16, layers=1, heads=2, steps=20, sample_steps=5)
    trained = generator.train_generator(sweep, cfg, progress=False)
    with pytest.raises(ValueError, match=r"requirements must be \[N, 2\]"):
        trained.generate(np.array([[0.2, 0.3, 0.5]]))
