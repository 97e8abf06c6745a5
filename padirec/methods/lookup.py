"""Baselines that look a new requirement's adapter up from the sweep's grid adapters.

Each returns flat adapter vectors [N, P] for requirement vectors [N, K], from the same frozen
backbone and adapter shape as PaDiRec:

- `nearest_adapters`: the training adapter of the nearest grid requirement (memorisation);
- `noisy_adapters`: the same plus Gaussian noise of a given spread (Zeng et al. 2025);
- `interpolated_adapters`: linear interpolation of the two neighbouring grid adapters (with more
  than two objectives: barycentric within the grid's Delaunay triangle);
- `soup_adapters`: interpolation between the adapters tuned at the grid's two extremes (the
  simplex's K corners).
"""
from __future__ import annotations

import numpy as np
from torch import Tensor

from padirec.objectives import requirements


def _sorted_grid(grid_weights: np.ndarray, adapters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    grid_weights, adapters = np.asarray(grid_weights, dtype=np.float64), np.asarray(adapters)
    if grid_weights.ndim != 2 or len(grid_weights) != len(adapters) or len(adapters) == 0:
        raise ValueError(f"need one adapter per grid requirement, got {len(adapters)} adapters for "
                         f"grid of shape {list(grid_weights.shape)}")
    order = np.argsort(grid_weights[:, 0], kind="stable")
    return grid_weights[order, 0], adapters[order]


def nearest_adapters(grid_weights: np.ndarray, adapters: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The adapter of the grid requirement nearest to each requested one: in w_acc for two objectives (ties go
    to the lower), in Euclidean distance on the simplex for more (ties to the first listed)."""
    if np.asarray(grid_weights).shape[1] > 2:
        distance = np.linalg.norm(np.asarray(weights, dtype=np.float64)[:, None] - np.asarray(grid_weights)[None], axis=2)
        return np.asarray(adapters)[np.argmin(np.round(distance, 9), axis=1)]
    grid, adapters = _sorted_grid(grid_weights, adapters)
    distance = np.abs(np.asarray(weights, dtype=np.float64)[:, :1] - grid[None, :])  # [N, R]
    return adapters[np.argmin(np.round(distance, 9), axis=1)]


def interpolated_adapters(grid_weights: np.ndarray, adapters: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Linear interpolation of the two grid adapters around each requested w_acc -> [N, P].

    A requirement on the grid gets its own adapter; one outside the grid's range the nearest end's.
    With more than two objectives: `simplex_interpolated_adapters`.
    """
    if np.asarray(grid_weights).shape[1] > 2:
        return simplex_interpolated_adapters(grid_weights, adapters, weights)
    grid, adapters = _sorted_grid(grid_weights, adapters)
    if len(grid) == 1:
        return np.repeat(adapters, len(weights), axis=0)
    result = []
    for w in np.asarray(weights)[:, 0]:
        upper = int(np.clip(np.searchsorted(grid, w), 1, len(grid) - 1))
        lower = upper - 1
        span = grid[upper] - grid[lower]
        mix = float(np.clip((w - grid[lower]) / span, 0.0, 1.0)) if span > 0 else 0.0
        result.append((1 - mix) * adapters[lower] + mix * adapters[upper])
    return np.stack(result)


def simplex_interpolated_adapters(grid_weights: np.ndarray, adapters: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Barycentric interpolation within the Delaunay simplex (scipy.spatial) of the grid requirements that holds
    each requested one, triangulated on the simplex's own plane (`requirements.plane_coordinates`, where a lattice's
    triangles are equilateral and only neighbours are joined; the adaptive grid splits the edges of the same
    triangulation) -> [N, P]. A requirement outside the grid's hull gets the nearest grid requirement's adapter."""
    from scipy.spatial import Delaunay

    grid_weights, adapters = np.asarray(grid_weights, dtype=np.float64), np.asarray(adapters)
    weights = np.asarray(weights, dtype=np.float64)
    triangulation = Delaunay(requirements.plane_coordinates(grid_weights))
    points = requirements.plane_coordinates(weights)
    simplices = triangulation.find_simplex(points, tol=1e-9)
    result = nearest_adapters(grid_weights, adapters, weights).astype(np.float64)
    for index in np.flatnonzero(simplices >= 0):
        transform = triangulation.transform[simplices[index]]
        partial = transform[:-1] @ (points[index] - transform[-1])
        barycentric = np.clip(np.append(partial, 1 - partial.sum()), 0.0, None)
        vertices = triangulation.simplices[simplices[index]]
        result[index] = (barycentric / barycentric.sum()) @ adapters[vertices]
    return result.astype(adapters.dtype)


def soup_adapters(grid_weights: np.ndarray, adapters: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The authors' Soup: interpolate between the adapters at the lowest and the highest grid w_acc; with more
    than two objectives, the barycentric mix sum_k w_k A(e_k) of the K single-objective corner adapters."""
    grid_weights = np.asarray(grid_weights, dtype=np.float64)
    if grid_weights.shape[1] > 2:
        corners = [np.flatnonzero(np.isclose(grid_weights[:, k], 1.0)) for k in range(grid_weights.shape[1])]
        if any(len(found) == 0 for found in corners):
            raise ValueError("Soup over K objectives needs every corner of the simplex (one weight 1) on the grid.")
        corner_adapters = np.stack([np.asarray(adapters)[found[0]] for found in corners])  # [K, P]
        return np.asarray(weights, dtype=np.float64) @ corner_adapters
    grid, adapters = _sorted_grid(grid_weights, adapters)
    ends = np.array([0, len(grid) - 1])
    extremes = np.stack([grid[ends], 1 - grid[ends]], axis=1)
    return interpolated_adapters(extremes, adapters[ends], weights)


def noisy_adapters(adapters: np.ndarray, spread: np.ndarray, seed: int) -> np.ndarray:
    """adapters + N(0, spread^2), spread per coordinate [P] (or one number)."""
    rng = np.random.default_rng(seed)
    return adapters + rng.standard_normal(adapters.shape) * np.asarray(spread)


def sample_spread(samples: Tensor | np.ndarray) -> np.ndarray:
    """Per-coordinate spread of generated adapters [samples, N, P]: the std over samples of one
    requirement, averaged over requirements -> [P]."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.shape[0] < 2:
        raise ValueError("the spread of generated adapters needs at least 2 samples per requirement; "
                         "raise diffusion.samples_per_requirement.")
    return samples.std(axis=0, ddof=1).mean(axis=0)
