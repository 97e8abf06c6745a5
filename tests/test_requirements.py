"""Requirements (padirec.objectives.requirements): their keys, which are unseen, the regions of the simplex, the
simplex lattice and uniform draws, on hand-made grids."""
from __future__ import annotations

import numpy as np
import torch

from padirec.objectives import requirements


def on_simplex(*w_acc: float) -> np.ndarray:
    """Requirement vectors (w_acc, 1 - w_acc) [N, 2]."""
    return np.array([[w, 1 - w] for w in w_acc])


# ----------------------------------------------------------------------------- keys


def test_a_key_is_the_rounded_weight_tuple_for_any_number_of_objectives() -> None:
    assert requirements.key([0.25, 0.75]) == (0.25, 0.75)
    assert requirements.key(np.array([1 / 3, 1 / 3, 1 / 3])) == (0.333333, 0.333333, 0.333333)
    # 1/3 written two ways is one requirement; 1 - 0.9 in floats (0.09999999999999998) is 0.1.
    assert requirements.key([1 / 3, 2 / 3]) == requirements.key([0.3333333, 0.6666667])
    assert requirements.keys(on_simplex(0.9, 0.0)) == [(0.9, 0.1), (0.0, 1.0)]


def test_problems_of_one_requirement_and_of_a_grid() -> None:
    assert requirements.problem([0.3, 0.7], 2) is None
    assert requirements.problem([float("nan"), 1.0], 2) == "every weight must be a finite number in [0, 1]."
    assert requirements.problem([1.0], 2) == "needs 2 weights, one per objective."
    assert requirements.problem([1.2, -0.2], 2) == "every weight must lie in [0, 1]."
    assert "sum to 1.1" in requirements.problem([0.5, 0.6], 2)
    found = requirements.grid_problems([[0.3, 0.7], [0.3, 0.7], [0.5, 0.6]], "mine", 2)
    assert found[0].startswith("mine[2] = [0.5, 0.6]: weights sum to 1.1")
    assert "mine lists (0.3, 0.7) more than once" in found[1] and len(found) == 2
    assert requirements.grid_problems([], "mine", 2)[0].startswith("mine is empty")


# ----------------------------------------------------------------------------- unseen and regions


def test_unseen_requirements_are_those_on_no_training_grid() -> None:
    weights = np.array([[0.0, 1.0], [0.05, 0.95], [0.5, 0.5], [0.475, 0.525], [1.0, 0.0]])
    assert requirements.unseen(weights, on_simplex(0.0, 0.475, 1.0)) == [(0.05, 0.95), (0.5, 0.5)]


def test_regions_split_the_unseen_points_by_their_grid_neighbours() -> None:
    grid = on_simplex(0.0, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 1.0)
    unseen = requirements.keys(on_simplex(0.05, 0.1, 0.2, 0.5, 0.8, 0.9, 0.95))
    assert requirements.regions(grid, unseen) == {
        "near_ends": [(0.05, 0.95), (0.1, 0.9), (0.9, 0.1), (0.95, 0.05)],
        "middle": [(0.2, 0.8), (0.5, 0.5), (0.8, 0.2)]}


SIMPLEX = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.4, 0.3, 0.3]])


def test_three_objective_unseen_requirements_and_regions() -> None:
    eval_weights = np.array([[0.4, 0.3, 0.3], [0.05, 0.05, 0.9], [1.0, 0.0, 0.0]])
    unseen = requirements.unseen(eval_weights, SIMPLEX[:3])
    assert unseen == [(0.4, 0.3, 0.3), (0.05, 0.05, 0.9)]
    assert requirements.regions(SIMPLEX[:3], unseen) == {"near_ends": [(0.05, 0.05, 0.9)],
                                                         "middle": [(0.4, 0.3, 0.3)]}


# ----------------------------------------------------------------------------- lattice and draws


def test_simplex_lattice_of_step_a_quarter_has_15_points_on_the_simplex():
    lattice = requirements.lattice(3, 4)
    assert lattice.shape == (15, 3)
    assert np.allclose(lattice.sum(axis=1), 1.0)
    assert len({tuple(point) for point in lattice}) == 15
    assert lattice[0].tolist() == [1.0, 0.0, 0.0]  # first weight descending
    assert requirements.lattice(3, 2).shape == (6, 3)


def test_sampled_requirements_lie_on_the_simplex_and_are_seeded() -> None:
    draw = requirements.sample(500, 3, torch.Generator().manual_seed(1))
    assert draw.shape == (500, 3)
    assert bool((draw >= 0).all())
    torch.testing.assert_close(draw.sum(dim=1), torch.ones(500))
    again = requirements.sample(500, 3, torch.Generator().manual_seed(1))
    other = requirements.sample(500, 3, torch.Generator().manual_seed(2))
    assert torch.equal(draw, again)
    assert not torch.equal(draw, other)
    # Dirichlet(1, 1, 1): each coordinate has mean 1/3 (std of the mean ~ 0.24 / sqrt(500) = 0.01).
    torch.testing.assert_close(draw.mean(dim=0), torch.full((3,), 1 / 3), atol=0.04, rtol=0)
