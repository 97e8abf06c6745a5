"""The sweep's adaptive grid: extra requirements where the validation metrics change fastest."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from padirec.data import dataset as data
from padirec.evaluation import protocol as evaluation
from padirec.pipeline import config
from padirec.training import adapters, sweep, backbone as train


def test_steepest_interval_is_the_largest_relative_change_of_any_metric():
    w_acc = np.array([0.0, 0.15, 0.5, 1.0])
    # NDCG (mean 0.5) changes by 0.3 (relative 0.6), 0.05, 0.0; alpha-NDCG (shifted to mean 0.9) by 0.05,
    # 0.01, 0.64 (relative 0.71).
    metrics = np.array([[0.3, 1.0], [0.6, 0.95], [0.55, 0.94], [0.55, 0.3]])
    metrics[:, 0] += 0.5 - metrics[:, 0].mean()
    metrics[:, 1] += 0.9 - metrics[:, 1].mean()
    assert sweep.steepest_interval(w_acc, metrics) == 2  # 0.64 / 0.9 > 0.3 / 0.5
    metrics[3, 1] = metrics[2, 1]  # flatten the last interval: the first is now steepest
    assert sweep.steepest_interval(w_acc, metrics) == 0
    with pytest.raises(ValueError, match="ascending"):
        sweep.steepest_interval(np.array([0.5, 0.0]), metrics[:2])


def test_a_budget_over_two_objectives_only_and_not_negative():
    with pytest.raises(config.ConfigError, match="studies.paper.adaptive_budget = -1"):
        config.config_from_dict({"studies": {"paper": {"adaptive_budget": -1}}})
    with pytest.raises(config.ConfigError, match="studies.three.adaptive_budget = 2: adaptive placement"):
        config.config_from_dict({"studies": {"three": {
            "objectives": ["acc", "div", "tail"], "adaptive_budget": 2, "grid": [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
            "eval_grid": [[0.5, 0.5, 0.0]], "hv_reference": [0, 0, 0], "hv_reference_full": [0, 0, 0]}}})


@pytest.fixture(scope="module")
def small(raw_files):
    return data.prepare_dataset(raw_files, config.DataConfig(), config.PrepareConfig(max_users=120))


def test_the_sweep_places_its_budget_between_grid_points_and_tunes_them_for_every_seed(small):
    valid = evaluation.EvaluationSet.from_split(small, small.valid)
    test = evaluation.EvaluationSet.from_split(small, small.test)
    model = train.train_backbone("sasrec", small, config.BackboneConfig(epochs=1, models={"sasrec": {"blocks": 1}}),
                                 valid).model
    settings = config.SweepConfig(epochs=2, keep_checkpoints=2, batch_size=512)
    # An evaluation grid on the grid's ends only: no middle is one of its requirements, so none moves.
    study = config.StudyConfig(grid=[[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]], seeds=[0, 1], adaptive_budget=2,
                               eval_grid=[[0.0, 1.0], [1.0, 0.0]])
    result = sweep.run_sweep("sasrec", model, small, settings, study, test, valid)
    w_acc = result.sweep.weights[:, 0]
    assert len(w_acc) == 5 and np.all(np.diff(w_acc) > 0)  # saved in order of w_acc
    placed = sorted(set(w_acc) - {0.0, 0.5, 1.0})
    assert len(placed) == 2 and all(w in (0.25, 0.75, 0.125, 0.375, 0.625, 0.875) for w in placed)
    assert result.sweep.checkpoints.shape[:2] == (2, 5) and np.isfinite(result.sweep.checkpoints).all()
    assert sorted(result.grid.loc[result.grid["placed"] == "adaptive", "w_acc"].unique()) == placed
    assert result.timings["adaptive_requirements"] == 2
    # A placed requirement tuned alone equals what tuning it in the stack would give (same seed, same batches).
    index = int(np.flatnonzero(w_acc == placed[0])[0])
    alone = adapters.tune_adapters(adapters.TuningSet.of(model, small), result.sweep.weights[index:index + 1],
                                   settings, 1, study.objectives, progress=False)
    assert np.allclose(alone.checkpoints[0], result.sweep.checkpoints[1, index], atol=1e-6)
    with pytest.raises(ValueError, match="validation split"):
        sweep.run_sweep("sasrec", model, small, settings, study, test)
    # The study's evaluation requirements stay unseen: with both first middles (0.25, 0.75) among them, the one
    # requirement placed goes to the first quarter of its interval instead.
    unseen = dataclasses.replace(study, seeds=[0], adaptive_budget=1,
                                 eval_grid=[[0.0, 1.0], [0.25, 0.75], [0.75, 0.25], [1.0, 0.0]])
    moved = sweep.run_sweep("sasrec", model, small, settings, unseen, test, valid)
    assert sorted(set(moved.sweep.weights[:, 0]) - {0.0, 0.5, 1.0}) in ([0.125], [0.625])


def test_a_middle_on_an_evaluation_requirement_moves_to_the_first_quarter():
    low, high = np.array([0.45, 0.55]), np.array([0.55, 0.45])
    assert np.allclose(sweep.placement(low, high, avoid=[]), [0.5, 0.5])
    assert np.allclose(sweep.placement(low, high, avoid=[0.0, 0.5, 1.0]), [0.475, 0.525])
