"""Backbone training, the sweep and evaluation on a small real slice (adapter tuning: test_adapters.py)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from padirec.evaluation import protocol as evaluation
from padirec.pipeline import artifacts, config
from padirec.training import sweep, backbone as train


SMALL_SWEEP = config.SweepConfig(epochs=3, keep_checkpoints=2, batch_size=512)


def test_training_windows_cover_every_training_target_once(small):
    inputs, targets = train.training_windows(small)
    assert inputs.shape == targets.shape and inputs.shape[1] == small.train.history.shape[1]
    assert (targets > 0).sum().item() == len(small.train)
    assert np.array_equal(np.sort(targets[targets > 0].numpy()), np.sort(small.train.target))
    # Position j's target is the input at j + 1 (next item), where both exist.
    both = (inputs[:, :-1] > 0) & (inputs[:, 1:] > 0)
    assert torch.equal(targets[:, :-1][both], inputs[:, 1:][both])


def test_backbone_training_learns_and_early_stops(small_backbone):
    curve = small_backbone.curve
    assert len(curve) <= 3 and 1 <= small_backbone.best_epoch <= len(curve)
    assert curve["train_loss"].iloc[-1] < curve["train_loss"].iloc[0]
    assert curve["valid_ndcg@10"].max() == pytest.approx(curve.loc[small_backbone.best_epoch - 1, "valid_ndcg@10"])
    assert not small_backbone.model.training


def test_requirements_move_the_metrics_in_the_requested_direction(small, small_backbone):
    model = small_backbone.model
    test = evaluation.EvaluationSet.from_split(small, small.test)
    study = config.StudyConfig(grid=[[0.0, 1.0], [1.0, 0.0]], seeds=[0])
    result = sweep.run_sweep("sasrec", model, small, SMALL_SWEEP, study, test)
    diverse, accurate = result.grid.iloc[0], result.grid.iloc[1]
    assert diverse["w_acc"] == 0.0 and accurate["w_acc"] == 1.0
    assert diverse["alpha_ndcg@10"] > accurate["alpha_ndcg@10"]
    assert diverse["ndcg@10"] < accurate["ndcg@10"]
    assert result.sweep.checkpoints.shape == (1, 2, 2, 1096)
    assert {"state_cache_seconds", "single_requirement_seconds"} <= set(result.timings)


def test_controllability_on_a_hand_made_grid():
    grid = __import__("pandas").DataFrame({
        "w_acc": [0.0, 0.5, 1.0] * 2, "w_div": [1.0, 0.5, 0.0] * 2, "seed": [0, 0, 0, 1, 1, 1],
        "ndcg@10": [0.1, 0.2, 0.3, 0.1, 0.2, 0.3], "alpha_ndcg@10": [0.7, 0.6, 0.5, 0.7, 0.6, 0.5],
        "full_ndcg@10": [0.01, 0.02, 0.03] * 2, "full_alpha_ndcg@10": [0.6, 0.5, 0.6] * 2})
    summary = sweep.controllability(grid, ["acc", "div"])
    assert summary["pearson_acc"] == pytest.approx(1.0) and summary["pearson_div"] == pytest.approx(1.0)
    assert summary["full_pearson_div"] == pytest.approx(0.0, abs=1e-9)
    assert summary["ndcg@10_min"] == pytest.approx(0.1) and summary["ndcg@10_seed_std"] == pytest.approx(0.0)


def test_full_ranking_mask_hides_the_past_but_not_the_target(small):
    test = evaluation.EvaluationSet.from_split(small, small.test)
    for row in (0, 5, 50):
        user = small.test.user[row]
        sequence = small.sequence(user)
        assert test.full_mask[row, sequence[:-1]].all() and not test.full_mask[row, sequence[-1]]
        assert test.full_mask[row, 0] and test.candidates[row, 0] == small.test.target[row]
    sampled, full = evaluation.popularity_scores(small, test)
    assert sampled.shape == test.candidates.shape and full.shape == (len(test.target), small.n_items + 1)


def test_backbone_round_trip_and_bad_files(small_backbone, tmp_path):
    path = tmp_path / "sasrec.pt"
    artifacts.save_backbone(small_backbone.model, "sasrec", {"blocks": 1, "max_len": 20}, path)
    loaded, meta = artifacts.load_backbone(path)
    history = torch.tensor([[0] * 18 + [3, 4]])
    assert torch.allclose(loaded.hidden_state(history), small_backbone.model.hidden_state(history))
    assert meta["name"] == "sasrec" and not any(p.requires_grad for n, p in loaded.named_parameters() if "adapter" not in n)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="truncated or not a padirec backbone.*dvc repro -f backbone"):
        artifacts.load_backbone(path)
    with pytest.raises(FileNotFoundError, match="run the 'backbone' stage"):
        artifacts.load_backbone(tmp_path / "gru4rec.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(ValueError, match="not a padirec backbone"):
        artifacts.load_backbone(foreign)
