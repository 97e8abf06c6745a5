"""The objectives a requirement vector weights: each one's training loss, test metric and the data it needs.

A requirement w = (w_1 .. w_K) over `objectives` tunes an adapter on sum_k w_k L_k. Every loss takes
the scores of a stack of R adapters over one batch's candidates ([R, B, C], the target in column 0)
and returns one value per adapter [R]. Every objective names the test metric that shows whether
it was served, and that metric's direction, so hypervolume, controllability and the gap to
Retrain work for any list of objectives.

- `acc`: softmax-weighted BPR of the target against the sampled negatives; metric NDCG@10.
- `div`: minus the soft alpha-DCG of the candidate list (genres); metric alpha-NDCG@10.
- `fair`: user-group fairness as the authors' rebuttal: 0.9 max + 0.1 min of the two groups' mean
  accuracy losses, which up-weights the worse-off group; metric the NDCG@10 gap between the groups.
- `fair_gap`: the same groups, the absolute difference of their mean accuracy losses.
- `tail`: the softmax-weighted mean log-popularity of the candidates, which moves score mass to
  the long tail; metric APLT@10 (share of long-tail items in the top 10).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from padirec.data.statistics import item_counts, user_groups
from padirec.objectives.losses import bpr_softmax_loss, diversity_loss

__all__ = ["Objective", "OBJECTIVES", "ObjectiveBatch", "ObjectiveData", "register", "objective_losses",
           "objective_data", "metric_of"]

MAX_WEIGHT, MIN_WEIGHT = 0.9, 0.1  # the authors' fairness mix of the worse and the better group's loss


@dataclass(frozen=True)
class ObjectiveData:
    """What losses beyond accuracy read, indexed by item id or training example, on the tuning device."""

    log_popularity: Tensor | None = None  # [n_items + 1] log(1 + training count) / its maximum, in [0, 1]
    example_groups: Tensor | None = None  # [N] long: the user group (0 or 1) of each training example

    def to(self, device: torch.device | str) -> "ObjectiveData":
        return ObjectiveData(*(None if value is None else value.to(device)
                               for value in (self.log_popularity, self.example_groups)))


@dataclass
class ObjectiveBatch:
    """One training batch as the losses see it."""

    scores: Tensor  # [R, B, C] stacked adapters' scores, the target in column 0
    candidates: Tensor  # [B, C] item ids
    categories: Tensor  # [B, C, M] multi-hot genres of the candidates
    examples: Tensor  # [B] indices of the batch's training examples
    data: ObjectiveData
    alpha: float = 0.5  # diversity: alpha-DCG redundancy penalty
    tau: float = 0.1  # diversity: temperature of the smooth ranks
    normalise: bool = False  # diversity: divide by the candidates' ideal alpha-DCG

    def needs(self, what: str, objective: str) -> Tensor:
        value = getattr(self.data, what)
        if value is None:
            raise ValueError(f"objective {objective!r} needs {what}: build the tuning data with "
                             "padirec.objectives.registry.objective_data(dataset, ...) and pass it as data=.")
        return value


@dataclass(frozen=True)
class Objective:
    name: str
    metric: str  # the test metric (100-candidate protocol; full ranking prefixes it with full_)
    higher_is_better: bool
    needs: tuple[str, ...]  # fields of ObjectiveData the loss reads
    loss: Callable[[ObjectiveBatch], Tensor]  # -> [R]
    description: str


OBJECTIVES: dict[str, Objective] = {}


def register(objective: Objective) -> Objective:
    OBJECTIVES[objective.name] = objective
    return objective


def metric_of(objective: str, prefix: str = "") -> str:
    """The test metric that measures `objective` (`prefix` "full_": under full ranking)."""
    return prefix + OBJECTIVES[objective].metric


def metrics_of(objectives, prefix: str = "") -> list[str]:
    """`metric_of` each objective, in order."""
    return [metric_of(objective, prefix) for objective in objectives]


def _accuracy_per_example(batch: ObjectiveBatch) -> Tensor:
    return bpr_softmax_loss(batch.scores[..., 0], batch.scores[..., 1:], reduction="none")  # [R, B]


def _group_means(batch: ObjectiveBatch, objective: str) -> tuple[Tensor, Tensor] | None:
    """Mean accuracy loss of each user group in the batch [R] x 2, or None when one group is absent."""
    groups = batch.needs("example_groups", objective)[batch.examples]
    losses = _accuracy_per_example(batch)
    members = [groups == g for g in (0, 1)]
    if not all(bool(m.any()) for m in members):
        return None
    return tuple(losses[..., m].mean(-1) for m in members)


def _fair_loss(batch: ObjectiveBatch) -> Tensor:
    means = _group_means(batch, "fair")
    if means is None:  # a batch with one group only: its accuracy loss
        return _accuracy_per_example(batch).mean(-1)
    return MAX_WEIGHT * torch.maximum(*means) + MIN_WEIGHT * torch.minimum(*means)


def _fair_gap_loss(batch: ObjectiveBatch) -> Tensor:
    means = _group_means(batch, "fair_gap")
    if means is None:
        return batch.scores.new_zeros(batch.scores.shape[:-2])
    return (means[0] - means[1]).abs()


def _tail_loss(batch: ObjectiveBatch) -> Tensor:
    popularity = batch.needs("log_popularity", "tail")[batch.candidates]  # [B, C]
    return (torch.softmax(batch.scores, dim=-1) * popularity).sum(-1).mean(-1)


register(Objective("acc", "ndcg@10", True, (), lambda batch: _accuracy_per_example(batch).mean(-1),
                   "accuracy: softmax-weighted BPR of the held-out item"))
register(Objective("div", "alpha_ndcg@10", True, (),
                   lambda batch: diversity_loss(batch.scores, batch.categories, batch.alpha, batch.tau,
                                                batch.normalise, reduction="none").mean(-1),
                   "diversity: minus the soft alpha-DCG of the candidates' genres"))
register(Objective("fair", "fair_gap@10", False, ("example_groups",), _fair_loss,
                   "user-group fairness: 0.9 max + 0.1 min of the two groups' mean accuracy losses"))
register(Objective("fair_gap", "fair_gap@10", False, ("example_groups",), _fair_gap_loss,
                   "user-group fairness: |difference| of the two groups' mean accuracy losses"))
register(Objective("tail", "aplt@10", True, ("log_popularity",), _tail_loss,
                   "popularity bias: softmax-weighted mean log-popularity of the candidates"))


def objective_losses(batch: ObjectiveBatch, objectives: list[str]) -> Tensor:
    """Per-adapter losses [len(objectives), R] of one batch."""
    unknown = [name for name in objectives if name not in OBJECTIVES]
    if unknown:
        raise ValueError(f"unknown objective(s) {unknown}; known: {', '.join(OBJECTIVES)}")
    return torch.stack([OBJECTIVES[name].loss(batch) for name in objectives])


# ----------------------------------------------------------------------------- the data objectives read


def objective_data(dataset, objectives: list[str], grouping: str = "gender",
                   device: torch.device | str = "cpu") -> ObjectiveData:
    """The ObjectiveData the `objectives` need for the training examples of `dataset`."""
    needs = {need for name in objectives for need in OBJECTIVES[name].needs}
    log_popularity = groups = None
    if "log_popularity" in needs:
        logs = np.log1p(item_counts(dataset))
        log_popularity = torch.as_tensor(logs / logs.max(), dtype=torch.float32)
    if "example_groups" in needs:
        groups = torch.as_tensor(user_groups(dataset, grouping)[dataset.train.user], dtype=torch.long)
    return ObjectiveData(log_popularity, groups).to(device)
