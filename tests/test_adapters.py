"""Stacked adapter tuning (padirec.training.adapters) on a small real slice: the tuning set, stacked against alone,
cached against uncached states."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from padirec.evaluation import protocol as evaluation
from padirec.pipeline import config
from padirec.training import adapters


SMALL_SWEEP = config.SweepConfig(epochs=3, keep_checkpoints=2, batch_size=512)
OBJECTIVES = ["acc", "div"]


def test_the_tuning_set_holds_the_training_states_targets_and_categories(small, small_backbone):
    model = small_backbone.model
    tuning = adapters.TuningSet.of(model, small)
    assert tuning.model is model and tuning.data is None
    states = evaluation.backbone_states(model, torch.as_tensor(small.train.history, dtype=torch.long))
    torch.testing.assert_close(tuning.states, states, rtol=0, atol=0)
    assert torch.equal(tuning.targets, torch.as_tensor(small.train.target, dtype=torch.long))
    assert torch.equal(tuning.item_categories, torch.as_tensor(small.item_categories, dtype=torch.float32))


def test_stacked_tuning_equals_tuning_each_requirement_alone(small, small_backbone):
    model = small_backbone.model
    states = evaluation.backbone_states(model, torch.as_tensor(small.train.history, dtype=torch.long))
    targets = torch.as_tensor(small.train.target, dtype=torch.long)
    categories = torch.as_tensor(small.item_categories, dtype=torch.float32)
    tuning = adapters.TuningSet(model, states, targets, categories)
    weights = np.array([[1.0, 0.0], [0.3, 0.7]])
    stacked = adapters.tune_adapters(tuning, weights, SMALL_SWEEP, 0, OBJECTIVES, progress=False)
    assert isinstance(stacked, adapters.SweepRun)
    assert stacked.checkpoints.shape == (2, 2, 1096) and stacked.kept_epochs == [2, 3]
    assert list(stacked.curve.columns) == ["epoch", "requirement", "loss_acc", "loss_div"]
    for r in range(2):
        alone = adapters.tune_adapters(tuning, weights[r:r + 1], SMALL_SWEEP, 0, OBJECTIVES, progress=False)
        assert np.allclose(alone.checkpoints[0], stacked.checkpoints[r], atol=1e-5)


def test_uncached_states_give_the_same_tuning_as_cached(small, small_backbone):
    from padirec.perf.bench import UncachedStates

    model = small_backbone.model
    histories = torch.as_tensor(small.train.history, dtype=torch.long)
    targets = torch.as_tensor(small.train.target, dtype=torch.long)
    categories = torch.as_tensor(small.item_categories, dtype=torch.float32)
    cached_set = adapters.TuningSet(model, evaluation.backbone_states(model, histories), targets, categories)
    uncached_set = dataclasses.replace(cached_set, states=UncachedStates(model, histories))
    weights = np.array([[0.4, 0.6]])
    cached = adapters.tune_adapters(cached_set, weights, SMALL_SWEEP, 0, OBJECTIVES, progress=False)
    uncached = adapters.tune_adapters(uncached_set, weights, SMALL_SWEEP, 0, OBJECTIVES, progress=False)
    assert np.allclose(cached.checkpoints, uncached.checkpoints, atol=1e-5)
