"""The grid-lookup baselines (padirec.methods.lookup) on hand-made numbers (arithmetic in the comments): Nearest,
Interpolate, Soup, Nearest + noise and the spread of generated samples. The Hypernetwork: test_hypernetwork.py;
MMR: test_mmr.py."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from padirec.methods import lookup
from padirec.objectives import requirements


def on_simplex(*w_acc: float) -> np.ndarray:
    """Requirement vectors (w_acc, 1 - w_acc) [N, 2]."""
    return np.array([[w, 1 - w] for w in w_acc])


# ----------------------------------------------------------------------------- grid lookups


def test_nearest_adapter_ties_go_to_lower_w_acc() -> None:
    grid = on_simplex(1.0, 0.0, 0.5)  # deliberately unsorted
    adapters = np.array([[10.0], [0.0], [5.0]])
    # 0.25: 0.25 from both 0 and 0.5 -> 0 ([0]); 0.75: tie 0.5 / 1 -> 0.5 ([5]);
    # 0.9 -> 1 ([10]); 0.2 -> 0 ([0]); 0.5 on the grid -> its own ([5]).
    result = lookup.nearest_adapters(grid, adapters, on_simplex(0.25, 0.75, 0.9, 0.2, 0.5))
    assert result.tolist() == [[0.0], [5.0], [10.0], [0.0], [5.0]]


def test_nearest_adapter_tie_survives_float_rounding() -> None:
    # |0.15 - 0.1| = 0.04999999999999999 and |0.15 - 0.2| = 0.05000000000000002 in floats:
    # a tie in exact arithmetic, so the lower grid point 0.1 ([1]) wins.
    grid, adapters = on_simplex(0.0, 0.1, 0.2), np.array([[0.0], [1.0], [2.0]])
    assert lookup.nearest_adapters(grid, adapters, on_simplex(0.15)).tolist() == [[1.0]]


def test_interpolation_between_neighbouring_grid_adapters() -> None:
    grid = on_simplex(1.0, 0.0, 0.5)  # deliberately unsorted
    adapters = np.array([[10.0, 0.0], [0.0, 0.0], [4.0, 2.0]])
    result = lookup.interpolated_adapters(grid, adapters, on_simplex(0.25, 0.5, 0.75, 0.0))
    # 0.25 is halfway between w=0 ([0, 0]) and w=0.5 ([4, 2]); 0.75 halfway between [4, 2] and [10, 0].
    assert np.allclose(result, [[2.0, 1.0], [4.0, 2.0], [7.0, 1.0], [0.0, 0.0]])


def test_interpolation_off_grid_and_uneven_spacing() -> None:
    # Grid 0.2 ([0, 10]) and 0.8 ([6, 4]). 0.4 is 1/3 of the way: [2, 8].
    # Outside the range the end adapter: 0.0 -> [0, 10], 1.0 -> [6, 4].
    grid, adapters = on_simplex(0.2, 0.8), np.array([[0.0, 10.0], [6.0, 4.0]])
    result = lookup.interpolated_adapters(grid, adapters, on_simplex(0.4, 0.0, 1.0))
    assert np.allclose(result, [[2.0, 8.0], [0.0, 10.0], [6.0, 4.0]])


def test_interpolation_with_a_single_grid_adapter() -> None:
    # One grid point: every requirement gets that adapter.
    result = lookup.interpolated_adapters(on_simplex(0.5), np.array([[1.0, 2.0]]), on_simplex(0.0, 0.5, 1.0))
    assert result.tolist() == [[1.0, 2.0]] * 3


def test_grid_lookup_rejects_mismatched_adapters() -> None:
    with pytest.raises(ValueError):
        lookup.interpolated_adapters(on_simplex(0.0, 1.0), np.zeros((3, 2)), on_simplex(0.5))


def test_soup_uses_only_the_two_extremes() -> None:
    # Ends: w=0 [0, 0] and w=1 [10, 20]; the middle adapter [100, -100] must play no part.
    # 0.5 -> [5, 10]; 0.25 -> [2.5, 5]; 1 -> [10, 20].
    grid = on_simplex(0.5, 1.0, 0.0)  # unsorted
    adapters = np.array([[100.0, -100.0], [10.0, 20.0], [0.0, 0.0]])
    result = lookup.soup_adapters(grid, adapters, on_simplex(0.5, 0.25, 1.0))
    assert np.allclose(result, [[5.0, 10.0], [2.5, 5.0], [10.0, 20.0]])
    # Interpolation, by contrast, returns the middle adapter at 0.5.
    assert np.allclose(lookup.interpolated_adapters(grid, adapters, on_simplex(0.5)), [[100.0, -100.0]])


def test_soup_over_a_grid_not_reaching_zero_and_one() -> None:
    # Ends at 0.2 ([0]) and 0.6 ([4]); 0.5 is 3/4 of the way -> [3]; the middle 0.4 ([50]) is ignored.
    grid, adapters = on_simplex(0.2, 0.4, 0.6), np.array([[0.0], [50.0], [4.0]])
    assert np.allclose(lookup.soup_adapters(grid, adapters, on_simplex(0.5)), [[3.0]])


# ----------------------------------------------------------------------------- noise


def test_noisy_adapters_reproducible_and_zero_spread_is_identity() -> None:
    adapters = np.arange(6.0).reshape(2, 3)
    first = lookup.noisy_adapters(adapters, np.array([0.1, 0.2, 0.3]), seed=4)
    again = lookup.noisy_adapters(adapters, np.array([0.1, 0.2, 0.3]), seed=4)
    other = lookup.noisy_adapters(adapters, np.array([0.1, 0.2, 0.3]), seed=5)
    assert np.array_equal(first, again)
    assert not np.allclose(first, other)
    assert not np.allclose(first, adapters)
    assert np.array_equal(lookup.noisy_adapters(adapters, 0.0, seed=4), adapters)


def test_noisy_adapters_spread_per_coordinate() -> None:
    # 20000 draws: the std of a sample std is about sigma / sqrt(2 * 20000) = 0.5 % of sigma; allow 3 %.
    spread = np.array([0.5, 1.0, 2.0])
    noisy = lookup.noisy_adapters(np.full((20000, 3), 7.0), spread, seed=0)
    assert np.allclose(noisy.std(axis=0), spread, rtol=0.03)
    assert np.allclose(noisy.mean(axis=0), 7.0, atol=0.05)


def test_sample_spread_of_two_samples() -> None:
    # Two samples of 2 requirements x 2 coordinates. The std (ddof=1) of two values a, b is |a - b| / sqrt(2):
    #   requirement 0: coord 0 |0 - 2| -> sqrt(2); coord 1 |0 - 0| -> 0
    #   requirement 1: coord 0 |1 - 1| -> 0;       coord 1 |2 - 6| -> 2 sqrt(2)
    # mean over requirements: [sqrt(2) / 2, sqrt(2)]
    samples = np.array([[[0.0, 0.0], [1.0, 2.0]], [[2.0, 0.0], [1.0, 6.0]]])
    assert np.allclose(lookup.sample_spread(samples), [math.sqrt(2) / 2, math.sqrt(2)])
    assert np.allclose(lookup.sample_spread(torch.as_tensor(samples)), [math.sqrt(2) / 2, math.sqrt(2)])


def test_sample_spread_needs_two_samples() -> None:
    with pytest.raises(ValueError):
        lookup.sample_spread(np.zeros((1, 3, 4)))


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
    assert np.allclose(lookup.interpolated_adapters(LATTICE_2, linear, weights), expected)
    assert np.allclose(lookup.simplex_interpolated_adapters(LATTICE_2, linear, weights), expected)
    spike = np.zeros((6, 1))
    spike[0] = 10.0  # only the (1, 0, 0) corner
    assert lookup.interpolated_adapters(LATTICE_2, spike, weights[:1])[0, 0] == pytest.approx(2.0)


def test_soup_over_three_corners_and_nearest_on_the_simplex():
    adapters = np.arange(6, dtype=np.float64)[:, None] * np.array([[1.0, 10.0]])
    weights = np.array([[0.2, 0.3, 0.5]])
    # corners: (1,0,0) is row 0, (0,1,0) row 3, (0,0,1) row 5 -> 0.2 * a0 + 0.3 * a3 + 0.5 * a5
    assert np.allclose(lookup.soup_adapters(LATTICE_2, adapters, weights), [[3.4, 34.0]])
    # nearest in Euclidean distance: (0.2, 0.3, 0.5) is closest to (0, 0.5, 0.5), row 4
    assert np.allclose(lookup.nearest_adapters(LATTICE_2, adapters, weights), [[4.0, 40.0]])
    with pytest.raises(ValueError, match="every corner of the simplex"):
        lookup.soup_adapters(LATTICE_2[1:], adapters[1:], weights)


def test_interpolation_on_the_lattice_mixes_the_three_lattice_neighbours_around_a_requirement():
    """The step-1/4 lattice triangulated on the simplex's plane: (0.1, 0.45, 0.45) lies in the triangle of
    (0.25, 0.25, 0.5), (0, 0.5, 0.5) and (0.25, 0.5, 0.25), with barycentric weights 0.2, 0.6 and 0.2. In the first
    two weights the lattice's squares are cocircular, and Delaunay there joined (0, 0.25, 0.75) to (0.25, 0.5, 0.25),
    which are not neighbours, and mixed them in."""
    grid = requirements.lattice(3, 4)
    one_hot = np.eye(len(grid))  # each grid requirement's "adapter" is its own indicator: the result is the weights
    mixed = lookup.simplex_interpolated_adapters(grid, one_hot, np.array([[0.1, 0.45, 0.45]]))[0]
    at = {requirements.key(w): mixed[i] for i, w in enumerate(grid) if mixed[i] > 1e-9}
    assert at == pytest.approx({(0.25, 0.25, 0.5): 0.2, (0.0, 0.5, 0.5): 0.6, (0.25, 0.5, 0.25): 0.2})
