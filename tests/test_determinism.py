"""The same params and seeds give bitwise-identical models, adapters, samples and metrics, and
byte-identical files (so DVC's hashes, and what it re-runs, depend only on the content)."""
from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest
import torch

from padirec import artifacts, config, data, evaluation, generator, sweep, train


@pytest.fixture(scope="module")
def smoke(raw_files):
    cfg = config.load_config(None)
    dataset = data.prepare_dataset(raw_files, cfg.data, cfg.prepare)
    return cfg, dataset


def run_smoke_stages(cfg, dataset, folder):
    valid = evaluation.EvaluationSet.from_split(dataset, dataset.valid)
    test = evaluation.EvaluationSet.from_split(dataset, dataset.test)
    backbone = train.train_backbone("sasrec", dataset, dataclasses.replace(cfg.backbone, epochs=1), valid)
    swept = sweep.run_sweep("sasrec", backbone.model, dataset, dataclasses.replace(cfg.sweep, epochs=2, seeds=[0]), test)
    trained = generator.train_generator(swept.sweep, dataclasses.replace(cfg.diffusion, train_steps=10), progress=False)
    samples = trained.generate(np.array([[0.3, 0.7], [0.9, 0.1]]), seed=1)
    # Each run writes under its own folder: the file names (and atomic temporary names) differ.
    artifacts.save_backbone(backbone.model, "sasrec", backbone.settings, folder / "backbones" / "sasrec.pt")
    swept.sweep.save(folder / "sweep" / "sasrec.npz")
    trained.save(folder / "generator" / "sasrec" / "seed0.pt", "sasrec")
    return backbone, swept, samples


def file_hashes(folder):
    return {str(path.relative_to(folder)): hashlib.md5(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def test_smoke_stages_twice_give_identical_results(smoke, tmp_path):
    cfg, dataset = smoke
    first = run_smoke_stages(cfg, dataset, tmp_path / "first")
    second = run_smoke_stages(cfg, dataset, tmp_path / "second")
    hashes = file_hashes(tmp_path / "first")
    assert len(hashes) == 3 and hashes == file_hashes(tmp_path / "second")
    for name, tensor in first[0].model.state_dict().items():
        assert torch.equal(tensor, second[0].model.state_dict()[name]), name
    assert first[0].curve["valid_ndcg@10"].tolist() == second[0].curve["valid_ndcg@10"].tolist()
    assert np.array_equal(first[1].sweep.checkpoints, second[1].sweep.checkpoints)
    metric_columns = [c for c in first[1].grid.columns if "@" in c]
    assert first[1].grid[metric_columns].equals(second[1].grid[metric_columns])
    assert torch.equal(first[2], second[2])


def test_prepared_data_is_identical(smoke, raw_files, tmp_path):
    cfg, dataset = smoke
    dataset.save(tmp_path / "a.npz")
    data.prepare_dataset(raw_files, cfg.data, cfg.prepare).save(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
