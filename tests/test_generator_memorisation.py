"""How far generated adapters lie from the training adapters (padirec.training.generators.memorisation), on
hand-made vectors. (The comparison summaries this file once held: test_comparison_summaries.py.)"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from padirec.pipeline import artifacts
from padirec.training import generators as generator


def test_memorisation_distances_on_hand_made_vectors():
    checkpoints = np.zeros((1, 2, 1, 3), dtype=np.float32)
    checkpoints[0, 1, 0] = [3.0, 4.0, 0.0]  # neighbouring grid adapters are 5 apart
    sweep = artifacts.AdapterSweep("sasrec", ["acc", "div"], np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([0]),
                                   np.array([1]), checkpoints)
    generated = torch.tensor([[[0.0, 0.0, 1.0], [3.0, 4.0, 2.0]]])  # 1 replicate, 2 requirements
    table = generator.memorisation(generated, sweep, np.array([[0.5, 0.5], [1.0, 0.0]]), seen={0.0, 1.0})
    assert table["nearest_training_distance"].tolist() == pytest.approx([1.0, 2.0])
    assert table["unseen"].tolist() == [True, False]
    assert table["neighbour_grid_distance"].iloc[0] == pytest.approx(5.0)
