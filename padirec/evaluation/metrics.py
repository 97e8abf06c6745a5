"""Ranking metrics for leave-one-out evaluation, vectorised over users.

Conventions shared by every function:

* ``scores``: float tensor [B, C] (B users, C candidates).
* ``target_col``: LongTensor [B], the column of each user's held-out item.
* ``candidate_categories``: float or bool tensor [B, C, M] of multi-hot genre
  vectors. It may be an expanded view of one [C, M] table; that case is
  detected and handled without materialising B copies.
* ``mask``: optional bool [B, C], True = candidate excluded (never ranked).
  The target column is assumed never to be masked.

Every per-user function returns a tensor [B].
"""

from __future__ import annotations

import math

import moocore
import numpy as np
import torch
from torch import Tensor

__all__ = [
    "rank_of_target",
    "hit_rate",
    "ndcg",
    "top_k_indices",
    "alpha_dcg",
    "ideal_alpha_dcg",
    "ideal_alpha_dcg_prefixes",
    "alpha_ndcg",
    "genre_coverage",
    "intra_list_distance",
    "jaccard_similarity",
    "ranking_metrics",
    "beyond_accuracy_metrics",
    "hypervolume",
    "monotonicity_violations",
]

DIVERSITY_K = 10  # list length used for coverage@10 and ild@10


def _as_float(categories: Tensor) -> Tensor:
    """Categories as a floating tensor (bool/int multi-hot becomes float32)."""
    return categories if categories.is_floating_point() else categories.float()


def _position_discounts(k: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """1 / log2(i + 2) for 0-based positions i < k."""
    positions = torch.arange(k, dtype=dtype, device=device)
    return 1.0 / torch.log2(positions + 2.0)


def rank_of_target(scores: Tensor, target_col: Tensor, mask: Tensor | None = None) -> Tensor:
    """0-based rank of the target: number of other unmasked candidates scoring >= it.

    Ties count against the target (pessimistic), so a constant scorer gets no credit.
    """
    columns = torch.arange(scores.size(1), device=scores.device)
    is_target = columns.unsqueeze(0) == target_col.unsqueeze(1)
    target_scores = scores.gather(1, target_col.unsqueeze(1))
    beats_or_ties = (scores >= target_scores) & ~is_target
    if mask is not None:
        beats_or_ties &= ~mask
    return beats_or_ties.sum(dim=1)


def hit_rate(ranks: Tensor, k: int) -> Tensor:
    """HR@k = 1 if the target's 0-based rank is < k, else 0."""
    return (ranks < k).float()


def ndcg(ranks: Tensor, k: int) -> Tensor:
    """NDCG@k with one relevant item: 1 / log2(rank + 2) if rank < k, else 0."""
    gains = 1.0 / torch.log2(ranks.float() + 2.0)
    return torch.where(ranks < k, gains, torch.zeros_like(gains))


def top_k_indices(scores: Tensor, k: int, mask: Tensor | None = None) -> Tensor:
    """Columns of the k highest scores [B, min(k, C)]; ties go to the lower column.

    Masked columns come after every unmasked one, so they appear only when k
    exceeds the number of unmasked candidates.
    """
    k = min(k, scores.size(1))
    if k == 0:
        return torch.zeros(scores.size(0), 0, dtype=torch.long, device=scores.device)
    keyed = scores if mask is None else scores.masked_fill(mask, -math.inf)
    kth = keyed.topk(k, dim=1).values[:, -1:]
    if bool(torch.isfinite(kth).all()):
        # Fast path (no masked filler needed): the k best by topk, which is much cheaper than sorting
        # the catalogue, then ties at the k-th score resolved to the lowest columns and the list put
        # in the same order the stable sort below gives.
        above, tied = keyed > kth, keyed == kth
        chosen = above | (tied & (tied.cumsum(dim=1) <= k - above.sum(dim=1, keepdim=True)))
        columns = chosen.nonzero()[:, 1].reshape(scores.size(0), k)  # ascending column order
        return columns.gather(1, torch.sort(-keyed.gather(1, columns), dim=1, stable=True).indices)
    # A stable sort keeps column order among equal scores.
    order = torch.sort(-scores, dim=1, stable=True).indices
    if mask is not None:
        # Second stable pass on the mask alone: unmasked first, score order kept.
        masked_in_order = mask.gather(1, order).to(torch.uint8)
        order = order.gather(1, torch.sort(masked_in_order, dim=1, stable=True).indices)
    return order[:, :k]


def _gather_categories(candidate_categories: Tensor, columns: Tensor) -> Tensor:
    """Category rows of the given columns: [B, C, M] x [B, K] -> float [B, K, M]."""
    num_categories = candidate_categories.size(2)
    index = columns.unsqueeze(2).expand(-1, -1, num_categories)
    return _as_float(candidate_categories.gather(1, index))


def _top_k_categories(
    scores: Tensor, candidate_categories: Tensor, k: int, mask: Tensor | None
) -> Tensor:
    """Categories of the top-k list [B, K, M]; masked fillers get no categories."""
    columns = top_k_indices(scores, k, mask)
    categories = _gather_categories(candidate_categories, columns)
    if mask is not None:
        # Masked items only fill lists longer than the unmasked pool: make them count as nothing.
        kept = ~mask.gather(1, columns)
        categories = categories * kept.unsqueeze(2).to(categories.dtype)
    return categories


def _alpha_dcg_prefixes(list_categories: Tensor, alpha: float) -> Tensor:
    """alpha-DCG of every prefix of the ranked lists: [B, K, M] -> [B, K] (column i = cutoff i + 1)."""
    categories = _as_float(list_categories)
    batch, length, num_categories = categories.shape
    seen_counts = categories.new_zeros(batch, num_categories)
    gains = []
    for position in range(length):
        item = categories[:, position]
        gains.append((item * torch.pow(1.0 - alpha, seen_counts)).sum(dim=1))
        seen_counts = seen_counts + item
    if not gains:
        return categories.new_zeros(batch, 0)
    discounts = _position_discounts(length, categories.dtype, categories.device)
    return torch.cumsum(torch.stack(gains, dim=1) * discounts, dim=1)


def alpha_dcg(list_categories: Tensor, alpha: float = 0.5) -> Tensor:
    """Exact alpha-DCG of lists in ranked order, list_categories [B, K, M] -> [B].

    The item at 0-based position i gains sum_m c_im * (1 - alpha) ** (times m
    appeared before i), discounted by 1 / log2(i + 2).
    """
    prefixes = _alpha_dcg_prefixes(list_categories, alpha)
    return prefixes[:, -1] if prefixes.size(1) else prefixes.new_zeros(prefixes.size(0))


def _shared_table(candidate_categories: Tensor) -> Tensor | None:
    """The single [C, M] table behind a batch-expanded view, else None."""
    if candidate_categories.size(0) == 1 or candidate_categories.stride(0) == 0:
        return _as_float(candidate_categories[0])
    return None


def ideal_alpha_dcg_prefixes(
    candidate_categories: Tensor, k: int, alpha: float, mask: Tensor | None
) -> Tensor:
    """Greedy ideal alpha-DCG at every cutoff 1..min(k, C): [B, min(k, C)].

    Greedy lists are nested (the k-list starts with the (k-1)-list), so one run
    serves every cutoff.
    """
    batch, num_candidates, num_categories = candidate_categories.shape
    shared = _shared_table(candidate_categories)
    full = _as_float(candidate_categories) if shared is None else None
    dtype = (shared if shared is not None else full).dtype
    device = candidate_categories.device

    unavailable = torch.zeros(batch, num_candidates, dtype=torch.bool, device=device)
    if mask is not None:
        unavailable |= mask
    steps = min(k, num_candidates)
    seen_counts = torch.zeros(batch, num_categories, dtype=dtype, device=device)
    rows = torch.arange(batch, device=device)
    step_gains = []
    for _ in range(steps):
        weights = torch.pow(1.0 - alpha, seen_counts)  # [B, M] value of one more item of m
        if shared is not None:
            gains = weights @ shared.T  # avoids materialising the expanded [B, C, M] view
        else:
            gains = torch.bmm(full, weights.unsqueeze(2)).squeeze(2)
        gains = gains.masked_fill(unavailable, -math.inf)
        best = gains.argmax(dim=1)  # argmax returns the first maximum: lowest column wins ties
        best_gain = gains[rows, best]
        # Users with no candidates left add nothing (their best gain is -inf).
        step_gains.append(torch.where(torch.isfinite(best_gain), best_gain, torch.zeros_like(best_gain)))
        picked = shared[best] if shared is not None else full[rows, best]
        seen_counts = seen_counts + picked
        unavailable[rows, best] = True
    if not step_gains:
        return torch.zeros(batch, 0, dtype=dtype, device=device)
    discounts = _position_discounts(steps, dtype, device)
    return torch.cumsum(torch.stack(step_gains, dim=1) * discounts, dim=1)


def ideal_alpha_dcg(
    candidate_categories: Tensor, k: int, alpha: float = 0.5, mask: Tensor | None = None
) -> Tensor:
    """alpha-DCG@k of the greedy ideal list over the unmasked candidates -> [B].

    Each of the k steps takes the unpicked unmasked candidate with the largest
    marginal gain (ties: lowest column). Greedy is the standard approximation of
    the NP-hard optimum, so alpha_ndcg can exceed 1 in rare cases.
    """
    prefixes = ideal_alpha_dcg_prefixes(candidate_categories, k, alpha, mask)
    return prefixes[:, -1] if prefixes.size(1) else prefixes.new_zeros(prefixes.size(0))


def _safe_ratio(achieved: Tensor, ideal: Tensor) -> Tensor:
    """achieved / ideal, 0 where the ideal is 0 (no candidate has any category)."""
    ideal = ideal.to(achieved.dtype)
    safe_ideal = torch.where(ideal > 0, ideal, torch.ones_like(ideal))
    return torch.where(ideal > 0, achieved / safe_ideal, torch.zeros_like(achieved))


def alpha_ndcg(
    scores: Tensor,
    candidate_categories: Tensor,
    k: int,
    alpha: float = 0.5,
    mask: Tensor | None = None,
) -> Tensor:
    """alpha-DCG of the top-k by score over the greedy ideal alpha-DCG@k (0 if the ideal is 0)."""
    achieved = alpha_dcg(_top_k_categories(scores, candidate_categories, k, mask), alpha)
    return _safe_ratio(achieved, ideal_alpha_dcg(candidate_categories, k, alpha, mask))


def _coverage_of_lists(list_categories: Tensor) -> Tensor:
    """Fraction of the M categories present in each list [B, K, M] -> [B]."""
    covered = (list_categories > 0).any(dim=1)
    return covered.float().sum(dim=1) / list_categories.size(2)


def genre_coverage(
    scores: Tensor, candidate_categories: Tensor, k: int, mask: Tensor | None = None
) -> Tensor:
    """Distinct categories among the top k, as a fraction of all M categories."""
    return _coverage_of_lists(_top_k_categories(scores, candidate_categories, k, mask))


def jaccard_similarity(categories: Tensor, empty: float = 0.0) -> Tensor:
    """Pairwise Jaccard similarity of category sets [..., C, M] -> [..., C, C]; `empty` for two empty sets."""
    categories = (categories > 0).float()
    shared = categories @ categories.transpose(-1, -2)
    sizes = categories.sum(-1)
    union = sizes[..., :, None] + sizes[..., None, :] - shared
    return torch.where(union > 0, shared / union.clamp_min(1.0), torch.full_like(union, empty))


def _ild_of_lists(list_categories: Tensor) -> Tensor:
    """Mean pairwise Jaccard distance within each list [B, K, M] -> [B] (two empty sets: distance 0)."""
    length = list_categories.size(1)
    if length < 2:
        return list_categories.new_zeros(list_categories.size(0)).float()
    similarity = jaccard_similarity(list_categories, empty=1.0)  # [B, K, K]
    upper = torch.triu(torch.ones(length, length, dtype=torch.bool, device=list_categories.device), 1)
    return (1.0 - similarity)[:, upper].mean(dim=1)  # [B, K(K-1)/2] pairs -> mean


def intra_list_distance(
    scores: Tensor, candidate_categories: Tensor, k: int, mask: Tensor | None = None
) -> Tensor:
    """Mean over pairs i < j of the top k of 1 - Jaccard(c_i, c_j).

    Two empty category sets count as identical (distance 0). Lists shorter than
    two items have no pairs and get 0.
    """
    return _ild_of_lists(_top_k_categories(scores, candidate_categories, k, mask))


def ranking_metrics(
    scores: Tensor,
    target_col: Tensor,
    candidate_categories: Tensor,
    ks: tuple[int, ...] = (5, 10, 20),
    alpha: float = 0.5,
    mask: Tensor | None = None,
    per_user: bool = False,
    ideal: Tensor | None = None,
) -> dict[str, float] | dict[str, Tensor]:
    """hr@k, ndcg@k, alpha_ndcg@k for each k in ks, plus coverage@10 and ild@10.

    Returns means over users as floats, or the per-user tensors [B] when
    per_user=True. coverage@10 and ild@10 use k = min(10, C) but keep their names.
    Same values as the standalone functions, but the candidates are sorted once
    and the greedy ideal run once (top-k and greedy lists are nested in k).
    `ideal` [B, >= max(ks)]: the ideal alpha-DCG prefixes of these candidates
    (`ideal_alpha_dcg_prefixes`), which depend on the candidates but not on the
    scores, so callers scoring many models on one split compute them once.
    """
    ranks = rank_of_target(scores, target_col, mask)
    longest = max((*ks, DIVERSITY_K))
    top_lists = _top_k_categories(scores, candidate_categories, longest, mask)  # [B, min(longest, C), M]
    achieved = _alpha_dcg_prefixes(top_lists, alpha)
    if ideal is None:
        ideal = ideal_alpha_dcg_prefixes(candidate_categories, max(ks), alpha, mask)
    results: dict[str, Tensor] = {}
    for k in ks:
        cutoff = min(k, scores.size(1)) - 1  # column of the k-prefix (lists stop at C)
        results[f"hr@{k}"] = hit_rate(ranks, k)
        results[f"ndcg@{k}"] = ndcg(ranks, k)
        results[f"alpha_ndcg@{k}"] = _safe_ratio(achieved[:, cutoff], ideal[:, cutoff])
    diversity_lists = top_lists[:, :DIVERSITY_K]
    results[f"coverage@{DIVERSITY_K}"] = _coverage_of_lists(diversity_lists)
    results[f"ild@{DIVERSITY_K}"] = _ild_of_lists(diversity_lists)
    if per_user:
        return results
    return {name: values.float().mean().item() for name, values in results.items()}


def beyond_accuracy_metrics(
    scores: Tensor,
    user_ndcg: Tensor,
    candidates: Tensor | None,
    item_counts: Tensor,
    long_tail: Tensor,
    user_group: Tensor,
    k: int = DIVERSITY_K,
    mask: Tensor | None = None,
) -> dict[str, float]:
    """Popularity and user-group fairness of the top-k lists, as means over users.

    - aplt@k: share of long-tail items (`long_tail` [n_items + 1] bool) in each top-k list;
    - arp@k: mean training interaction count (`item_counts` [n_items + 1]) of the listed items;
    - group_ndcg@k_minor / _major: mean of `user_ndcg` [B] (NDCG@k) over the users of group 0 (the
      smaller) and group 1 (`user_group` [B]), NaN for an empty group;
    - fair_gap@k: their absolute difference (lower is fairer).

    `candidates` [B, C] maps columns to item ids (None: column = item id, full ranking).
    """
    columns = top_k_indices(scores, k, mask)
    items = columns if candidates is None else candidates.gather(1, columns)
    groups = [user_ndcg[user_group == g].float() for g in (0, 1)]
    minor, major = (group.mean().item() if len(group) else math.nan for group in groups)
    return {f"aplt@{k}": long_tail[items].float().mean().item(),
            f"arp@{k}": item_counts[items].float().mean().item(),
            f"group_ndcg@{k}_minor": minor, f"group_ndcg@{k}_major": major,
            f"fair_gap@{k}": abs(minor - major)}


# -----------------------------------------------------------------------------
# across requirements: trade-off front and control


def hypervolume(points: Tensor | np.ndarray | list, reference, higher_is_better: list[bool] | None = None) -> float:
    """Volume dominated by K-D points and bounded by `reference` (moocore's exact hypervolume).

    points: [N, K], e.g. the metrics (NDCG@10, alpha-NDCG@10, ...) of the adapters one method gives across
    the requirement grid; `higher_is_better` per coordinate (default: all), a lower-is-better metric is
    flipped. A point not strictly better than the reference in every coordinate adds nothing.
    """
    reference = np.asarray(reference, dtype=np.float64)
    if isinstance(points, Tensor):
        points = points.detach().cpu().numpy()
    points = np.asarray(points, dtype=np.float64).reshape(-1, len(reference))
    sign = np.where(np.asarray(higher_is_better if higher_is_better is not None else [True] * len(reference)), -1.0, 1.0)
    minimised, bound = points * sign, reference * sign  # moocore minimises
    inside = minimised[(minimised < bound).all(axis=1)]
    return float(moocore.hypervolume(inside, ref=bound)) if len(inside) else 0.0


def monotonicity_violations(w_acc: Tensor | list, accuracy: Tensor | list, diversity: Tensor | list) -> int:
    """Steps along the grid (sorted by w_acc) where control goes the wrong way.

    Counts neighbouring requirements where accuracy falls although w_acc rises, plus those where
    diversity rises although w_div = 1 - w_acc falls: 0 for a perfectly monotone method, at most
    2 (N - 1).
    """
    w_acc = torch.as_tensor(w_acc, dtype=torch.float64)
    order = torch.argsort(w_acc, stable=True)
    accuracy = torch.as_tensor(accuracy, dtype=torch.float64)[order]
    diversity = torch.as_tensor(diversity, dtype=torch.float64)[order]
    return int((accuracy.diff() < 0).sum() + (diversity.diff() > 0).sum())
