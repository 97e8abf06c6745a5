"""The Hypernetwork baseline (padirec.methods.hypernetwork) on a tiny tuning problem."""
from __future__ import annotations

import numpy as np
import torch

from padirec.methods import hypernetwork
from padirec.models.backbones import Adapter, adapter_size, build_backbone
from padirec.pipeline.config import HypernetworkConfig, SweepConfig
from padirec.training.adapters import TuningSet


def on_simplex(*w_acc: float) -> np.ndarray:
    """Requirement vectors (w_acc, 1 - w_acc) [N, 2]."""
    return np.array([[w, 1 - w] for w in w_acc])


def test_hypernetwork_starts_at_the_initial_adapter() -> None:
    initial = torch.arange(10, dtype=torch.float32) / 10
    network = hypernetwork.Hypernetwork(objectives=2, initial_adapter=initial, hidden=8)
    weights = torch.tensor([[0.0, 1.0], [0.3, 0.7], [1.0, 0.0], [5.0, -2.0]])
    out = network(weights)
    assert out.shape == (4, 10)
    torch.testing.assert_close(out, initial.expand(4, -1))


def tiny_tuning_problem(seed: int = 0) -> TuningSet:
    """A GRU4Rec over 20 items with hidden 16, and 64 random cached states, targets and 3-genre items."""
    torch.manual_seed(seed)
    model = build_backbone("gru4rec", n_items=20, hidden=16, layers=1, dropout=0.0)
    generator = torch.Generator().manual_seed(seed)
    states = torch.randn(64, 16, generator=generator)
    targets = torch.randint(1, 21, (64,), generator=generator)
    categories = (torch.rand(21, 3, generator=generator) < 0.5).float()  # row 0 = padding
    return TuningSet(model, states, targets, categories)


def test_train_hypernetwork_moves_away_from_init_and_is_seeded() -> None:
    tuning = tiny_tuning_problem()
    sweep = SweepConfig(epochs=1, keep_checkpoints=1, batch_size=16, lr=0.01, train_negatives=4)
    config = HypernetworkConfig(hidden=8, requirements_per_batch=4, lr=0.01)
    weights = on_simplex(0.0, 0.5, 1.0)
    objectives = ["acc", "div"]
    first = hypernetwork.train_hypernetwork(tuning, sweep, config, 3, objectives)
    again = hypernetwork.train_hypernetwork(tuning, sweep, config, 3, objectives)
    other = hypernetwork.train_hypernetwork(tuning, sweep, config, 4, objectives)
    assert isinstance(first, hypernetwork.HypernetworkRun)
    out = first.adapters(weights)
    assert out.shape == (3, adapter_size(16))
    torch.testing.assert_close(out, again.adapters(weights), rtol=0, atol=0)
    assert not torch.equal(out, other.adapters(weights))
    # The initial adapter: Adapter(16) right after torch.manual_seed(3), as train_hypernetwork draws it.
    torch.manual_seed(3)
    initial = torch.nn.utils.parameters_to_vector(Adapter(16).parameters()).detach()
    assert (out - initial).abs().max() > 1e-4  # 4 Adam steps at lr 0.01 move it
    assert first.seconds >= 0.0
