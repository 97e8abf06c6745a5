"""Test-time scoring: the paper's 100-candidate protocol and full ranking over the catalogue.

Both protocols score user states (the frozen backbone's, optionally adapted), so a stack of R
adapters is evaluated from one cached state matrix. Full ranking masks every item of the user's
sequence before the target (already consumed) and the padding item.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from padirec.data.dataset import Dataset, Split
from padirec.data.statistics import item_counts, long_tail_items, user_groups
from padirec.evaluation.metrics import beyond_accuracy_metrics, ideal_alpha_dcg_prefixes, ranking_metrics
from padirec.models.backbones import SequentialRecommender

KS = (5, 10, 20)
ALPHA = 0.5
STATE_BATCH = 2048
FIELDS = ("history", "candidates", "full_mask", "target", "item_categories", "item_counts", "long_tail", "user_group")


@dataclass(eq=False)  # identity, not tensor equality: a split can key a cache of its states
class EvaluationSet:
    """One evaluation split in tensor form, shared by every method evaluated on it."""

    history: Tensor  # [U, L]
    candidates: Tensor  # [U, 1 + negatives]: the target in column 0
    full_mask: Tensor  # [U, n_items + 1] bool: excluded from full ranking
    target: Tensor  # [U]
    item_categories: Tensor  # [n_items + 1, M] float
    item_counts: Tensor  # [n_items + 1] float: training interactions per item (ARP@10)
    long_tail: Tensor  # [n_items + 1] bool: outside the head 20% of the catalogue (APLT@10)
    user_group: Tensor  # [U] long: 0 the smaller user group, 1 the other (group NDCG@10 and its gap)
    # Ideal alpha-DCG prefixes per protocol: they depend on the candidates, not on the scores,
    # and their greedy search is most of a full-ranking evaluation, so they are computed once.
    _ideals: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _copies: dict = field(default_factory=dict, init=False, repr=False, compare=False)  # on other devices

    def to(self, device: torch.device | str) -> "EvaluationSet":
        """This split on `device`: itself when already there, else one copy per device, made once."""
        device = torch.device(device)
        if self.target.device == device:
            return self
        if device not in self._copies:
            moved = EvaluationSet(*(getattr(self, name).to(device) for name in
                                    FIELDS))
            moved._ideals.update({key: value.to(device) for key, value in self._ideals.items()})
            self._copies[device] = moved
        return self._copies[device]

    def ideal(self, full_ranking: bool) -> Tensor:
        """Ideal alpha-DCG prefixes [U, max(KS)] of the candidates (False) or of the catalogue (True)."""
        if full_ranking not in self._ideals:
            if full_ranking:
                categories = self.item_categories.unsqueeze(0).expand(len(self.target), -1, -1)
                self._ideals[True] = ideal_alpha_dcg_prefixes(categories, max(KS), ALPHA, self.full_mask)
            else:
                self._ideals[False] = ideal_alpha_dcg_prefixes(self.item_categories[self.candidates], max(KS), ALPHA, None)
        return self._ideals[full_ranking]

    @classmethod
    def test_and_valid(cls, dataset: Dataset, grouping: str = "gender") -> tuple["EvaluationSet", "EvaluationSet"]:
        """The test and validation splits, with the user groups `grouping` of the fairness metrics."""
        return cls.from_split(dataset, dataset.test, grouping), cls.from_split(dataset, dataset.valid, grouping)

    @classmethod
    def from_split(cls, dataset: Dataset, split: Split, grouping: str = "gender") -> "EvaluationSet":
        """The split's tensors; `grouping` (padirec.data.statistics.GROUPINGS) splits its users in two for the
        fairness metrics."""
        users = split.user
        target = torch.as_tensor(split.target, dtype=torch.long)
        candidates = torch.cat([target[:, None], torch.as_tensor(split.negatives, dtype=torch.long)], dim=1)
        mask = np.zeros((len(users), dataset.n_items + 1), dtype=bool)
        mask[:, 0] = True
        # Items consumed before the target: the user's sequence up to the target's position.
        lengths = dataset.sequence_start[users + 1] - dataset.sequence_start[users]
        target_offset = np.array([np.flatnonzero(dataset.sequence(u) == t)[0] for u, t in zip(users, split.target)])
        rows = np.repeat(np.arange(len(users)), target_offset)
        columns = np.concatenate([dataset.sequence(u)[:k] for u, k in zip(users, target_offset)])
        mask[rows, columns] = True
        assert (target_offset < lengths).all()
        counts = item_counts(dataset)
        return cls(torch.as_tensor(split.history, dtype=torch.long), candidates, torch.as_tensor(mask), target,
                   torch.as_tensor(dataset.item_categories, dtype=torch.float32),
                   torch.as_tensor(counts, dtype=torch.float32), torch.as_tensor(long_tail_items(counts)),
                   torch.as_tensor(user_groups(dataset, grouping)[users], dtype=torch.long))


@torch.inference_mode()
def backbone_states(model: SequentialRecommender, history: Tensor, batch: int = STATE_BATCH) -> Tensor:
    """The frozen backbone's user states [N, d] (eval mode: no dropout), computed in batches on the model's device."""
    was_training = model.training
    model.eval()
    device = model.item_embedding.weight.device
    states = torch.cat([model.hidden_state(history[start:start + batch].to(device))
                        for start in range(0, len(history), batch)])
    model.train(was_training)
    return states


@torch.inference_mode()
def evaluate_states(model: SequentialRecommender, states: Tensor, evaluation: EvaluationSet,
                    full_ranking: bool = True) -> dict[str, float]:
    """Metrics of user states [U, d]: sampled protocol keys `hr@10`..., full ranking `full_hr@10`..."""
    evaluation = evaluation.to(states.device)
    sampled_scores = model.score_from_state(states, evaluation.candidates)
    full_scores = model.score_all_from_state(states) if full_ranking else None
    return evaluate_scores(sampled_scores, full_scores, evaluation)


@torch.inference_mode()
def evaluate_scores(sampled_scores: Tensor, full_scores: Tensor | None, evaluation: EvaluationSet) -> dict[str, float]:
    """Metrics of scores over the candidates [U, C] and, optionally, the whole catalogue [U, n_items + 1]."""
    evaluation = evaluation.to(sampled_scores.device)
    categories = evaluation.item_categories
    target_col = torch.zeros(len(sampled_scores), dtype=torch.long, device=sampled_scores.device)
    per_user = ranking_metrics(sampled_scores, target_col, categories[evaluation.candidates], KS, ALPHA,
                               ideal=evaluation.ideal(False), per_user=True)
    results = _means(per_user)
    results.update(beyond_accuracy_metrics(sampled_scores, per_user["ndcg@10"], evaluation.candidates,
                                           evaluation.item_counts, evaluation.long_tail, evaluation.user_group))
    if full_scores is not None:
        full_categories = categories.unsqueeze(0).expand(len(full_scores), -1, -1)
        per_user = ranking_metrics(full_scores, evaluation.target, full_categories, KS, ALPHA,
                                   mask=evaluation.full_mask, ideal=evaluation.ideal(True), per_user=True)
        full = _means(per_user)
        full.update(beyond_accuracy_metrics(full_scores, per_user["ndcg@10"], None, evaluation.item_counts,
                                            evaluation.long_tail, evaluation.user_group, mask=evaluation.full_mask))
        results.update({f"full_{name}": value for name, value in full.items()})
    return results


def _means(per_user: dict[str, Tensor]) -> dict[str, float]:
    return {name: values.float().mean().item() for name, values in per_user.items()}


def popularity_scores(dataset: Dataset, evaluation: EvaluationSet) -> tuple[Tensor, Tensor]:
    """Most-popular baseline: an item's score is its count among training targets and histories."""
    counts = item_counts(dataset).astype(np.float32)  # each user's first item, only in histories, counts too
    counts[0] = -np.inf
    full = torch.as_tensor(counts, device=evaluation.target.device).expand(len(evaluation.target), -1)
    return full.gather(1, evaluation.candidates), full
