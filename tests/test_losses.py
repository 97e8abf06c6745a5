"""Checks of the accuracy and diversity losses against independent computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from padirec.objectives.losses import bpr_softmax_loss, diversity_loss, soft_alpha_dcg
from padirec.evaluation.metrics import alpha_dcg

INV_LOG2_3 = 1.0 / math.log2(3)  # discount of rank 2: 0.630930
INV_LOG2_5 = 1.0 / math.log2(5)  # discount of rank 4: 0.430677

# c0 = {g0}, c1 = {g0, g1}, c2 = {g2}, c3 = {g0}
FOUR_ITEMS = torch.tensor(
    [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]], dtype=torch.float64
)

# Two items of genre A and one of genre B.
A1, A2, B = [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]


def exact_alpha_dcg_of_score_order(scores: torch.Tensor, table: torch.Tensor) -> float:
    """Exact alpha-DCG (alpha = .5) of the candidates sorted by descending score."""
    order = torch.argsort(scores, descending=True)
    return alpha_dcg(table[order].unsqueeze(0)).item()


# ----------------------------------------------------------------------------- BPR


def numpy_bpr_softmax(pos: np.ndarray, neg: np.ndarray) -> float:
    """Reference: -mean log sum_j softmax(n)_j sigmoid(p - n_j), written naively."""
    weights = np.exp(neg) / np.exp(neg).sum(axis=1, keepdims=True)
    sigmoid = 1.0 / (1.0 + np.exp(-(pos[:, None] - neg)))
    return float(-np.mean(np.log((weights * sigmoid).sum(axis=1))))


def test_bpr_softmax_matches_numpy_on_2x3() -> None:
    pos = np.array([1.0, 0.0])
    neg = np.array([[0.5, 1.0, -1.0], [2.0, 0.0, 0.0]])
    loss = bpr_softmax_loss(torch.tensor(pos), torch.tensor(neg))
    assert loss.item() == pytest.approx(numpy_bpr_softmax(pos, neg), rel=1e-10)


def test_bpr_softmax_single_negative_is_plain_bpr() -> None:
    # J = 1: weight 1, so L = -log sigmoid(2 - 0) = log(1 + e^-2) = 0.126928.
    loss = bpr_softmax_loss(torch.tensor([2.0]), torch.tensor([[0.0]]))
    assert loss.item() == pytest.approx(math.log1p(math.exp(-2.0)), rel=1e-6)


def test_bpr_softmax_gradient_lowers_loss_when_positive_rises() -> None:
    pos = torch.tensor([1.0, 0.0], requires_grad=True)
    neg = torch.tensor([[0.5, 1.0, -1.0], [2.0, 0.0, 0.0]], requires_grad=True)
    bpr_softmax_loss(pos, neg).backward()
    assert (pos.grad < 0).all()
    # The negatives' gradients must exist too (through both the weights and the sigmoids).
    assert neg.grad is not None and neg.grad.abs().sum() > 0


def test_bpr_softmax_gradient_matches_finite_differences() -> None:
    # Checks the full gradient, including the path through the softmax weights
    # (detaching the weights would change the negatives' gradients and fail here).
    pos = torch.tensor([1.0, 0.0], dtype=torch.float64, requires_grad=True)
    neg = torch.tensor([[0.5, 1.0, -1.0], [2.0, 0.0, 0.0]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(bpr_softmax_loss, (pos, neg))


def test_bpr_softmax_stable_for_extreme_scores() -> None:
    # neg = (1000, -1000), p = 0: weights ~ (1, e^-2000), sigmoid(p - n) ~ (e^-1000, 1)
    # -> inner sum ~ e^-1000 + e^-2000 -> loss ~ 1000 (a naive log would give inf).
    pos = torch.tensor([0.0], requires_grad=True)
    neg = torch.tensor([[1000.0, -1000.0]], requires_grad=True)
    loss = bpr_softmax_loss(pos, neg)
    loss.backward()
    assert loss.item() == pytest.approx(1000.0, rel=1e-6)
    assert torch.isfinite(pos.grad).all() and torch.isfinite(neg.grad).all()


# ----------------------------------------------------------------------------- soft alpha-DCG


@pytest.mark.parametrize(
    "scores",
    [[4.0, 3.0, 2.0, 1.0], [1.0, 4.0, 3.0, 2.0], [2.0, 1.0, 4.0, 3.0], [1.0, 2.0, 3.0, 4.0]],
)
def test_soft_alpha_dcg_matches_exact_with_small_tau(scores: list[float]) -> None:
    score_tensor = torch.tensor(scores, dtype=torch.float64)
    soft = soft_alpha_dcg(score_tensor.unsqueeze(0), FOUR_ITEMS.unsqueeze(0), tau=0.01)
    exact = exact_alpha_dcg_of_score_order(score_tensor, FOUR_ITEMS)
    assert soft.item() == pytest.approx(exact, rel=1e-3)


def test_soft_alpha_dcg_hand_computed_list() -> None:
    # Order c1, c2, c0, c3 (the greedy ideal): 2 + 1 * 0.630930 + .5 * .5 + .25 * 0.430677 = 2.988600
    scores = torch.tensor([[2.0, 4.0, 3.0, 1.0]], dtype=torch.float64)
    soft = soft_alpha_dcg(scores, FOUR_ITEMS.unsqueeze(0), tau=0.01)
    assert soft.item() == pytest.approx(2.0 + INV_LOG2_3 + 0.25 + 0.25 * INV_LOG2_5, rel=1e-3)


def test_soft_alpha_dcg_is_batched_per_example() -> None:
    # Row 0 = the hand-computed list above, row 1 = 1 + .5 * 0.630930 (two items of one genre).
    scores = torch.tensor([[2.0, 4.0, 3.0, 1.0], [4.0, 3.0, -9.0, -9.0]], dtype=torch.float64)
    two_of_g0 = torch.tensor([[1.0, 0, 0], [1.0, 0, 0], [0, 0, 0], [0, 0, 0]], dtype=torch.float64)
    categories = torch.stack([FOUR_ITEMS, two_of_g0])
    soft = soft_alpha_dcg(scores, categories, tau=0.01)
    expected = [2.0 + INV_LOG2_3 + 0.25 + 0.25 * INV_LOG2_5, 1.0 + 0.5 * INV_LOG2_3]
    assert soft.tolist() == pytest.approx(expected, rel=1e-3)


def test_soft_alpha_dcg_orders_lists_like_the_exact_metric() -> None:
    # Six orderings of the same four candidates, default tau = 0.1.
    orderings = [
        [2.0, 4.0, 3.0, 1.0],  # c1 c2 c0 c3: 2.988600
        [4.0, 3.0, 2.0, 1.0],  # c0 c1 c2 c3: 1 + 1.5 * .630930 + .5 + .25 * .430677
        [4.0, 1.0, 2.0, 3.0],  # c0 c3 c2 c1: 1 + .5 * .630930 + .5 + 1.25 * .430677
        [3.0, 1.0, 4.0, 2.0],  # c2 c0 c3 c1
        [1.0, 2.0, 4.0, 3.0],  # c2 c3 c1 c0
        [4.0, 2.0, 1.0, 3.0],  # c0 c3 c1 c2
    ]
    scores = torch.tensor(orderings, dtype=torch.float64)
    exact = [exact_alpha_dcg_of_score_order(row, FOUR_ITEMS) for row in scores]
    # The check is only meaningful if the exact values are all distinct.
    assert min(np.diff(sorted(exact))) > 1e-3
    soft = soft_alpha_dcg(scores, FOUR_ITEMS.expand(len(orderings), -1, -1))
    assert spearmanr(soft.numpy(), exact).statistic == pytest.approx(1.0)


def test_soft_alpha_dcg_discounts_items_ranked_below_a_same_genre_item() -> None:
    # A1 above A2 (same genre): exact = 1 + .5 * 0.630930 = 1.315465. Counting items BELOW instead
    # would give A1 the discount: .5 + 1 * 0.630930 = 1.130930.
    soft = soft_alpha_dcg(torch.tensor([[2.0, 1.0]]), torch.tensor([[A1, A2]]), tau=0.01)
    assert soft.item() == pytest.approx(1.0 + 0.5 * INV_LOG2_3, rel=1e-3)


def test_soft_alpha_dcg_rewards_a_different_genre_between_two_same_genre_items() -> None:
    # A1, A2, B: 1 + .5 * 0.630930 + 1 * .5 = 1.815465
    # A1, B, A2: 1 + 1 * 0.630930 + .5 * .5 = 1.880930 (higher).
    # Counting items below would score both 1.630930 (.5 + 0.630930 + .5), no difference.
    categories = torch.tensor([[A1, A2, B]])
    redundant_first = soft_alpha_dcg(torch.tensor([[3.0, 2.0, 1.0]]), categories, tau=0.01)
    interleaved = soft_alpha_dcg(torch.tensor([[3.0, 1.0, 2.0]]), categories, tau=0.01)
    assert redundant_first.item() == pytest.approx(1.0 + 0.5 * INV_LOG2_3 + 0.5, rel=1e-3)
    assert interleaved.item() == pytest.approx(1.0 + INV_LOG2_3 + 0.25, rel=1e-3)
    assert interleaved.item() > redundant_first.item() + 0.05


def test_soft_alpha_dcg_gradient_matches_finite_differences() -> None:
    # The gradient must flow through the smooth ranks and the smooth genre counts alike.
    generator = torch.Generator().manual_seed(1)
    scores = torch.randn(2, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    categories = FOUR_ITEMS.expand(2, -1, -1)
    assert torch.autograd.gradcheck(lambda s: soft_alpha_dcg(s, categories, tau=0.5), (scores,))


# ----------------------------------------------------------------------------- diversity loss


def test_diversity_loss_prefers_a_diverse_top() -> None:
    # Candidates A, A, B, C (M = 3): putting A, B, C on top must give a lower (more negative) loss
    # than A, A on top, both with and without normalisation.
    categories = torch.tensor([[[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]])
    redundant_top = torch.tensor([[4.0, 3.0, 2.0, 1.0]])
    diverse_top = torch.tensor([[4.0, 1.0, 3.0, 2.0]])
    for normalise in (True, False):
        redundant = diversity_loss(redundant_top, categories, normalise=normalise)
        diverse = diversity_loss(diverse_top, categories, normalise=normalise)
        assert diverse.item() < redundant.item()


def test_diversity_loss_gradient_moves_toward_diversity() -> None:
    # From A, A, B, C tied at 0, a gradient step on the loss must raise B relative to the second A
    # (the pushed-up A would be redundant with the first).
    categories = torch.tensor([[[1.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]]])
    scores = torch.tensor([[0.2, 0.0, 0.0, 0.0]], requires_grad=True)
    diversity_loss(scores, categories).backward()
    assert torch.isfinite(scores.grad).all()
    # Descent direction is -grad: B (col 2) should rise more than the second A (col 1).
    assert -scores.grad[0, 2] > -scores.grad[0, 1]


def test_normalised_diversity_loss_is_in_unit_range() -> None:
    generator = torch.Generator().manual_seed(0)
    categories = (torch.rand(16, 12, 5, generator=generator) < 0.3).float()
    categories[0] = 0.0  # an example with no genres at all must not produce NaN
    for tau in (0.01, 0.1, 1.0):
        scores = torch.randn(16, 12, generator=generator)
        loss = diversity_loss(scores, categories, tau=tau)
        assert -1.05 <= loss.item() <= 0.0
        per_example = -soft_alpha_dcg(scores, categories, tau=tau)
        assert torch.isfinite(per_example).all()


def test_normalised_diversity_loss_of_the_ideal_order_is_minus_one() -> None:
    # Scores in the greedy-ideal order c1, c2, c0, c3 with small tau: surrogate = ideal -> loss = -1.
    scores = torch.tensor([[2.0, 4.0, 3.0, 1.0]], dtype=torch.float64)
    loss = diversity_loss(scores, FOUR_ITEMS.unsqueeze(0), tau=0.01)
    assert loss.item() == pytest.approx(-1.0, rel=1e-3)


def test_stacked_scores_give_per_adapter_losses():
    """A stack of adapters scores the same candidates: each slice equals the unstacked loss."""
    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(3, 5, 10, generator=generator)
    categories = (torch.rand(5, 10, 19, generator=generator) < 0.2).float()
    categories[:, :, 0] = 1.0
    stacked = diversity_loss(scores, categories, reduction="none")
    assert stacked.shape == (3, 5)
    for r in range(3):
        assert torch.allclose(stacked[r], diversity_loss(scores[r], categories, reduction="none"))
        assert torch.allclose(stacked[r].mean(), diversity_loss(scores[r], categories))
    positives, negatives = scores[..., 0], scores[..., 1:]
    per_example = bpr_softmax_loss(positives, negatives, reduction="none")
    assert per_example.shape == (3, 5)
    assert torch.allclose(per_example[1].mean(), bpr_softmax_loss(positives[1], negatives[1]))
    with pytest.raises(ValueError, match="reduction"):
        bpr_softmax_loss(positives, negatives, reduction="sum")
