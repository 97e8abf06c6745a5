"""The Hypernetwork baseline: an MLP from the requirement to adapter parameters, trained on the weighted loss
with requirements sampled per batch (the idea of CMR and Pareto HyperNetworks)."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from padirec.models.backbones import Adapter
from padirec.objectives import requirements
from padirec.pipeline.sections import HypernetworkConfig, SweepConfig
from padirec.pipeline.progress import bar as progress_bar
from padirec.training.adapters import TuningSet, batch_losses, training_batches


class Hypernetwork(nn.Module):
    """Requirement vector [N, K] -> flat adapter parameters [N, P].

    The last layer starts at zero weight and the bias of a freshly initialised adapter, so every
    requirement starts from the same adapter as Retrain does.
    """

    def __init__(self, objectives: int, initial_adapter: Tensor, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(objectives, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, initial_adapter.numel()))
        nn.init.zeros_(self.net[-1].weight)
        with torch.no_grad():
            self.net[-1].bias.copy_(initial_adapter)

    def forward(self, weights: Tensor) -> Tensor:
        return self.net(weights)


@dataclass
class HypernetworkRun:
    hypernetwork: Hypernetwork
    seconds: float

    @torch.inference_mode()
    def adapters(self, weights: np.ndarray) -> Tensor:
        device = self.hypernetwork.net[0].weight.device
        return self.hypernetwork(torch.as_tensor(np.asarray(weights), dtype=torch.float32, device=device))


def train_hypernetwork(tuning: TuningSet, sweep: SweepConfig, config: HypernetworkConfig, seed: int,
                       objectives: list[str], progress: bool = False) -> HypernetworkRun:
    """Each batch draws `requirements_per_batch` requirements and minimises the mean of their weighted
    losses, on the same cached states, batches and negatives as adapter tuning (sweep settings)."""
    model, states, targets, item_categories, data = (tuning.model, tuning.states, tuning.targets,
                                                     tuning.item_categories, tuning.data)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    initial = torch.nn.utils.parameters_to_vector(Adapter(model.hidden).parameters()).detach()
    hypernetwork = Hypernetwork(len(objectives), initial, config.hidden).to(states.device)
    optimizer = torch.optim.Adam(hypernetwork.parameters(), lr=config.lr)
    started = time.perf_counter()
    for _ in progress_bar(range(sweep.epochs), desc="hypernetwork epochs", show=progress):
        for batch, scores_of in training_batches(model, states, targets, sweep, generator):
            weights = requirements.sample(config.requirements_per_batch, len(objectives), generator)
            weights = weights.to(states.device)
            scores, candidates = scores_of(hypernetwork(weights))
            losses = batch_losses(scores, candidates, batch, item_categories, sweep, objectives, data)
            loss = (losses * weights.T).sum(0).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    hypernetwork.eval()
    return HypernetworkRun(hypernetwork, time.perf_counter() - started)
