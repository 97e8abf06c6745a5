"""Training loops: the backbone on accuracy, then adapters on weighted objectives.

Backbones train on every position of non-overlapping windows of each user's training sequence
(SASRec's usual all-position loss), about 20 times fewer forward passes than one example per
position. Adapters tune over the frozen backbone's cached user states: the adapter sits at the
backbone's output, so the states never change, and every requirement (and the evaluation grid,
and seeds) can be tuned at once as one stack of adapters over the same states.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from padirec.pipeline.config import BackboneConfig, SweepConfig
from padirec.data.dataset import Dataset
from padirec.evaluation.protocol import EvaluationSet, backbone_states, evaluate_states
from padirec.objectives.losses import bpr_softmax_loss
from padirec.models.backbones import Adapter, SequentialRecommender, apply_adapter, build_backbone
from padirec.objectives.registry import ObjectiveBatch, ObjectiveData, objective_losses
from padirec.pipeline.progress import bar as progress_bar
from padirec.pipeline.workers import run_units


def training_windows(dataset: Dataset) -> tuple[Tensor, Tensor]:
    """Inputs [S, L] and next-item targets [S, L] (0 = no loss) covering every training target once.

    A training example's history h and target y give the window input h and targets
    (h[1:], y); taking every L-th example from each user's last one tiles the sequence.
    """
    train = dataset.train
    history_len = train.history.shape[1]
    counts = np.bincount(train.user, minlength=dataset.n_users + 1)
    ends = np.cumsum(counts)  # index after each user's last example (examples are grouped by user)
    distance_to_last = ends[train.user] - 1 - np.arange(len(train))
    chosen = np.flatnonzero(distance_to_last % history_len == 0)
    inputs = train.history[chosen]
    targets = np.concatenate([inputs[:, 1:], train.target[chosen, None]], axis=1)
    targets = np.where(inputs > 0, targets, 0)  # no loss where the input is padding
    return torch.as_tensor(inputs, dtype=torch.long), torch.as_tensor(targets, dtype=torch.long)


@dataclass
class BackboneRun:
    model: SequentialRecommender
    settings: dict  # the model settings it was built with (for saving and rebuilding)
    curve: pd.DataFrame  # epoch, train_loss, valid ndcg@10, seconds
    best_epoch: int
    seconds: float


def train_backbone(name: str, dataset: Dataset, config: BackboneConfig, valid: EvaluationSet,
                   device: torch.device | str = "cpu") -> BackboneRun:
    """Train on the accuracy loss with early stopping on validation NDCG@10 (100 candidates), on `device`."""
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    settings = {**config.models.get(name, {}), "max_len": dataset.train.history.shape[1]}
    model = build_backbone(name, dataset.n_items, **settings).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    inputs, targets = training_windows(dataset)
    best, best_epoch, best_state, rows, stale = -1.0, 0, None, [], 0
    started = time.perf_counter()
    for epoch in progress_bar(range(1, config.epochs + 1), desc=f"{name}: epochs (early stopping may end sooner)"):
        model.train()
        order = torch.randperm(len(inputs), generator=generator)
        losses = []
        for start in range(0, len(order), config.batch_size):
            batch = order[start:start + config.batch_size]
            loss = window_loss(model, inputs[batch].to(device), targets[batch].to(device), config.train_negatives,
                                generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        valid_ndcg = evaluate_states(model, backbone_states(model, valid.history), valid, full_ranking=False)["ndcg@10"]
        rows.append({"epoch": epoch, "train_loss": float(np.mean(losses)), "valid_ndcg@10": valid_ndcg,
                     "seconds": time.perf_counter() - started})
        if valid_ndcg > best:
            best, best_epoch, best_state, stale = valid_ndcg, epoch, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
            if stale >= config.patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    return BackboneRun(model, settings, pd.DataFrame(rows), best_epoch, time.perf_counter() - started)


def train_backbones(names: list[str], dataset: Dataset, config: BackboneConfig, valid: EvaluationSet,
                    device: torch.device | str = "cpu", workers: int = 1) -> dict[str, BackboneRun]:
    """`train_backbone` for each name, side by side on up to `workers` processes (padirec.pipeline.workers)."""
    runs = run_units(train_backbone, [(name, dataset, config, valid, device) for name in names], workers,
                     desc="backbones")
    return dict(zip(names, runs))


def window_loss(model, inputs: Tensor, targets: Tensor, n_negatives: int, generator: torch.Generator) -> Tensor:
    states = model.encode_sequence(inputs)  # [B, L, d]
    real = targets > 0
    states, positives = states[real], targets[real]  # [T, d], [T]
    # Uniform negatives over the catalogue; a draw equal to the target (p ~ 1/n_items) is kept. Drawn on
    # the CPU generator, so a seed gives the same negatives on every device.
    negatives = torch.randint(1, model.n_items + 1, (len(positives), n_negatives), generator=generator)
    negatives = negatives.to(positives.device)
    candidates = torch.cat([positives[:, None], negatives], dim=1)
    scores = torch.einsum("td,tcd->tc", states, model.item_embedding(candidates))
    return bpr_softmax_loss(scores[:, 0], scores[:, 1:])


# ---------------------------------------------------------------------------------------------
# Adapters


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


def tune_adapters(model: SequentialRecommender, states: Tensor, targets: Tensor, item_categories: Tensor,
                  weights: np.ndarray, config: SweepConfig, seed: int, objectives: list[str] | None = None,
                  progress: bool = True, desc: str = "adapter epochs", data: ObjectiveData | None = None) -> SweepRun:
    """Tune one adapter per requirement vector on sum_k w_k L_k, all as one stacked model.

    `states` [N, d] are the frozen backbone's states of the training examples and `targets` [N]
    their next items; `data` what objectives beyond accuracy and diversity read
    (`padirec.objectives.registry.objective_data`). Every adapter starts from the same seeded initialisation and sees the same
    batches and negatives, so requirements differ only by their weights. Adam is elementwise, so
    one optimiser over the stack equals one optimiser per adapter.
    """
    objectives = objectives or config.objectives
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


def tuning_tensors(model: SequentialRecommender, dataset: Dataset) -> tuple[Tensor, Tensor, Tensor]:
    """What adapter tuning reads: cached backbone states of the training examples, their targets, item categories
    (all on the model's device)."""
    states = backbone_states(model, torch.as_tensor(dataset.train.history, dtype=torch.long))
    targets = torch.as_tensor(dataset.train.target, dtype=torch.long, device=states.device)
    return states, targets, torch.as_tensor(dataset.item_categories, dtype=torch.float32, device=states.device)


@torch.inference_mode()
def evaluate_adapters(model: SequentialRecommender, states: Tensor, adapters: np.ndarray | Tensor,
                      evaluation: EvaluationSet, full_ranking: bool = True) -> list[dict[str, float]]:
    """Metrics of each flat adapter in `adapters` [R, P] applied to evaluation states [U, d]."""
    adapters = torch.as_tensor(adapters, dtype=torch.float32, device=states.device)
    return [evaluate_states(model, apply_adapter(states, adapter), evaluation, full_ranking) for adapter in adapters]
