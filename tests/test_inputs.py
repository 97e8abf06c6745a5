"""Bad input files: each a clear error naming the file and the stage that makes it."""
from __future__ import annotations

import dataclasses
import subprocess

import numpy as np
import pytest
import torch

from padirec.data import dataset as data, sources
from padirec.pipeline import artifacts, config, io
from padirec.training import generators as generator


def test_failed_download_says_how_to_provide_the_wheel(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        return subprocess.CompletedProcess(args, 1, "", "ERROR: Could not find a version (network unreachable)")

    monkeypatch.setattr(sources.subprocess, "run", offline)
    with pytest.raises(sources.DataError, match=r"could not download recbole==1.2.1.*network unreachable.*put it in"):
        sources.fetch_raw(config.DataConfig(), tmp_path)
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


def small_sweep(backbone: str = "sasrec") -> artifacts.AdapterSweep:
    checkpoints = np.random.default_rng(0).normal(size=(1, 2, 1, 1096)).astype(np.float32)
    return artifacts.AdapterSweep(backbone, ["acc", "div"], np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([0]),
                                  np.array([1]), checkpoints)


def test_sweep_must_match_its_backbone_and_objectives_and_be_finite(tmp_path):
    path = tmp_path / "gru4rec.npz"
    small_sweep("sasrec").save(path)
    with pytest.raises(ValueError, match="made for backbone sasrec, not gru4rec.*'sweep' stage"):
        artifacts.AdapterSweep.load(path, backbone="gru4rec")
    with pytest.raises(ValueError, match=r"made for objectives \['acc', 'div'\], not \['acc', 'div', 'nov'\]"):
        artifacts.AdapterSweep.load(path, backbone="sasrec", objectives=["acc", "div", "nov"])
    assert artifacts.AdapterSweep.load(path, backbone="sasrec", objectives=["acc", "div"]).backbone == "sasrec"
    broken = small_sweep()
    broken.checkpoints[0, 1, 0, 7] = np.nan
    broken.save(path)
    with pytest.raises(ValueError, match="checkpoints are not all finite numbers.*'sweep' stage"):
        artifacts.AdapterSweep.load(path)
    ragged = small_sweep()
    ragged.weights = np.array([[0.0, 1.0]])  # one requirement for two checkpoint rows
    ragged.save(path)
    with pytest.raises(ValueError, match=r"checkpoints have shape \[1, 2, 1, 1096\], expected \[1, 1, 1"):
        artifacts.AdapterSweep.load(path)


def tiny_generator() -> generator.Generator:
    cfg = config.DiffusionConfig(train_steps=2, d_model=16, layers=1, heads=2, steps=20, sample_steps=5)
    return generator.train_generator(small_sweep(), cfg, progress=False)


def test_generator_must_match_its_backbone_and_objectives_and_be_finite(tmp_path):
    path = tmp_path / "seed0.pt"
    trained = tiny_generator()
    trained.save(path, "sasrec")
    with pytest.raises(ValueError, match="made for backbone sasrec, not gru4rec.*'diffusion' stage"):
        generator.Generator.load(path, backbone="gru4rec")
    with pytest.raises(ValueError, match="made for objectives"):
        generator.Generator.load(path, backbone="sasrec", objectives=["acc"])
    assert generator.Generator.load(path, backbone="sasrec", objectives=["acc", "div"]).n_params == 1096
    trained.normaliser.scale[3] = float("inf")
    trained.save(path, "sasrec")
    with pytest.raises(ValueError, match="NaN or inf in scale.*'diffusion' stage"):
        generator.Generator.load(path)
    payload = torch.load(path, weights_only=True)
    payload["mean"] = torch.zeros(5)
    torch.save(payload, path)
    with pytest.raises(ValueError, match=r"mean does not have shape \[1096\]"):
        generator.Generator.load(path)


def test_backbone_must_match_its_name_and_be_finite(tmp_path):
    from padirec.models.backbones import build_backbone

    path = tmp_path / "gru4rec.pt"
    model = build_backbone("sasrec", 30, hidden=16, blocks=1, heads=2)
    artifacts.save_backbone(model, "sasrec", {"hidden": 16, "blocks": 1, "heads": 2}, path)
    with pytest.raises(ValueError, match="made for backbone sasrec, not gru4rec.*'backbone' stage"):
        artifacts.load_backbone(path, "gru4rec")
    with torch.no_grad():
        model.item_embedding.weight[4, 2] = float("nan")
    artifacts.save_backbone(model, "sasrec", {"hidden": 16, "blocks": 1, "heads": 2}, path)
    with pytest.raises(ValueError, match="NaN or inf in item_embedding.weight"):
        artifacts.load_backbone(path, "sasrec")
    payload = torch.load(path, weights_only=True)
    payload["settings"] = {"hidden": 32, "blocks": 1, "heads": 2}  # weights of a hidden-16 model
    payload["state_dict"]["item_embedding.weight"].nan_to_num_(0.0)
    torch.save(payload, path)
    with pytest.raises(ValueError, match="does not fit the model its settings describe.*'backbone' stage"):
        artifacts.load_backbone(path, "sasrec")


def test_eval_negatives_above_the_unrated_items_names_the_largest_that_works(raw_files):
    smoke = config.PrepareConfig(max_users=150)
    with pytest.raises(sources.DataError) as error:
        data.prepare_dataset(raw_files, config.DataConfig(), dataclasses.replace(smoke, eval_negatives=5000))
    message = str(error.value)
    largest = int(message.split("the largest value that works is ")[1].split(":")[0])
    assert "prepare.eval_negatives = 5000" in message and "set prepare.eval_negatives to at most" in message
    prepared = data.prepare_dataset(raw_files, config.DataConfig(), dataclasses.replace(smoke, eval_negatives=largest))
    assert prepared.test.negatives.shape[1] == largest
    with pytest.raises(sources.DataError, match=f"prepare.eval_negatives = {largest + 1} is larger"):
        data.prepare_dataset(raw_files, config.DataConfig(), dataclasses.replace(smoke, eval_negatives=largest + 1))
