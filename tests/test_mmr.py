"""MMR re-ranking (padirec.methods.mmr), the baseline without an adapter, on hand-made numbers (arithmetic in the
comments), and the genre (Jaccard) similarity it reads."""
from __future__ import annotations

import pytest
import torch

from padirec.evaluation.metrics import jaccard_similarity
from padirec.methods import mmr


def test_jaccard_similarity_by_hand() -> None:
    # c0 = {g0, g1}, c1 = {g0}, c2 = {g2}, c3 = {} (no genre).
    # (0, 1): 1 shared / 2 in union = 0.5; (0, 2), (1, 2): 0; self: 1; the empty set: 0 with all, itself too.
    categories = torch.tensor([[1, 1, 0], [1, 0, 0], [0, 0, 1], [0, 0, 0]])
    expected = torch.tensor([[1.0, 0.5, 0.0, 0.0], [0.5, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(jaccard_similarity(categories), expected)
    # Batched [2, C, M] -> [2, C, C].
    torch.testing.assert_close(jaccard_similarity(categories.expand(2, -1, -1)), expected.expand(2, -1, -1))


def ranking(scores: torch.Tensor) -> list[list[int]]:
    """Columns by descending score (stable, so ties keep column order)."""
    return torch.sort(-scores, dim=1, stable=True).indices.tolist()


def test_mmr_with_trade_off_one_keeps_backbone_order() -> None:
    generator = torch.Generator().manual_seed(0)
    scores = torch.stack([torch.randperm(30, generator=generator).float() for _ in range(3)])  # distinct
    categories = (torch.rand(30, 4, generator=generator) < 0.4).float()
    reranked = mmr.mmr_scores(scores, categories, None, trade_off=1.0, length=5, pool=10)
    assert ranking(reranked) == ranking(scores)


# One user, 4 candidates (column = item): c0 {g0} score 1.0, c1 {g0} 0.9, c2 {g1} 0.6, c3 {g0} 0.0.
# Relevance min-max scaled over the pool (max 1.0, min 0.0): [1, 0.9, 0.6, 0].
# trade_off 0.5, value = 0.5 * relevance - 0.5 * (max similarity to the items taken):
#   step 0 (nothing taken): [0.5, 0.45, 0.3, 0]                          -> c0
#   step 1 (sim to c0 = [1, 1, 0, 1]): c1 .45 - .5 = -.05, c2 .3, c3 -.5  -> c2 (less relevant, other genre)
#   step 2 (max sim now 1 for all):    c1 -.05, c3 -.5                    -> c1
MMR_SCORES = torch.tensor([[1.0, 0.9, 0.6, 0.0]])
MMR_CATEGORIES = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])


def test_mmr_hand_case_picks_a_diverse_second_item() -> None:
    reranked = mmr.mmr_scores(MMR_SCORES, MMR_CATEGORIES, None, trade_off=0.5, length=2, pool=4)
    # ceiling = max score + 1 = 2; pick at position p gets 2 + (length - p): c0 -> 4, c2 -> 3; the rest keep theirs.
    torch.testing.assert_close(reranked, torch.tensor([[4.0, 0.9, 3.0, 0.0]]))
    full = mmr.mmr_scores(MMR_SCORES, MMR_CATEGORIES, None, trade_off=0.5, length=4, pool=4)
    assert ranking(full) == [[0, 2, 1, 3]]
    # Pure relevance keeps c1 second.
    assert ranking(mmr.mmr_scores(MMR_SCORES, MMR_CATEGORIES, None, 1.0, length=4, pool=4)) == [[0, 1, 2, 3]]


def test_mmr_maps_columns_to_items_through_candidates() -> None:
    # The same case with columns 0..3 holding items 5, 2, 4, 1 of a 6-item table: same MMR order.
    items = torch.tensor([[5, 2, 4, 1]])
    table = torch.zeros(6, 2)
    table[items[0]] = MMR_CATEGORIES
    reranked = mmr.mmr_scores(MMR_SCORES, table, items, trade_off=0.5, length=4, pool=4)
    assert ranking(reranked) == [[0, 2, 1, 3]]


def test_mmr_never_takes_masked_columns() -> None:
    # The hand case with a masked fifth column c4 {g1} scoring 0.7: unmasked, it would be picked second
    # (relevance 0.7 -> value .35 > c2's .3). Masked, the picks are c0, c2 as before and c4 gets no boost.
    scores = torch.tensor([[1.0, 0.9, 0.6, 0.0, 0.7]])
    categories = torch.cat([MMR_CATEGORIES, torch.tensor([[0.0, 1.0]])])
    mask = torch.tensor([[False, False, False, False, True]])
    unmasked = mmr.mmr_scores(scores, categories, None, trade_off=0.5, length=2, pool=5)
    assert ranking(unmasked)[0][:2] == [0, 4]
    reranked = mmr.mmr_scores(scores, categories, None, trade_off=0.5, length=2, pool=5, mask=mask)
    assert ranking(reranked)[0][:2] == [0, 2]
    assert reranked[0, 4].item() == float("-inf")  # masked: below everything
    # length above the unmasked pool: only the 4 unmasked columns are boosted (above ceiling 2).
    longer = mmr.mmr_scores(scores, categories, None, trade_off=0.5, length=5, pool=5, mask=mask)
    assert (longer[0] > 2.0).tolist() == [True, True, True, True, False]


def test_mmr_masked_column_with_top_score_stays_below_the_mmr_list() -> None:
    # Masked c0 scores 10 but must stay below the picks (ceiling 3 + 1 = 4, picks 4 + 3, 4 + 2, 4 + 1).
    scores = torch.tensor([[10.0, 1.0, 2.0, 3.0]])
    mask = torch.tensor([[True, False, False, False]])
    reranked = mmr.mmr_scores(scores, torch.eye(4), None, trade_off=0.5, length=3, pool=4, mask=mask)
    assert 0 not in ranking(reranked)[0][:3]


@pytest.mark.parametrize("trade_off", [-0.1, 1.5])
def test_mmr_rejects_trade_off_outside_unit_interval(trade_off: float) -> None:
    with pytest.raises(ValueError):
        mmr.mmr_scores(MMR_SCORES, MMR_CATEGORIES, None, trade_off=trade_off)
