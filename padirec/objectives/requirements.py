"""Requirements: one weight per objective, a point on the simplex, always named by its K-tuple.

Every place that groups, compares or looks up requirements goes through `key`, so one rounding rule
holds everywhere (1/3 written two ways is one requirement) and two and three objectives share one code
path. What only makes sense along one axis (the adaptive grid, MMR, the 1-D figures) says so where
it is declared, not by branching here.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import torch

DECIMALS = 6  # weights equal to this many decimals are one requirement
EDGE = 0.1  # with three or more objectives, a requirement with some weight at most this is near an edge or corner


def columns(objectives) -> list[str]:
    """The weight columns w_<objective> that name a requirement in every table, in the objectives' order."""
    return [f"w_{objective}" for objective in objectives]


def key(weights) -> tuple[float, ...]:
    """The name of one requirement vector: its weights rounded to DECIMALS, as a tuple."""
    return tuple(round(float(w), DECIMALS) for w in weights)


def keys(grid) -> list[tuple[float, ...]]:
    """`key` of every requirement vector of `grid` [N, K], in order."""
    return [key(weights) for weights in grid]


def problem(weights: list[float], n_objectives: int) -> str | None:
    """What is wrong with one requirement vector (length, finiteness, range, simplex), or None."""
    if len(weights) != n_objectives:
        return f"needs {n_objectives} weights, one per objective."
    if any(not math.isfinite(w) for w in weights):
        return "every weight must be a finite number in [0, 1]."
    if any(not 0 <= w <= 1 for w in weights):
        return "every weight must lie in [0, 1]."
    if abs(sum(weights) - 1) > 1e-6:
        return f"weights sum to {sum(weights):g}, they must sum to 1 (a point on the simplex)."
    return None


def grid_problems(grid: list[list[float]], name: str, n_objectives: int) -> list[str]:
    """A grid of requirement vectors must be non-empty, on the simplex, and without duplicates."""
    if not grid:
        return [f"{name} is empty: give at least one requirement vector, e.g. [[1.0, 0.0]]."]
    found = [f"{name}[{index}] = {weights}: {reason}" for index, weights in enumerate(grid)
             if (reason := problem(weights, n_objectives)) is not None]
    named = [key(weights) for weights in grid]
    duplicates = sorted({point for point in named if named.count(point) > 1})
    if duplicates:
        found.append(f"{name} lists {', '.join(map(str, duplicates))} more than once; keep each requirement once.")
    return found


def unseen(weights, training) -> list[tuple[float, ...]]:
    """The keys of the requirements `weights` [N, K] that `training` [R, K] does not hold, in order: the
    generator never saw them."""
    seen = set(keys(training))
    return [point for point in keys(weights) if point not in seen]


def regions(grid, unseen_keys: list[tuple[float, ...]]) -> dict[str, list[tuple[float, ...]]]:
    """The unseen requirements near the ends of the simplex and in the middle (the rest).

    Two objectives: near the ends = between the grid's first two or last two points along the first
    weight, where the trade-off is steepest. More: near the edges and corners = some weight at most EDGE.
    """
    if len(unseen_keys) and len(unseen_keys[0]) > 2:
        near = [w for w in unseen_keys if min(w) <= EDGE + 1e-9]
    else:
        first = sorted(float(w[0]) for w in grid)
        near = [w for w in unseen_keys if len(first) > 1
                and (first[0] < w[0] < first[1] or first[-2] < w[0] < first[-1])]
    return {"near_ends": near, "middle": [w for w in unseen_keys if w not in near]}


def plane_coordinates(weights: np.ndarray) -> np.ndarray:
    """[R, K - 1] coordinates of requirements [R, K] in an orthonormal (Helmert) basis of the simplex's plane: an
    isometry, so a three-objective lattice's triangles stay equilateral and Delaunay joins only lattice neighbours
    (in the first two weights the lattice's squares are cocircular and either diagonal may be drawn). With four or
    more objectives a lattice has cospherical cells, and Qhull picks among their diagonals."""
    weights = np.asarray(weights, dtype=np.float64)
    k = weights.shape[1]
    basis = np.zeros((k - 1, k))
    for row in range(1, k):
        basis[row - 1, :row], basis[row - 1, row] = 1.0, -row
        basis[row - 1] /= np.sqrt(row * (row + 1))
    return weights @ basis.T


def spans_simplex(grid) -> bool:
    """Whether requirements [R, K] span the simplex (K affinely independent points), so a triangulation exists."""
    points = plane_coordinates(np.asarray(grid, dtype=np.float64))
    return len(points) > points.shape[1] and np.linalg.matrix_rank(points - points[0], tol=1e-9) == points.shape[1]


def lattice(objectives: int, divisions: int) -> np.ndarray:
    """Every requirement of the simplex lattice of step 1 / divisions (K = objectives weights each)."""
    points = [combo for combo in itertools.product(range(divisions + 1), repeat=objectives) if sum(combo) == divisions]
    return np.array(sorted(points, reverse=True), dtype=np.float64) / divisions


def sample(count: int, objectives: int, generator: torch.Generator) -> torch.Tensor:
    """`count` requirement vectors drawn uniformly on the simplex (flat Dirichlet), on the CPU generator."""
    exponential = -torch.log(torch.rand(count, objectives, generator=generator).clamp_min(1e-12))
    return exponential / exponential.sum(dim=1, keepdim=True)
