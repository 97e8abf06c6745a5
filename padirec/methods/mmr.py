"""MMR, the one baseline without an adapter: it re-ranks the bare backbone's scores greedily by maximal marginal
relevance with genre (Jaccard) similarity, trading relevance against diversity with lambda = w_acc. It is a
feature of the (accuracy, diversity) trade-off only (its registry entry says so)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from padirec.evaluation.metrics import jaccard_similarity
from padirec.evaluation.protocol import EvaluationSet, evaluate_scores
from padirec.models.backbones import SequentialRecommender

OBJECTIVES = ("acc", "div")  # the trade-off MMR makes: its rows carry these weights


@torch.inference_mode()
def mmr_scores(scores: Tensor, item_categories: Tensor, candidates: Tensor | None, trade_off: float,
               length: int = 20, pool: int = 100, mask: Tensor | None = None) -> Tensor:
    """Scores [U, C] whose descending order is the greedy MMR list, then the rest by relevance.

    Per user the `pool` best-scored candidates (not masked) compete; each step takes the one with
    the largest trade_off * relevance - (1 - trade_off) * (max Jaccard similarity to the items
    already taken), relevance min-max scaled to [0, 1] over the pool. trade_off = 1 keeps the
    backbone's order. `candidates` [U, C] maps columns to item ids (None: column = item id).
    """
    if not 0.0 <= trade_off <= 1.0:
        raise ValueError(f"MMR trade-off must lie in [0, 1], got {trade_off}")
    users, columns = scores.shape
    masked = scores if mask is None else scores.masked_fill(mask, float("-inf"))
    pool = min(pool, columns)
    length = min(length, pool)
    top_scores, top_columns = masked.topk(pool, dim=1)  # [U, pool]
    valid = torch.isfinite(top_scores)
    low = top_scores.masked_fill(~valid, float("inf")).amin(1, keepdim=True)
    high = top_scores.masked_fill(~valid, float("-inf")).amax(1, keepdim=True)
    relevance = ((top_scores - low) / (high - low).clamp_min(1e-12)).masked_fill(~valid, 0.0)
    items = top_columns if candidates is None else candidates.gather(1, top_columns)
    similarity = jaccard_similarity(item_categories[items])  # [U, pool, pool]

    taken = ~valid
    closest = torch.zeros(users, pool, device=scores.device)
    rows = torch.arange(users, device=scores.device)
    reranked = masked.clone()  # masked columns at -inf: below the MMR list whatever they scored
    ceiling = top_scores[:, 0] + 1.0  # above every unmasked score
    for position in range(length):
        value = (trade_off * relevance - (1 - trade_off) * closest).masked_fill(taken, float("-inf"))
        pick = value.argmax(1)
        usable = ~taken[rows, pick]
        chosen = top_columns[rows, pick]
        reranked[rows[usable], chosen[usable]] = ceiling[usable] + (length - position)
        taken[rows, pick] = True
        closest = torch.maximum(closest, similarity[rows, pick])
    return reranked


def mmr_metrics(model: SequentialRecommender, states: Tensor, trade_off: float, evaluation: EvaluationSet,
                pool: int) -> dict[str, float]:
    """MMR re-ranking of the bare backbone's scores, on the candidates and over the full catalogue."""
    evaluation = evaluation.to(states.device)
    categories = evaluation.item_categories
    sampled = mmr_scores(model.score_from_state(states, evaluation.candidates), categories, evaluation.candidates,
                         trade_off, pool=pool)
    full = mmr_scores(model.score_all_from_state(states), categories, None, trade_off, pool=pool,
                      mask=evaluation.full_mask)
    return evaluate_scores(sampled, full, evaluation)


def mmr_rows(model: SequentialRecommender, states: Tensor, weights: np.ndarray, evaluation: EvaluationSet,
             pool: int, seed: int) -> pd.DataFrame:
    """MMR with trade-off lambda = w_acc (lambda = 1 is the backbone's own ranking), one row per requirement."""
    return pd.DataFrame([{"method": "mmr", "seed": seed, "sample": 0,
                          **{f"w_{objective}": w[index] for index, objective in enumerate(OBJECTIVES)},
                          **mmr_metrics(model, states, float(w[0]), evaluation, pool)} for w in weights])
