"""Backbone training on accuracy, with early stopping.

Backbones train on every position of non-overlapping windows of each user's training sequence
(SASRec's usual all-position loss), about 20 times fewer forward passes than one example per
position.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from padirec.data.dataset import Dataset
from padirec.evaluation.protocol import EvaluationSet, backbone_states, evaluate_states
from padirec.models.backbones import SequentialRecommender, build_backbone
from padirec.objectives.losses import bpr_softmax_loss
from padirec.pipeline.sections import BackboneConfig
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


def write_backbone_metrics(dataset: Dataset, results: dict[str, dict], runs: dict[str, BackboneRun], target) -> dict:
    """backbone_metrics.json: the data statistics, the popularity baseline's and each backbone's test metrics
    (`results`, popularity first) and best epochs; written to `target` and returned. No timings: the sweep stage
    reads this file, and a field that changes on every run would re-run everything downstream."""
    from padirec.data.statistics import data_metrics
    from padirec.pipeline.io import write_json

    metrics = {"data": data_metrics(dataset), "popularity": results["popularity"],
               "backbones": {name: {"backbone": results[name], "best_epoch": run.best_epoch} for name, run in runs.items()}}
    write_json(target, metrics)
    return metrics


def training_table(runs: dict[str, BackboneRun]) -> pd.DataFrame:
    """Per backbone: the kept epoch, the epochs run and the training seconds (a timing table: it changes every run)."""
    return pd.DataFrame({name: {"best_epoch": run.best_epoch, "epochs_run": len(run.curve),
                                "train_seconds": round(run.seconds, 1)} for name, run in runs.items()}).T
