"""Where the sweep adds training requirements: the adaptive grid, and the random control it is compared with.

The adaptive grid splits the edge of the training grid's triangulation across which the validation metrics change
most, relative to each metric's mean over the grid. With two objectives the triangulation is the sorted grid
itself (its intervals in w_acc); with three or more it is scipy's Delaunay triangulation on the simplex's own
plane, where the simplex is regular: the triangulation Interpolate interpolates in. The control draws the same number of requirements uniformly on the simplex.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.spatial import Delaunay

from padirec.objectives import requirements

def edges(weights: np.ndarray) -> np.ndarray:
    """[E, 2] index pairs of the edges between neighbouring requirements of `weights` [R, K]: consecutive points in
    w_acc for K = 2, Delaunay edges on the simplex's plane (`requirements.plane_coordinates`) otherwise. Each pair starts at its lower end (by
    w_acc, then the following weights) and the edges are in ascending order of their ends, so for K = 2 they are
    the grid's intervals from w_acc = 0 upwards."""
    if len(weights) < 2:
        raise ValueError("adaptive placement needs at least 2 training requirements")
    if weights.shape[1] == 2:
        order = np.argsort(weights[:, 0], kind="stable")
        pairs = np.stack([order[:-1], order[1:]], axis=1)
    else:  # in lexicographic order of the weights, as Interpolate's sorted grid: ties in Qhull break alike
        order = np.lexsort(weights.T[::-1])
        simplices = order[Delaunay(requirements.plane_coordinates(weights[order])).simplices]
        corners = simplices.shape[1]
        pairs = np.concatenate([simplices[:, [a, b]] for a in range(corners) for b in range(a + 1, corners)])
    pairs = np.unique(np.sort(pairs, axis=1), axis=0)
    ends = [sorted(pair, key=lambda i: tuple(weights[i])) for pair in pairs]
    order = sorted(range(len(ends)), key=lambda e: (tuple(weights[ends[e][0]]), tuple(weights[ends[e][1]])))
    return np.array([ends[e] for e in order])


def edge_scores(metrics: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """[E] the largest change of any metric across each edge, relative to that metric's mean over the grid;
    `metrics` [R, M] are seed-mean validation metrics, one column per objective."""
    change = np.abs(metrics[pairs[:, 0]] - metrics[pairs[:, 1]]) / np.abs(metrics.mean(axis=0))
    return change.max(axis=1)


def split_point(low: np.ndarray, high: np.ndarray, avoid: np.ndarray) -> np.ndarray:
    """The middle of the edge from `low` to `high`, or its first quarter (from `low`) when the middle is one of the
    requirements `avoid` [N, K] (evaluation requirements stay unseen)."""
    middle = (low + high) / 2
    if len(avoid) and np.any(np.all(np.abs(avoid - middle) < 1e-6, axis=1)):
        return (3 * low + high) / 4
    return middle


def next_requirement(weights: np.ndarray, metrics: np.ndarray, avoid: np.ndarray) -> dict:
    """The next adaptive requirement for a grid `weights` [R, K] with seed-mean validation `metrics` [R, M]: the
    split point of the highest-scoring edge (the first in edge order on a tie). Returns the point, the edge's two
    ends (the end of lower w_acc, then of lower following weights, first) and its score."""
    pairs = edges(weights)
    scores = edge_scores(metrics, pairs)
    best = int(scores.argmax())
    low, high = weights[pairs[best, 0]], weights[pairs[best, 1]]
    return {"weights": split_point(low, high, avoid), "low": low, "high": high, "score": float(scores[best])}


def random_requirements(count: int, objectives: int, avoid: np.ndarray, known: np.ndarray, seed: int = 0) -> np.ndarray:
    """`count` requirements drawn uniformly on the simplex (flat Dirichlet, seeded), none of them one of `avoid`
    (the evaluation requirements) or `known` (the grid): the control of the adaptive grid, with its budget."""
    generator = torch.Generator().manual_seed(seed)
    taken = set(requirements.keys(np.vstack([avoid, known]) if len(avoid) else known))
    drawn: list[np.ndarray] = []
    while len(drawn) < count:
        point = requirements.sample(1, objectives, generator).double().numpy()[0]
        if requirements.key(point) not in taken:
            taken.add(requirements.key(point))
            drawn.append(point)
    return np.array(drawn).reshape(count, objectives)
