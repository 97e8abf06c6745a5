"""The adapter baselines, the Hypernetwork and MMR re-ranking on hand-made numbers (arithmetic in the comments)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from padirec.methods import baselines
from padirec.pipeline.config import HypernetworkConfig, SweepConfig
from padirec.models.backbones import Adapter, adapter_size, build_backbone


def on_simplex(*w_acc: float) -> np.ndarray:
    """Requirement vectors (w_acc, 1 - w_acc) [N, 2]."""
    return np.array([[w, 1 - w] for w in w_acc])


# ----------------------------------------------------------------------------- grid lookups


def test_nearest_adapter_ties_go_to_lower_w_acc() -> None:
    grid = on_simplex(1.0, 0.0, 0.5)  # deliberately unsorted
    adapters = np.array([[10.0], [0.0], [5.0]])
    # 0.25: 0.25 from both 0 and 0.5 -> 0 ([0]); 0.75: tie 0.5 / 1 -> 0.5 ([5]);
    # 0.9 -> 1 ([10]); 0.2 -> 0 ([0]); 0.5 on the grid -> its own ([5]).
    result = baselines.nearest_adapters(grid, adapters, on_simplex(0.25, 0.75, 0.9, 0.2, 0.5))
    assert result.tolist() == [[0.0], [5.0], [10.0], [0.0], [5.0]]


def test_nearest_adapter_tie_survives_float_rounding() -> None:
    # |0.15 - 0.1| = 0.04999999999999999 and |0.15 - 0.2| = 0.05000000000000002 in floats:
    # a tie in exact arithmetic, so the lower grid point 0.1 ([1]) wins.
    grid, adapters = on_simplex(0.0, 0.1, 0.2), np.array([[0.0], [1.0], [2.0]])
    assert baselines.nearest_adapters(grid, adapters, on_simplex(0.15)).tolist() == [[1.0]]


def test_interpolation_between_neighbouring_grid_adapters() -> None:
    grid = on_simplex(1.0, 0.0, 0.5)  # deliberately unsorted
    adapters = np.array([[10.0, 0.0], [0.0, 0.0], [4.0, 2.0]])
    result = baselines.interpolated_adapters(grid, adapters, on_simplex(0.25, 0.5, 0.75, 0.0))
    # 0.25 is halfway between w=0 ([0, 0]) and w=0.5 ([4, 2]); 0.75 halfway between [4, 2] and [10, 0].
    assert np.allclose(result, [[2.0, 1.0], [4.0, 2.0], [7.0, 1.0], [0.0, 0.0]])


def test_interpolation_off_grid_and_uneven_spacing() -> None:
    # Grid 0.2 ([0, 10]) and 0.8 ([6, 4]). 0.4 is 1/3 of the way: [2, 8].
    # Outside the range the end adapter: 0.0 -> [0, 10], 1.0 -> [6, 4].
    grid, adapters = on_simplex(0.2, 0.8), np.array([[0.0, 10.0], [6.0, 4.0]])
    result = baselines.interpolated_adapters(grid, adapters, on_simplex(0.4, 0.0, 1.0))
    assert np.allclose(result, [[2.0, 8.0], [0.0, 10.0], [6.0, 4.0]])


def test_interpolation_with_a_single_grid_adapter() -> None:
    # One grid point: every requirement gets that adapter.
    result = baselines.interpolated_adapters(on_simplex(0.5), np.array([[1.0, 2.0]]), on_simplex(0.0, 0.5, 1.0))
    assert result.tolist() == [[1.0, 2.0]] * 3


def test_grid_lookup_rejects_mismatched_adapters() -> None:
    with pytest.raises(ValueError):
        baselines.interpolated_adapters(on_simplex(0.0, 1.0), np.zeros((3, 2)), on_simplex(0.5))


def test_soup_uses_only_the_two_extremes() -> None:
    # Ends: w=0 [0, 0] and w=1 [10, 20]; the middle adapter [100, -100] must play no part.
    # 0.5 -> [5, 10]; 0.25 -> [2.5, 5]; 1 -> [10, 20].
    grid = on_simplex(0.5, 1.0, 0.0)  # unsorted
    adapters = np.array([[100.0, -100.0], [10.0, 20.0], [0.0, 0.0]])
    result = baselines.soup_adapters(grid, adapters, on_simplex(0.5, 0.25, 1.0))
    assert np.allclose(result, [[5.0, 10.0], [2.5, 5.0], [10.0, 20.0]])
    # Interpolation, by contrast, returns the middle adapter at 0.5.
    assert np.allclose(baselines.interpolated_adapters(grid, adapters, on_simplex(0.5)), [[100.0, -100.0]])


def test_soup_over_a_grid_not_reaching_zero_and_one() -> None:
    # Ends at 0.2 ([0]) and 0.6 ([4]); 0.5 is 3/4 of the way -> [3]; the middle 0.4 ([50]) is ignored.
    grid, adapters = on_simplex(0.2, 0.4, 0.6), np.array([[0.0], [50.0], [4.0]])
    assert np.allclose(baselines.soup_adapters(grid, adapters, on_simplex(0.5)), [[3.0]])


# ----------------------------------------------------------------------------- noise


def test_noisy_adapters_reproducible_and_zero_spread_is_identity() -> None:
    adapters = np.arange(6.0).reshape(2, 3)
    first = baselines.noisy_adapters(adapters, np.array([0.1, 0.2, 0.3]), seed=4)
    again = baselines.noisy_adapters(adapters, np.array([0.1, 0.2, 0.3]), seed=4)
    other = baselines.noisy_adapters(adapters, np.array([0.1, 0.2, 0.3]), seed=5)
    assert np.array_equal(first, again)
    assert not np.allclose(first, other)
    assert not np.allclose(first, adapters)
    assert np.array_equal(baselines.noisy_adapters(adapters, 0.0, seed=4), adapters)


def test_noisy_adapters_spread_per_coordinate() -> None:
    # 20000 draws: the std of a sample std is about sigma / sqrt(2 * 20000) = 0.5 % of sigma; allow 3 %.
    spread = np.array([0.5, 1.0, 2.0])
    noisy = baselines.noisy_adapters(np.full((20000, 3), 7.0), spread, seed=0)
    assert np.allclose(noisy.std(axis=0), spread, rtol=0.03)
    assert np.allclose(noisy.mean(axis=0), 7.0, atol=0.05)


def test_sample_spread_of_two_samples() -> None:
    # Two samples of 2 requirements x 2 coordinates. The std (ddof=1) of two values a, b is |a - b| / sqrt(2):
    #   requirement 0: coord 0 |0 - 2| -> sqrt(2); coord 1 |0 - 0| -> 0
    #   requirement 1: coord 0 |1 - 1| -> 0;       coord 1 |2 - 6| -> 2 sqrt(2)
    # mean over requirements: [sqrt(2) / 2, sqrt(2)]
    samples = np.array([[[0.0, 0.0], [1.0, 2.0]], [[2.0, 0.0], [1.0, 6.0]]])
    assert np.allclose(baselines.sample_spread(samples), [math.sqrt(2) / 2, math.sqrt(2)])
    assert np.allclose(baselines.sample_spread(torch.as_tensor(samples)), [math.sqrt(2) / 2, math.sqrt(2)])


def test_sample_spread_needs_two_samples() -> None:
    with pytest.raises(ValueError):
        baselines.sample_spread(np.zeros((1, 3, 4)))


# ----------------------------------------------------------------------------- hypernetwork


def test_sample_requirements_lie_on_the_simplex_and_are_seeded() -> None:
    draw = baselines.sample_requirements(500, 3, torch.Generator().manual_seed(1))
    assert draw.shape == (500, 3)
    assert bool((draw >= 0).all())
    torch.testing.assert_close(draw.sum(dim=1), torch.ones(500))
    again = baselines.sample_requirements(500, 3, torch.Generator().manual_seed(1))
    other = baselines.sample_requirements(500, 3, torch.Generator().manual_seed(2))
    assert torch.equal(draw, again)
    assert not torch.equal(draw, other)
    # Dirichlet(1, 1, 1): each coordinate has mean 1/3 (std of the mean ~ 0.24 / sqrt(500) = 0.01).
    torch.testing.assert_close(draw.mean(dim=0), torch.full((3,), 1 / 3), atol=0.04, rtol=0)


def test_hypernetwork_starts_at_the_initial_adapter() -> None:
    initial = torch.arange(10, dtype=torch.float32) / 10
    network = baselines.Hypernetwork(objectives=2, initial_adapter=initial, hidden=8)
    weights = torch.tensor([[0.0, 1.0], [0.3, 0.7], [1.0, 0.0], [5.0, -2.0]])
    out = network(weights)
    assert out.shape == (4, 10)
    torch.testing.assert_close(out, initial.expand(4, -1))


def tiny_tuning_problem(seed: int = 0):
    """A GRU4Rec over 20 items with hidden 16, and 64 random cached states, targets and 3-genre items."""
    torch.manual_seed(seed)
    model = build_backbone("gru4rec", n_items=20, hidden=16, layers=1, dropout=0.0)
    generator = torch.Generator().manual_seed(seed)
    states = torch.randn(64, 16, generator=generator)
    targets = torch.randint(1, 21, (64,), generator=generator)
    categories = (torch.rand(21, 3, generator=generator) < 0.5).float()  # row 0 = padding
    return model, states, targets, categories


def test_train_hypernetwork_moves_away_from_init_and_is_seeded() -> None:
    model, states, targets, categories = tiny_tuning_problem()
    sweep = SweepConfig(epochs=1, keep_checkpoints=1, batch_size=16, lr=0.01, train_negatives=4)
    config = HypernetworkConfig(hidden=8, requirements_per_batch=4, lr=0.01)
    weights = on_simplex(0.0, 0.5, 1.0)
    first = baselines.train_hypernetwork(model, states, targets, categories, sweep, config, seed=3)
    again = baselines.train_hypernetwork(model, states, targets, categories, sweep, config, seed=3)
    other = baselines.train_hypernetwork(model, states, targets, categories, sweep, config, seed=4)
    out = first.adapters(weights)
    assert out.shape == (3, adapter_size(16))
    torch.testing.assert_close(out, again.adapters(weights), rtol=0, atol=0)
    assert not torch.equal(out, other.adapters(weights))
    # The initial adapter: Adapter(16) right after torch.manual_seed(3), as train_hypernetwork draws it.
    torch.manual_seed(3)
    initial = torch.nn.utils.parameters_to_vector(Adapter(16).parameters()).detach()
    assert (out - initial).abs().max() > 1e-4  # 4 Adam steps at lr 0.01 move it
    assert first.seconds >= 0.0


# ----------------------------------------------------------------------------- MMR


def test_jaccard_similarity_by_hand() -> None:
    # c0 = {g0, g1}, c1 = {g0}, c2 = {g2}, c3 = {} (no genre).
    # (0, 1): 1 shared / 2 in union = 0.5; (0, 2), (1, 2): 0; self: 1; the empty set: 0 with all, itself too.
    categories = torch.tensor([[1, 1, 0], [1, 0, 0], [0, 0, 1], [0, 0, 0]])
    expected = torch.tensor([[1.0, 0.5, 0.0, 0.0], [0.5, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    torch.testing.assert_close(baselines.jaccard_similarity(categories), expected)
    # Batched [2, C, M] -> [2, C, C].
    torch.testing.assert_close(baselines.jaccard_similarity(categories.expand(2, -1, -1)), expected.expand(2, -1, -1))


def ranking(scores: torch.Tensor) -> list[list[int]]:
    """Columns by descending score (stable, so ties keep column order)."""
    return torch.sort(-scores, dim=1, stable=True).indices.tolist()


def test_mmr_with_trade_off_one_keeps_backbone_order() -> None:
    generator = torch.Generator().manual_seed(0)
    scores = torch.stack([torch.randperm(30, generator=generator).float() for _ in range(3)])  # distinct
    categories = (torch.rand(30, 4, generator=generator) < 0.4).float()
    reranked = baselines.mmr_scores(scores, categories, None, trade_off=1.0, length=5, pool=10)
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
    reranked = baselines.mmr_scores(MMR_SCORES, MMR_CATEGORIES, None, trade_off=0.5, length=2, pool=4)
    # ceiling = max score + 1 = 2; pick at position p gets 2 + (length - p): c0 -> 4, c2 -> 3; the rest keep theirs.
    torch.testing.assert_close(reranked, torch.tensor([[4.0, 0.9, 3.0, 0.0]]))
    full = baselines.mmr_scores(MMR_SCORES, MMR_CATEGORIES, None, trade_off=0.5, length=4, pool=4)
    assert ranking(full) == [[0, 2, 1, 3]]
    # Pure relevance keeps c1 second.
    assert ranking(baselines.mmr_scores(MMR_SCORES, MMR_CATEGORIES, None, 1.0, length=4, pool=4)) == [[0, 1, 2, 3]]


def test_mmr_maps_columns_to_items_through_candidates() -> None:
    # The same case with columns 0..3 holding items 5, 2, 4, 1 of a 6-item table: same MMR order.
    items = torch.tensor([[5, 2, 4, 1]])
    table = torch.zeros(6, 2)
    table[items[0]] = MMR_CATEGORIES
    reranked = baselines.mmr_scores(MMR_SCORES, table, items, trade_off=0.5, length=4, pool=4)
    assert ranking(reranked) == [[0, 2, 1, 3]]


def test_mmr_never_takes_masked_columns() -> None:
    # The hand case with a masked fifth column c4 {g1} scoring 0.7: unmasked, it would be picked second
    # (relevance 0.7 -> value .35 > c2's .3). Masked, the picks are c0, c2 as before and c4 gets no boost.
    scores = torch.tensor([[1.0, 0.9, 0.6, 0.0, 0.7]])
    categories = torch.cat([MMR_CATEGORIES, torch.tensor([[0.0, 1.0]])])
    mask = torch.tensor([[False, False, False, False, True]])
    unmasked = baselines.mmr_scores(scores, categories, None, trade_off=0.5, length=2, pool=5)
    assert ranking(unmasked)[0][:2] == [0, 4]
    reranked = baselines.mmr_scores(scores, categories, None, trade_off=0.5, length=2, pool=5, mask=mask)
    assert ranking(reranked)[0][:2] == [0, 2]
    assert reranked[0, 4].item() == float("-inf")  # masked: below everything
    # length above the unmasked pool: only the 4 unmasked columns are boosted (above ceiling 2).
    longer = baselines.mmr_scores(scores, categories, None, trade_off=0.5, length=5, pool=5, mask=mask)
    assert (longer[0] > 2.0).tolist() == [True, True, True, True, False]


def test_mmr_masked_column_with_top_score_stays_below_the_mmr_list() -> None:
    # Masked c0 scores 10 but must stay below the picks (ceiling 3 + 1 = 4, picks 4 + 3, 4 + 2, 4 + 1).
    scores = torch.tensor([[10.0, 1.0, 2.0, 3.0]])
    mask = torch.tensor([[True, False, False, False]])
    reranked = baselines.mmr_scores(scores, torch.eye(4), None, trade_off=0.5, length=3, pool=4, mask=mask)
    assert 0 not in ranking(reranked)[0][:3]


@pytest.mark.parametrize("trade_off", [-0.1, 1.5])
def test_mmr_rejects_trade_off_outside_unit_interval(trade_off: float) -> None:
    with pytest.raises(ValueError):
        baselines.mmr_scores(MMR_SCORES, MMR_CATEGORIES, None, trade_off=trade_off)


# ----------------------------------------------------------------------------- three objectives

LATTICE_2 = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 1.0, 0.0], [0.0, 0.5, 0.5],
                      [0.0, 0.0, 1.0]])


def test_simplex_interpolation_is_barycentric_within_the_delaunay_triangle():
    # Adapters that are a linear function of the weights are reproduced exactly; a nonlinear one is mixed
    # from its triangle's three corners only: (0.6, 0.2, 0.2) lies in the triangle (1,0,0), (.5,.5,0), (.5,0,.5)
    # with barycentric coordinates (0.2, 0.4, 0.4).
    linear = LATTICE_2 @ np.array([[1.0, 2.0], [3.0, 5.0], [7.0, 11.0]])
    weights = np.array([[0.6, 0.2, 0.2], [0.05, 0.05, 0.9], [1 / 3, 1 / 3, 1 / 3], [0.0, 1.0, 0.0]])
    expected = weights @ np.array([[1.0, 2.0], [3.0, 5.0], [7.0, 11.0]])
    assert np.allclose(baselines.interpolated_adapters(LATTICE_2, linear, weights), expected)
    spike = np.zeros((6, 1))
    spike[0] = 10.0  # only the (1, 0, 0) corner
    assert baselines.interpolated_adapters(LATTICE_2, spike, weights[:1])[0, 0] == pytest.approx(2.0)


def test_soup_over_three_corners_and_nearest_on_the_simplex():
    adapters = np.arange(6, dtype=np.float64)[:, None] * np.array([[1.0, 10.0]])
    weights = np.array([[0.2, 0.3, 0.5]])
    # corners: (1,0,0) is row 0, (0,1,0) row 3, (0,0,1) row 5 -> 0.2 * a0 + 0.3 * a3 + 0.5 * a5
    assert np.allclose(baselines.soup_adapters(LATTICE_2, adapters, weights), [[3.4, 34.0]])
    # nearest in Euclidean distance: (0.2, 0.3, 0.5) is closest to (0, 0.5, 0.5), row 4
    assert np.allclose(baselines.nearest_adapters(LATTICE_2, adapters, weights), [[4.0, 40.0]])
    with pytest.raises(ValueError, match="every corner of the simplex"):
        baselines.soup_adapters(LATTICE_2[1:], adapters[1:], weights)
