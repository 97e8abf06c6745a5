"""Adapter tuning on weighted objectives, over the frozen backbone's cached user states.

The adapter sits at the backbone's output, so the states never change, and every requirement (and
the evaluation grid, and seeds) can be tuned at once as one stack of adapters over the same states.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from padirec.data.dataset import Dataset
from padirec.evaluation.protocol import EvaluationSet, backbone_states, evaluate_states
from padirec.models.backbones import Adapter, SequentialRecommender, apply_adapter
from padirec.objectives.registry import ObjectiveBatch, ObjectiveData, objective_losses
from padirec.pipeline.sections import SweepConfig
from padirec.pipeline.progress import bar as progress_bar


@dataclass
class TuningSet:
    """What adapter tuning reads, built once per backbone: the frozen model, the cached states [N, d] of the
    training examples, their next items [N], the item categories, and `data` for objectives beyond accuracy and
    diversity (padirec.objectives.registry.objective_data)."""

    model: SequentialRecommender
    states: Tensor
    targets: Tensor
    item_categories: Tensor
    data: ObjectiveData | None = None

    @classmethod
    def of(cls, model: SequentialRecommender, dataset: Dataset, data: ObjectiveData | None = None) -> "TuningSet":
        """The training split's states, targets and item categories, on the model's device."""
        states = backbone_states(model, torch.as_tensor(dataset.train.history, dtype=torch.long))
        targets = torch.as_tensor(dataset.train.target, dtype=torch.long, device=states.device)
        categories = torch.as_tensor(dataset.item_categories, dtype=torch.float32, device=states.device)
        return cls(model, states, targets, categories, data)


@dataclass
class SweepRun:
    """Adapters tuned for R requirements at once, from one seed."""

    weights: np.ndarray  # [R, K] requirement vectors
    checkpoints: np.ndarray  # [R, keep, P] flat adapter parameters from the last epochs
    kept_epochs: list[int]
    curve: pd.DataFrame  # epoch, requirement index, objective losses
    seconds: float
    extras: dict = field(default_factory=dict)


def batch_losses(scores: Tensor, candidates: Tensor, examples: Tensor, item_categories: Tensor,
                 config: SweepConfig, objectives: list[str], data: ObjectiveData | None = None) -> Tensor:
    """Per-adapter losses [len(objectives), R] of stacked scores [R, B, C] (target in column 0) of one batch
    (`examples`: the batch's training-example indices), from the objective registry."""
    batch = ObjectiveBatch(scores, candidates, item_categories[candidates], examples, data or ObjectiveData(),
                           config.diversity_alpha, config.diversity_tau, config.diversity_normalise)
    return objective_losses(batch, objectives)


def training_batches(model: SequentialRecommender, states: Tensor, targets: Tensor, config: SweepConfig,
                     generator: torch.Generator):
    """One epoch of adapter training over cached states: yields (batch indices, scores_of).

    The epoch draws a shuffled order and `config.train_negatives` uniform negatives per example;
    scores_of(flat [R, P]) gives the stacked scores [R, B, C] of the batch's candidates (target in
    column 0) under R adapters, and the candidates [B, C].
    """
    item_embedding = model.item_embedding.weight.detach()
    # Drawn on the CPU generator, then moved: a seed gives the same batches on every device.
    order = torch.randperm(len(states), generator=generator).to(states.device)
    negatives = torch.randint(1, model.n_items + 1, (len(states), config.train_negatives), generator=generator)
    negatives = negatives.to(states.device)
    for start in range(0, len(order), config.batch_size):
        batch = order[start:start + config.batch_size]
        candidates = torch.cat([targets[batch, None], negatives[batch]], dim=1)  # [B, C]

        def scores_of(flat: Tensor, batch: Tensor = batch, candidates: Tensor = candidates) -> tuple[Tensor, Tensor]:
            adapted = apply_adapter(states[batch], flat)  # [R, B, d]
            return torch.einsum("rbd,bcd->rbc", adapted, item_embedding[candidates]), candidates

        yield batch, scores_of


def tune_adapters(tuning: TuningSet, weights: np.ndarray, config: SweepConfig, seed: int, objectives: list[str],
                  progress: bool = True, desc: str = "adapter epochs") -> SweepRun:
    """Tune one adapter per requirement vector on sum_k w_k L_k, all as one stacked model.

    Every adapter starts from the same seeded initialisation and sees the same batches and negatives,
    so requirements differ only by their weights. Adam is elementwise, so one optimiser over the
    stack equals one optimiser per adapter.
    """
    model, states, targets, item_categories, data = (tuning.model, tuning.states, tuning.targets,
                                                     tuning.item_categories, tuning.data)
    weights_t = torch.as_tensor(np.asarray(weights), dtype=torch.float32, device=states.device)  # [R, K]
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    initial = torch.nn.utils.parameters_to_vector(Adapter(model.hidden).parameters()).detach().to(states.device)
    flat = initial.repeat(len(weights_t), 1).requires_grad_(True)  # [R, P]
    optimizer = torch.optim.Adam([flat], lr=config.lr)
    kept, kept_epochs, rows = [], [], []
    started = time.perf_counter()
    first_kept = config.epochs - config.keep_checkpoints + 1
    for epoch in progress_bar(range(1, config.epochs + 1), desc=desc, show=progress):
        totals = torch.zeros(len(objectives), len(weights_t), device=states.device)
        for batch, scores_of in training_batches(model, states, targets, config, generator):
            scores, candidates = scores_of(flat)
            losses = batch_losses(scores, candidates, batch, item_categories, config, objectives, data)  # [K, R]
            loss = (losses * weights_t.T).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            totals += losses.detach() * len(batch)
        for r in range(len(weights_t)):
            rows.append({"epoch": epoch, "requirement": r,
                         **{f"loss_{name}": (totals[k, r] / len(states)).item() for k, name in enumerate(objectives)}})
        if epoch >= first_kept:
            kept.append(flat.detach().clone())
            kept_epochs.append(epoch)
    checkpoints = torch.stack(kept, dim=1).cpu().numpy()  # [R, keep, P]
    return SweepRun(np.asarray(weights, dtype=np.float64), checkpoints, kept_epochs, pd.DataFrame(rows),
                    time.perf_counter() - started)


@torch.inference_mode()
def evaluate_adapters(model: SequentialRecommender, states: Tensor, adapters: np.ndarray | Tensor,
                      evaluation: EvaluationSet, full_ranking: bool = True) -> list[dict[str, float]]:
    """Metrics of each flat adapter in `adapters` [R, P] applied to evaluation states [U, d]."""
    adapters = torch.as_tensor(adapters, dtype=torch.float32, device=states.device)
    return [evaluate_states(model, apply_adapter(states, adapter), evaluation, full_ranking) for adapter in adapters]
