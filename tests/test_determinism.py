"""The same params and seeds give bitwise-identical models, adapters, samples and metrics."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from padirec import config, data, evaluation, generator, sweep, train


@pytest.fixture(scope="module")
def smoke(raw_files):
    cfg = config.load_config(None)
    dataset = data.prepare_dataset(raw_files, cfg.data, cfg.prepare)
    return cfg, dataset


def run_smoke_stages(cfg, dataset):
    valid = evaluation.EvaluationSet.from_split(dataset, dataset.valid)
    test = evaluation.EvaluationSet.from_split(dataset, dataset.test)
    backbone = train.train_backbone("sasrec", dataset, dataclasses.replace(cfg.backbone, epochs=1), valid)
    swept = sweep.run_sweep("sasrec", backbone.model, dataset, dataclasses.replace(cfg.sweep, epochs=2, seeds=[0]), test)
    trained = generator.train_generator(swept.sweep, dataclasses.replace(cfg.diffusion, train_steps=10), progress=False)
    samples = trained.generate(np.array([[0.3, 0.7], [0.9, 0.1]]), seed=1)
    return backbone, swept, samples


def test_smoke_stages_twice_give_identical_results(smoke):
    cfg, dataset = smoke
    first, second = run_smoke_stages(cfg, dataset), run_smoke_stages(cfg, dataset)
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
