"""Training losses: accuracy (softmax-weighted BPR) and diversity (soft alpha-DCG)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from padirec.evaluation.metrics import ideal_alpha_dcg

__all__ = ["bpr_softmax_loss", "soft_alpha_dcg", "diversity_loss"]

_IDEAL_FLOOR = 1e-12  # ideal alpha-DCG below this means "no categories at all"


def bpr_softmax_loss(pos_scores: Tensor, neg_scores: Tensor, reduction: str = "mean") -> Tensor:
    """BPR with softmax-weighted negatives.

    Leading dimensions broadcast (pos [..., B], neg [..., B, J], e.g. a stack of adapters);
    reduction="none" returns the per-example losses [..., B].

    L = -mean_b log( sum_j softmax(n_b)_j * sigmoid(p_b - n_bj) ), for
    pos_scores [B] and neg_scores [B, J]. Computed in log space
    (logsumexp of log_softmax + logsigmoid), which equals the formula exactly
    but never takes log of an underflowed 0, so no epsilon clamp is needed and
    gradients survive extreme scores. Gradients flow through both the weights
    and the sigmoids.
    """
    log_weights = F.log_softmax(neg_scores, dim=-1)
    log_pairwise = F.logsigmoid(pos_scores.unsqueeze(-1) - neg_scores)
    losses = -torch.logsumexp(log_weights + log_pairwise, dim=-1)
    return _reduce(losses, reduction)


def _reduce(losses: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return losses.mean()
    if reduction == "none":
        return losses
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def _above_probabilities(scores: Tensor, tau: float) -> Tensor:
    """P[b, i, j] = sigmoid((s_j - s_i) / tau): probability j ranks above i; 0 on the diagonal."""
    difference = (scores.unsqueeze(-2) - scores.unsqueeze(-1)) / tau  # [..., i, j] = s_j - s_i
    num_candidates = scores.size(-1)
    off_diagonal = ~torch.eye(num_candidates, dtype=torch.bool, device=scores.device)
    return torch.sigmoid(difference) * off_diagonal.to(scores.dtype)


def soft_alpha_dcg(
    scores: Tensor, candidate_categories: Tensor, alpha: float = 0.5, tau: float = 0.1
) -> Tensor:
    """Differentiable alpha-DCG of each example's candidate list -> [B].

    With P_ij the probability that j ranks above i: smooth rank
    R_i = 1 + sum_j P_ij, smooth count of category-m items above i
    K_im = sum_j c_jm P_ij, gain_i = sum_m c_im (1 - alpha) ** K_im, and the
    value is sum_i gain_i / log2(1 + R_i). Items ranked ABOVE i are counted
    (the authors' release counted those below, a known defect). Needs alpha < 1
    for finite gradients. Memory is O(B C^2 + B C M).
    """
    categories = candidate_categories.to(scores.dtype)
    above = _above_probabilities(scores, tau)  # [B, C, C]
    smooth_rank = 1.0 + above.sum(dim=-1)  # [..., B, C]
    smooth_counts_above = above @ categories  # [..., B, C, M]
    gains = (categories * torch.pow(1.0 - alpha, smooth_counts_above)).sum(dim=-1)
    return (gains / torch.log2(1.0 + smooth_rank)).sum(dim=-1)


def diversity_loss(
    scores: Tensor,
    candidate_categories: Tensor,
    alpha: float = 0.5,
    tau: float = 0.1,
    normalise: bool = True,
    reduction: str = "mean",
) -> Tensor:
    """Minus the mean soft alpha-DCG; optionally each example divided by its ideal.

    scores may carry leading dimensions ([..., B, C], e.g. a stack of adapters) over the
    same candidates [B, C, M]; reduction="none" returns the per-example values [..., B].

    With normalise=True the divisor is the exact greedy ideal alpha-DCG@C of the
    candidates (a constant w.r.t. the scores), so the loss lies roughly in
    [-1, 0], on the same scale as the accuracy loss. Examples with no categories
    at all have surrogate 0 and are left at 0.
    """
    surrogate = soft_alpha_dcg(scores, candidate_categories, alpha, tau)
    if normalise:
        with torch.no_grad():
            ideal = ideal_alpha_dcg(candidate_categories, scores.size(-1), alpha).to(scores.dtype)
            # Divide by 1 where the ideal is 0: the surrogate is 0 there too, and no inf/NaN gradients.
            ideal = torch.where(ideal > _IDEAL_FLOOR, ideal, torch.ones_like(ideal))
        surrogate = surrogate / ideal
    return _reduce(-surrogate, reduction)
