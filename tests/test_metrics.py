"""Hand-computed checks of the ranking metrics (arithmetic in the comments)."""

from __future__ import annotations

import math

import pytest
import torch

from padirec.evaluation.metrics import (
    alpha_dcg,
    alpha_ndcg,
    genre_coverage,
    hit_rate,
    hypervolume,
    ideal_alpha_dcg,
    intra_list_distance,
    monotonicity_violations,
    ndcg,
    rank_of_target,
    ranking_metrics,
    top_k_indices,
)

INV_LOG2_3 = 1.0 / math.log2(3)  # discount of position 1: 0.630930
INV_LOG2_5 = 1.0 / math.log2(5)  # discount of position 3: 0.430677

# Four candidates over M = 3 genres, reused by the alpha-DCG tests:
# c0 = {g0}, c1 = {g0, g1}, c2 = {g2}, c3 = {g0}
FOUR_ITEMS = torch.tensor(
    [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
)

# Greedy ideal of FOUR_ITEMS, alpha = 0.5, k = 3:
#   step 0 gains: c0 1, c1 2, c2 1, c3 1 -> c1, 2 * 1                 = 2
#   step 1 gains (g0, g1 seen once): c0 .5, c2 1, c3 .5 -> c2, 1 * 0.630930
#   step 2 gains: c0 .5, c3 .5 -> tie, c0 (lower column), .5 * 1/log2(4) = .25
IDEAL_FOUR_AT_3 = 2.0 + INV_LOG2_3 + 0.25  # 2.880930


def batch_of(table: torch.Tensor, batch: int = 1) -> torch.Tensor:
    """One [C, M] category table viewed as [batch, C, M] (an expanded view, as in evaluation)."""
    return table.unsqueeze(0).expand(batch, -1, -1)


# ----------------------------------------------------------------------------- ranks


def test_rank_counts_candidates_scoring_above_target() -> None:
    # user 0: target 0.5 (col 2); only 0.9 is higher -> rank 1
    # user 1: target 0.9 (col 1) is the best -> rank 0
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.3], [0.2, 0.9, 0.4, 0.8]])
    ranks = rank_of_target(scores, torch.tensor([2, 1]))
    assert ranks.tolist() == [1, 0]
    assert ranks.dtype == torch.long


def test_rank_is_pessimistic_about_ties() -> None:
    # Target col 1 scores 0.5; cols 0 and 3 tie with it -> both count -> rank 2.
    scores = torch.tensor([[0.5, 0.5, 0.2, 0.5]])
    assert rank_of_target(scores, torch.tensor([1])).tolist() == [2]
    # A constant scorer puts the target last: C - 1 = 3 others tie.
    assert rank_of_target(torch.zeros(1, 4), torch.tensor([0])).tolist() == [3]


def test_rank_ignores_masked_candidates() -> None:
    # Target col 3 (0.5); higher: col 0 (0.9, masked) and col 1 (0.8) -> rank 1.
    scores = torch.tensor([[0.9, 0.8, 0.1, 0.5]])
    mask = torch.tensor([[True, False, False, False]])
    assert rank_of_target(scores, torch.tensor([3]), mask).tolist() == [1]
    assert rank_of_target(scores, torch.tensor([3])).tolist() == [2]


def test_hit_rate_and_ndcg_at_5() -> None:
    ranks = torch.tensor([0, 1, 4, 5])
    # HR@5: rank < 5 -> 1, 1, 1, 0
    assert hit_rate(ranks, 5).tolist() == [1.0, 1.0, 1.0, 0.0]
    # NDCG@5: 1/log2(2) = 1, 1/log2(3) = 0.630930, 1/log2(6) = 0.386853, rank 5 -> 0
    expected = torch.tensor([1.0, INV_LOG2_3, 1.0 / math.log2(6), 0.0])
    torch.testing.assert_close(ndcg(ranks, 5), expected)


# ----------------------------------------------------------------------------- top-k


def test_top_k_orders_by_score_and_breaks_ties_by_lower_column() -> None:
    # 0.9 at cols 1 and 2 tie -> 1 before 2; next is 0.5 at col 3.
    scores = torch.tensor([[0.2, 0.9, 0.9, 0.5, 0.1]])
    assert top_k_indices(scores, 3).tolist() == [[1, 2, 3]]
    # All equal: first columns win, in order.
    assert top_k_indices(torch.full((1, 4), 0.5), 2).tolist() == [[0, 1]]


def test_top_k_tie_order_holds_for_many_ties() -> None:
    # 100 tied zeros (long enough for an unstable sort to scramble them); user 1 has one 1.0 at col 50.
    scores = torch.zeros(2, 100)
    scores[1, 50] = 1.0
    top = top_k_indices(scores, 100)
    assert top[0].tolist() == list(range(100))
    assert top[1, :4].tolist() == [50, 0, 1, 2]


def test_top_k_skips_masked_columns() -> None:
    # Masking col 1 (0.9): order is col 2 (0.9), col 3 (0.5), col 0 (0.2).
    scores = torch.tensor([[0.2, 0.9, 0.9, 0.5, 0.1]])
    mask = torch.tensor([[False, True, False, False, False]])
    assert top_k_indices(scores, 3, mask).tolist() == [[2, 3, 0]]


def test_top_k_puts_masked_last_and_clamps_k_to_c() -> None:
    # Only cols 0 and 2 unmasked; the masked col 1 (highest score) fills position 2; k=10 -> C=3.
    scores = torch.tensor([[0.1, 0.9, 0.5]])
    mask = torch.tensor([[False, True, False]])
    assert top_k_indices(scores, 10, mask).tolist() == [[2, 0, 1]]


# ----------------------------------------------------------------------------- alpha-DCG


def test_alpha_dcg_of_a_hand_made_list() -> None:
    # alpha = 0.5, genres (g0, g1):
    #   pos 0 {g0}:     gain 1                    * 1          = 1
    #   pos 1 {g0, g1}: gain .5 (g0 seen) + 1     * 0.630930   = 0.946395
    #   pos 2 {g0}:     gain .25 (g0 seen twice)  * 1/log2(4)  = 0.125
    #   pos 3 {}:       gain 0
    lists = torch.tensor([[[1.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 0.0]]])
    expected = 1.0 + 1.5 * INV_LOG2_3 + 0.125  # 2.071395
    torch.testing.assert_close(alpha_dcg(lists), torch.tensor([expected]))


def test_alpha_dcg_alpha_controls_redundancy_penalty() -> None:
    # Two {g0} items: alpha = 0 -> 1 + 1 * 0.630930; alpha = 1 -> second item gains 0 -> 1.
    lists = torch.tensor([[[1.0], [1.0]]])
    torch.testing.assert_close(alpha_dcg(lists, alpha=0.0), torch.tensor([1.0 + INV_LOG2_3]))
    torch.testing.assert_close(alpha_dcg(lists, alpha=1.0), torch.tensor([1.0]))


def test_ideal_alpha_dcg_greedy_on_four_items() -> None:
    ideal = ideal_alpha_dcg(batch_of(FOUR_ITEMS), k=3)
    torch.testing.assert_close(ideal, torch.tensor([IDEAL_FOUR_AT_3]))


def test_ideal_alpha_dcg_breaks_greedy_ties_by_lowest_column() -> None:
    # c0 = {g0, g1}, c1 = {g2, g3}, c2 = {g0, g2}; all gain 2 at step 0.
    # Lowest column first: c0 (2); then c1 gains 2, c2 gains .5 + 1 -> c1 (2 * 0.630930);
    #   then c2 gains .5 + .5 = 1 (* .5) -> 2 + 1.261860 + .5 = 3.761860.
    # (Highest column first would give c2, c1, c0 = 2 + 1.5 * 0.630930 + 1.5 * .5 = 3.696395.)
    table = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0], [1.0, 0.0, 1.0, 0.0]])
    ideal = ideal_alpha_dcg(batch_of(table), k=3)
    torch.testing.assert_close(ideal, torch.tensor([2.0 + 2.0 * INV_LOG2_3 + 0.5]))


def test_ideal_alpha_dcg_runs_at_most_c_steps() -> None:
    # k = 10 > C = 4: the greedy list of IDEAL_FOUR_AT_3 plus c3 at position 3,
    # with g0 seen twice (c1, c0): gain .25 * 1/log2(5) = 0.107669.
    ideal = ideal_alpha_dcg(batch_of(FOUR_ITEMS), k=10)
    torch.testing.assert_close(ideal, torch.tensor([IDEAL_FOUR_AT_3 + 0.25 * INV_LOG2_5]))


def test_ideal_alpha_dcg_excludes_masked_candidates() -> None:
    # Mask c1. Step 0: c0, c2, c3 all gain 1 -> c0 (lowest col) -> 1.
    # Step 1: c2 gains 1, c3 .5 -> c2 -> 0.630930. Step 2: c3 gains .5 -> .5 * .5 = .25.
    mask = torch.tensor([[False, True, False, False]])
    ideal = ideal_alpha_dcg(batch_of(FOUR_ITEMS), k=3, mask=mask)
    torch.testing.assert_close(ideal, torch.tensor([1.0 + INV_LOG2_3 + 0.25]))


def test_ideal_alpha_dcg_expanded_and_materialised_batches_agree() -> None:
    # The expanded view takes a shared-table shortcut; a real per-user batch must give the same.
    generator = torch.Generator().manual_seed(0)
    table = (torch.rand(7, 4, generator=generator) < 0.4).float()
    mask = torch.rand(3, 7, generator=generator) < 0.3
    expanded = ideal_alpha_dcg(batch_of(table, 3), k=5, mask=mask)
    materialised = ideal_alpha_dcg(batch_of(table, 3).clone(), k=5, mask=mask)
    torch.testing.assert_close(expanded, materialised)


def test_ideal_alpha_dcg_accepts_bool_categories() -> None:
    ideal = ideal_alpha_dcg(batch_of(FOUR_ITEMS.bool()), k=3)
    torch.testing.assert_close(ideal, torch.tensor([IDEAL_FOUR_AT_3]))


def test_alpha_ndcg_is_one_for_the_ideal_order_and_lower_otherwise() -> None:
    categories = batch_of(FOUR_ITEMS, 2)
    # User 0 ranks the greedy order c1, c2, c0; user 1 ranks c0, c3, c1 first.
    scores = torch.tensor([[2.0, 4.0, 3.0, 1.0], [4.0, 2.0, 1.0, 3.0]])
    # User 1: c0 gain 1 -> 1; c3 gain .5 -> 0.315465; c1: g0 seen twice .25 + g1 1 = 1.25 * .5 = .625
    #   -> 1.940465 / 2.880930 = 0.673556
    worse = (1.0 + 0.5 * INV_LOG2_3 + 0.625) / IDEAL_FOUR_AT_3
    torch.testing.assert_close(alpha_ndcg(scores, categories, k=3), torch.tensor([1.0, worse]))


def test_alpha_ndcg_differs_from_genre_coverage() -> None:
    # a = {g0}, b = {g0}, c = {g1}, d = {g1}. Both users' top-3 cover both genres (coverage 1),
    # but interleaving genres early scores higher:
    #   user 0 top-3 a, c, b: 1 + 1 * 0.630930 + .5 * .5 = 1.880930 (= greedy ideal -> 1)
    #   user 1 top-3 a, b, c: 1 + .5 * 0.630930 + 1 * .5 = 1.815465 -> / 1.880930 = 0.965194
    table = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    categories = batch_of(table, 2)
    scores = torch.tensor([[4.0, 2.0, 3.0, 1.0], [4.0, 3.0, 2.0, 1.0]])
    ideal = 1.0 + INV_LOG2_3 + 0.25
    expected = torch.tensor([1.0, (1.0 + 0.5 * INV_LOG2_3 + 0.5) / ideal])
    torch.testing.assert_close(alpha_ndcg(scores, categories, k=3), expected)
    torch.testing.assert_close(genre_coverage(scores, categories, k=3), torch.tensor([1.0, 1.0]))


def test_alpha_ndcg_is_zero_when_no_candidate_has_a_genre() -> None:
    categories = torch.zeros(1, 3, 2)
    assert alpha_ndcg(torch.tensor([[0.3, 0.2, 0.1]]), categories, k=2).tolist() == [0.0]


def test_alpha_ndcg_with_mask_ranks_only_unmasked() -> None:
    # Mask c1 (score 4, the most diverse). Top-3 by score: c2 (3), c0 (2), c3 (1):
    #   1 + 1 * 0.630930 + .5 * .5 = 1.880930, equal to the masked ideal -> 1.
    mask = torch.tensor([[False, True, False, False]])
    scores = torch.tensor([[2.0, 4.0, 3.0, 1.0]])
    torch.testing.assert_close(alpha_ndcg(scores, batch_of(FOUR_ITEMS), 3, mask=mask), torch.tensor([1.0]))


def test_masked_fillers_add_no_genres() -> None:
    # Only c2 = {g2} unmasked; k = 3 lists c2 then masked c0, c1, which must not count.
    mask = torch.tensor([[True, True, False, True]])
    scores = torch.tensor([[2.0, 4.0, 3.0, 1.0]])
    # alpha-DCG: list c2 only -> 1; ideal over {c2} -> 1 -> 1 (not 1 + extra gains).
    torch.testing.assert_close(alpha_ndcg(scores, batch_of(FOUR_ITEMS), 3, mask=mask), torch.tensor([1.0]))
    # Coverage: only g2 -> 1/3.
    coverage = genre_coverage(scores, batch_of(FOUR_ITEMS), 3, mask=mask)
    torch.testing.assert_close(coverage, torch.tensor([1 / 3]))


# ----------------------------------------------------------------------------- coverage and ILD


def test_genre_coverage_counts_distinct_genres_in_top_k() -> None:
    # M = 4. Top-2 by score: {g0, g1} and {g1} -> 2 distinct / 4 = 0.5.
    # With col 1 masked: {g0, g1} and {g3} -> 3 / 4 = 0.75.
    table = torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    scores = torch.tensor([[0.9, 0.8, 0.1]])
    torch.testing.assert_close(genre_coverage(scores, batch_of(table), 2), torch.tensor([0.5]))
    mask = torch.tensor([[False, True, False]])
    torch.testing.assert_close(genre_coverage(scores, batch_of(table), 2, mask), torch.tensor([0.75]))


def test_intra_list_distance_mean_pairwise_jaccard_distance() -> None:
    # Top-3 = {g0, g1}, {g0}, {g2}:
    #   pair (0, 1): Jaccard 1/2 -> distance .5; (0, 2) and (1, 2): Jaccard 0 -> 1
    #   mean = (.5 + 1 + 1) / 3 = 0.833333. The 4th item (lowest score) is outside the top 3.
    table = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.1]])
    torch.testing.assert_close(intra_list_distance(scores, batch_of(table), 3), torch.tensor([2.5 / 3]))


def test_intra_list_distance_empty_sets() -> None:
    # Two empty sets: Jaccard taken as 1 -> distance 0. Empty vs {g0}: Jaccard 0/1 = 0 -> distance 1.
    scores = torch.tensor([[0.9, 0.8]])
    both_empty = torch.zeros(1, 2, 2)
    one_empty = torch.tensor([[[0.0, 0.0], [1.0, 0.0]]])
    assert intra_list_distance(scores, both_empty, 2).tolist() == [0.0]
    assert intra_list_distance(scores, one_empty, 2).tolist() == [1.0]


# ----------------------------------------------------------------------------- ranking_metrics


def two_user_example() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Shared genres c0 = {g0}, c1 = {g0}, c2 = {g1}; user 0 target c1, user 1 target c0."""
    table = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    scores = torch.tensor([[0.9, 0.5, 0.1], [0.1, 0.2, 0.8]])
    return scores, torch.tensor([1, 0]), batch_of(table, 2)


def test_ranking_metrics_keys_and_means_on_two_users() -> None:
    scores, targets, categories = two_user_example()
    metrics = ranking_metrics(scores, targets, categories, ks=(1, 2))
    assert set(metrics) == {
        "hr@1", "hr@2", "ndcg@1", "ndcg@2", "alpha_ndcg@1", "alpha_ndcg@2", "coverage@10", "ild@10",
    }
    assert all(isinstance(value, float) for value in metrics.values())
    # Ranks: user 0 target 0.5 below 0.9 -> 1; user 1 target 0.1 below 0.2, 0.8 -> 2.
    # hr@1 = mean(0, 0) = 0; hr@2 = mean(1, 0) = .5; ndcg@1 = 0; ndcg@2 = mean(0.630930, 0).
    # alpha_ndcg@1: ideal 1, both top-1 gain 1 -> 1.
    # alpha_ndcg@2: ideal c0 then c2 = 1 + 0.630930 = 1.630930;
    #   user 0 top-2 c0, c1: 1 + .5 * 0.630930 = 1.315465 -> 0.806574; user 1 top-2 c2, c1 -> 1.
    # coverage@10 and ild@10 use k = C = 3: both users list all items -> coverage 2/2 = 1;
    #   pairs (c0, c1) distance 0, (c0, c2) 1, (c1, c2) 1 -> ild 2/3.
    expected = {
        "hr@1": 0.0,
        "hr@2": 0.5,
        "ndcg@1": 0.0,
        "ndcg@2": INV_LOG2_3 / 2,
        "alpha_ndcg@1": 1.0,
        "alpha_ndcg@2": ((1.0 + 0.5 * INV_LOG2_3) / (1.0 + INV_LOG2_3) + 1.0) / 2,
        "coverage@10": 1.0,
        "ild@10": 2.0 / 3,
    }
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value, abs=1e-6), name


def test_ranking_metrics_per_user_tensors() -> None:
    scores, targets, categories = two_user_example()
    per_user = ranking_metrics(scores, targets, categories, ks=(2,), per_user=True)
    # Same example as above: hr@2 per user is (1, 0); ndcg@2 is (0.630930, 0).
    assert per_user["hr@2"].tolist() == [1.0, 0.0]
    torch.testing.assert_close(per_user["ndcg@2"], torch.tensor([INV_LOG2_3, 0.0]))
    assert per_user["ild@10"].shape == (2,)


def test_ranking_metrics_mask_changes_ranks() -> None:
    scores, targets, categories = two_user_example()
    # Masking user 1's col 1 (0.2 > target 0.1) lowers its rank from 2 to 1 -> hr@2 becomes 1 for both.
    mask = torch.tensor([[False, False, False], [False, True, False]])
    metrics = ranking_metrics(scores, targets, categories, ks=(2,), mask=mask)
    assert metrics["hr@2"] == pytest.approx(1.0)


def test_ranking_metrics_agrees_with_standalone_functions() -> None:
    # ranking_metrics shares one sort and one greedy run across cutoffs; it must equal
    # the separately tested functions, here on random data with ties and a mask.
    generator = torch.Generator().manual_seed(3)
    table = (torch.rand(30, 6, generator=generator) < 0.3).float()
    categories = batch_of(table, 5)
    scores = torch.randint(0, 8, (5, 30), generator=generator).float()  # many ties
    targets = torch.randint(0, 30, (5,), generator=generator)
    mask = torch.rand(5, 30, generator=generator) < 0.2
    mask[torch.arange(5), targets] = False
    metrics = ranking_metrics(scores, targets, categories, ks=(3, 12), mask=mask, per_user=True)
    for k in (3, 12):
        torch.testing.assert_close(metrics[f"alpha_ndcg@{k}"], alpha_ndcg(scores, categories, k, mask=mask))
    torch.testing.assert_close(metrics["coverage@10"], genre_coverage(scores, categories, 10, mask))
    torch.testing.assert_close(metrics["ild@10"], intra_list_distance(scores, categories, 10, mask))


def reference_top_k(scores: torch.Tensor, k: int, mask: torch.Tensor | None = None) -> torch.Tensor:
    """The slow definition: stable sort by -score, then a stable sort putting masked columns last."""
    order = torch.sort(-scores, dim=1, stable=True).indices
    if mask is not None:
        masked_in_order = mask.gather(1, order).to(torch.uint8)
        order = order.gather(1, torch.sort(masked_in_order, dim=1, stable=True).indices)
    return order[:, :k]


def test_top_k_fast_path_matches_stable_sort_on_ties() -> None:
    # Integer scores in 0..4 over 40 columns: ~8 ties per value, so the k-th score is nearly always tied.
    generator = torch.Generator().manual_seed(7)
    scores = torch.randint(0, 5, (6, 40), generator=generator).float()
    mask = torch.rand(6, 40, generator=generator) < 0.3
    for k in (1, 5, 20):
        assert torch.equal(top_k_indices(scores, k), reference_top_k(scores, k)), k
        assert torch.equal(top_k_indices(scores, k, mask), reference_top_k(scores, k, mask)), k


def test_top_k_fallback_when_k_exceeds_unmasked_columns() -> None:
    # Unmasked: col 0 (3), col 2 (2), col 4 (3) -> 0, 4 (tie: lower column first), 2.
    # Masked fillers after them in score order: col 3 (5), col 1 (1). k = 4 > 3 unmasked.
    scores = torch.tensor([[3.0, 1.0, 2.0, 5.0, 3.0]])
    mask = torch.tensor([[False, True, False, True, False]])
    assert top_k_indices(scores, 4, mask).tolist() == [[0, 4, 2, 3]]
    assert top_k_indices(scores, 5, mask).tolist() == [[0, 4, 2, 3, 1]]


# ----------------------------------------------------------------------------- hypervolume


def test_hypervolume_of_one_point() -> None:
    # Rectangle from (0.1, 0.2) to (0.5, 0.8): 0.4 * 0.6 = 0.24.
    assert hypervolume([[0.5, 0.8]], (0.1, 0.2)) == pytest.approx(0.24)


# A staircase over reference (0, 0.4). Union of the rectangles [0, x] x [0.4, y], cut into strips:
#   y in (0.4, 0.5]: widest x = 0.3 -> 0.3 * 0.1 = 0.03
#   y in (0.5, 0.6]: x = 0.2         -> 0.2 * 0.1 = 0.02
#   y in (0.6, 0.7]: x = 0.1         -> 0.1 * 0.1 = 0.01
#   total 0.06
STAIRCASE = [[0.3, 0.5], [0.2, 0.6], [0.1, 0.7]]
STAIRCASE_REFERENCE = (0.0, 0.4)


def test_hypervolume_of_a_staircase() -> None:
    assert hypervolume(STAIRCASE, STAIRCASE_REFERENCE) == pytest.approx(0.06)
    assert hypervolume(torch.tensor(STAIRCASE), STAIRCASE_REFERENCE) == pytest.approx(0.06)


def test_hypervolume_ignores_dominated_points_and_input_order() -> None:
    # (0.15, 0.55) lies under (0.2, 0.6); (0.3, 0.5) repeated adds nothing either.
    points = [[0.1, 0.7], [0.15, 0.55], [0.3, 0.5], [0.2, 0.6], [0.3, 0.5]]
    assert hypervolume(points, STAIRCASE_REFERENCE) == pytest.approx(0.06)
    for permutation in ([2, 0, 1], [1, 2, 0], [0, 2, 1]):
        assert hypervolume([STAIRCASE[i] for i in permutation], STAIRCASE_REFERENCE) == pytest.approx(0.06)


def test_hypervolume_points_not_above_reference_add_nothing() -> None:
    # x = 0 (on the reference), y = 0.4 (on it), both below: none adds area, even with large other coordinates.
    outside = [[0.0, 0.95], [0.9, 0.4], [-0.1, 0.3], [0.9, 0.1]]
    assert hypervolume(outside, STAIRCASE_REFERENCE) == 0.0
    assert hypervolume(STAIRCASE + outside, STAIRCASE_REFERENCE) == pytest.approx(0.06)


def test_hypervolume_of_no_points_is_zero() -> None:
    assert hypervolume([], (0.0, 0.0)) == 0.0
    assert hypervolume(torch.zeros(0, 2), (0.0, 0.0)) == 0.0


# ----------------------------------------------------------------------------- monotonicity


def test_monotonicity_violations_zero_for_monotone_control() -> None:
    # w_acc rising: accuracy rises, diversity falls.
    assert monotonicity_violations([0.0, 0.5, 1.0], [0.1, 0.2, 0.3], [0.7, 0.6, 0.5]) == 0


def test_monotonicity_violations_counts_each_wrong_step() -> None:
    # Accuracy 0.3 -> 0.2 between w_acc 0.5 and 1 (a drop); diversity 0.5 -> 0.6 there (a rise) -> 2.
    assert monotonicity_violations([0.0, 0.5, 1.0], [0.1, 0.3, 0.2], [0.7, 0.5, 0.6]) == 2
    # Fully reversed control: both steps wrong for both metrics -> 2 (N - 1) = 4.
    assert monotonicity_violations([0.0, 0.5, 1.0], [0.3, 0.2, 0.1], [0.5, 0.6, 0.7]) == 4


def test_monotonicity_violations_sorts_by_w_acc_first() -> None:
    # The monotone case given in the order w_acc = 1, 0, 0.5. Read unsorted it would show
    # accuracy .3 -> .1 (drop) and diversity .5 -> .7 (rise) = 2; sorted it is 0.
    assert monotonicity_violations([1.0, 0.0, 0.5], [0.3, 0.1, 0.2], [0.5, 0.7, 0.6]) == 0
    assert monotonicity_violations(torch.tensor([1.0, 0.0, 0.5]), torch.tensor([0.3, 0.1, 0.2]),
                                   torch.tensor([0.5, 0.7, 0.6])) == 0
