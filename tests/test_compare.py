"""Comparison helpers: relative gaps, summaries and memorisation distances on hand-made numbers.

The interpolation baseline is tested in test_baselines.py, the per-seed summaries in
test_evaluation_summaries.py."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from padirec.comparison import compare


def rows(values_ndcg, values_div, seed=0):
    w = np.array([0.0, 0.5, 1.0])
    return pd.DataFrame({"w_acc": w, "w_div": 1 - w, "seed": seed,
                         "ndcg@10": values_ndcg, "alpha_ndcg@10": values_div})


def test_relative_gap_and_summary():
    method = rows([0.1, 0.22, 0.3], [0.7, 0.66, 0.5])
    reference = rows([0.1, 0.2, 0.3], [0.7, 0.6, 0.5])
    # At w_acc = 0.5: |0.22 - 0.2| / 0.2 = 0.1 and |0.66 - 0.6| / 0.6 = 0.1 -> mean 0.1.
    assert compare.relative_gap(method, reference, [0.5]) == pytest.approx(0.1)
    summary = compare.summarise(method, reference, [0.5])
    assert summary["rel_gap_unseen"] == pytest.approx(0.1)
    assert summary["spearman_acc"] == pytest.approx(1.0) and summary["spearman_div"] == pytest.approx(1.0)
    assert summary["monotonicity_violations"] == 0


def test_memorisation_distances_on_hand_made_vectors():
    import torch

    from padirec.pipeline import artifacts
    from padirec.training import generators as generator

    checkpoints = np.zeros((1, 2, 1, 3), dtype=np.float32)
    checkpoints[0, 1, 0] = [3.0, 4.0, 0.0]  # neighbouring grid adapters are 5 apart
    sweep = artifacts.AdapterSweep("sasrec", ["acc", "div"], np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([0]),
                                   np.array([1]), checkpoints)
    generated = torch.tensor([[[0.0, 0.0, 1.0], [3.0, 4.0, 2.0]]])  # 1 replicate, 2 requirements
    table = generator.memorisation(generated, sweep, np.array([[0.5, 0.5], [1.0, 0.0]]), seen={0.0, 1.0})
    assert table["nearest_training_distance"].tolist() == pytest.approx([1.0, 2.0])
    assert table["unseen"].tolist() == [True, False]
    assert table["neighbour_grid_distance"].iloc[0] == pytest.approx(5.0)
