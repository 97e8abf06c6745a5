"""Comparison helpers: interpolation baseline, relative gaps and summaries on hand-made numbers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from padirec import compare


def test_interpolation_between_neighbouring_grid_adapters():
    grid = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])  # deliberately unsorted
    adapters = np.array([[10.0, 0.0], [0.0, 0.0], [4.0, 2.0]])
    result = compare.interpolated_adapters(grid, adapters, np.array([[0.25, 0.75], [0.5, 0.5], [0.75, 0.25], [0.0, 1.0]]))
    # 0.25 is halfway between w=0 ([0, 0]) and w=0.5 ([4, 2]); 0.75 halfway between [4, 2] and [10, 0].
    assert np.allclose(result, [[2.0, 1.0], [4.0, 2.0], [7.0, 1.0], [0.0, 0.0]])


def rows(values_ndcg, values_div, replicate=0):
    w = np.array([0.0, 0.5, 1.0])
    return pd.DataFrame({"w_acc": w, "w_div": 1 - w, "replicate": replicate,
                         "ndcg@10": values_ndcg, "alpha_ndcg@10": values_div})


def test_relative_gap_and_summary():
    method = rows([0.1, 0.22, 0.3], [0.7, 0.66, 0.5])
    reference = rows([0.1, 0.2, 0.3], [0.7, 0.6, 0.5])
    # At w_acc = 0.5: |0.22 - 0.2| / 0.2 = 0.1 and |0.66 - 0.6| / 0.6 = 0.1 -> mean 0.1.
    assert compare.relative_gap(method, reference, [0.5]) == pytest.approx(0.1)
    summary = compare.summarise(method, reference, [0.5])
    assert summary["rel_gap_unseen"] == pytest.approx(0.1)
    assert summary["spearman_acc"] == pytest.approx(1.0) and summary["spearman_div"] == pytest.approx(1.0)
    assert [row["w_acc"] for row in summary["grid"]] == [0.0, 0.5, 1.0]


def test_noise_floor_compares_two_seeds():
    retrain = pd.concat([rows([0.1, 0.2, 0.3], [0.7, 0.6, 0.5], 0), rows([0.1, 0.18, 0.3], [0.7, 0.6, 0.5], 1)])
    # Seed 1 is the reference: |0.2 - 0.18| / 0.18 = 1/9 for NDCG, 0 for alpha-NDCG -> 1/18.
    assert compare.seed_noise_floor(retrain, [0.5]) == pytest.approx(1 / 18)


def test_memorisation_distances_on_hand_made_vectors():
    import torch

    from padirec import artifacts, generator

    checkpoints = np.zeros((1, 2, 1, 3), dtype=np.float32)
    checkpoints[0, 1, 0] = [3.0, 4.0, 0.0]  # neighbouring grid adapters are 5 apart
    sweep = artifacts.AdapterSweep("sasrec", ["acc", "div"], np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([0]),
                                   np.array([1]), checkpoints)
    generated = torch.tensor([[[0.0, 0.0, 1.0], [3.0, 4.0, 2.0]]])  # 1 replicate, 2 requirements
    table = generator.memorisation(generated, sweep, np.array([[0.5, 0.5], [1.0, 0.0]]), seen={0.0, 1.0})
    assert table["nearest_training_distance"].tolist() == pytest.approx([1.0, 2.0])
    assert table["unseen"].tolist() == [True, False]
    assert table["neighbour_grid_distance"].iloc[0] == pytest.approx(5.0)
