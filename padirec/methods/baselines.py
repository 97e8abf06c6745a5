"""Cheaper ways to serve a new requirement, against which the generator is judged.

Every adapter baseline returns flat adapter vectors [N, P] for requirement vectors [N, K] from
the same frozen backbone and adapter shape as PaDiRec:

- `nearest_adapters`: the training adapter of the nearest grid requirement (memorisation);
- `noisy_adapters`: the same plus Gaussian noise of a given spread (Zeng et al. 2025);
- `interpolated_adapters`: linear interpolation of the two neighbouring grid adapters (with more
  than two objectives: barycentric within the grid's Delaunay triangle);
- `soup_adapters`: interpolation between the adapters tuned at the grid's two extremes (the
  simplex's K corners);
- `Hypernetwork`: an MLP from the requirement to adapter parameters, trained on the weighted
  loss with requirements sampled per batch (the idea of CMR and Pareto HyperNetworks).

`mmr_scores` is the one baseline without an adapter: it re-ranks the bare backbone's scores
greedily by maximal marginal relevance with genre (Jaccard) similarity.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from padirec.pipeline.config import HypernetworkConfig, SweepConfig
from padirec.evaluation.metrics import jaccard_similarity
from padirec.models.backbones import Adapter, SequentialRecommender
from padirec.pipeline.progress import bar as progress_bar
from padirec.objectives.registry import ObjectiveData
from padirec.training.backbone import batch_losses, training_batches


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
    each requested one, in the first K - 1 weight coordinates (the last is 1 minus their sum) -> [N, P].
    A requirement outside the grid's hull gets the nearest grid requirement's adapter."""
    from scipy.spatial import Delaunay

    grid_weights, adapters = np.asarray(grid_weights, dtype=np.float64), np.asarray(adapters)
    weights = np.asarray(weights, dtype=np.float64)
    triangulation = Delaunay(grid_weights[:, :-1])
    points = weights[:, :-1]
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


# ----------------------------------------------------------------------------- hypernetwork


def sample_requirements(count: int, objectives: int, generator: torch.Generator) -> Tensor:
    """`count` requirement vectors uniform on the simplex (Dirichlet(1): normalised exponentials)."""
    exponential = -torch.log(torch.rand(count, objectives, generator=generator).clamp_min(1e-12))
    return exponential / exponential.sum(dim=1, keepdim=True)


class Hypernetwork(nn.Module):
    """Requirement vector [N, K] -> flat adapter parameters [N, P].

    The last layer starts at zero weight and the bias of a freshly initialised adapter, so every
    requirement starts from the same adapter as Retrain does.
    """

    def __init__(self, objectives: int, initial_adapter: Tensor, hidden: int = 64):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(objectives, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, initial_adapter.numel()))
        nn.init.zeros_(self.net[-1].weight)
        with torch.no_grad():
            self.net[-1].bias.copy_(initial_adapter)

    def forward(self, weights: Tensor) -> Tensor:
        return self.net(weights)


@dataclass
class HypernetworkRun:
    hypernetwork: Hypernetwork
    seconds: float

    @torch.inference_mode()
    def adapters(self, weights: np.ndarray) -> Tensor:
        device = self.hypernetwork.net[0].weight.device
        return self.hypernetwork(torch.as_tensor(np.asarray(weights), dtype=torch.float32, device=device))


def train_hypernetwork(model: SequentialRecommender, states: Tensor, targets: Tensor, item_categories: Tensor,
                       sweep: SweepConfig, config: HypernetworkConfig, seed: int, progress: bool = False,
                       objectives: list[str] | None = None, data: ObjectiveData | None = None) -> HypernetworkRun:
    """Each batch draws `requirements_per_batch` requirements and minimises the mean of their weighted
    losses, on the same cached states, batches and negatives as adapter tuning (sweep settings)."""
    objectives = objectives or sweep.objectives
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    initial = torch.nn.utils.parameters_to_vector(Adapter(model.hidden).parameters()).detach()
    hypernetwork = Hypernetwork(len(objectives), initial, config.hidden).to(states.device)
    optimizer = torch.optim.Adam(hypernetwork.parameters(), lr=config.lr)
    started = time.perf_counter()
    for _ in progress_bar(range(sweep.epochs), desc="hypernetwork epochs", show=progress):
        for batch, scores_of in training_batches(model, states, targets, sweep, generator):
            weights = sample_requirements(config.requirements_per_batch, len(objectives), generator)
            weights = weights.to(states.device)
            scores, candidates = scores_of(hypernetwork(weights))
            losses = batch_losses(scores, candidates, batch, item_categories, sweep, objectives, data)
            loss = (losses * weights.T).sum(0).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    hypernetwork.eval()
    return HypernetworkRun(hypernetwork, time.perf_counter() - started)


# ----------------------------------------------------------------------------- MMR


@torch.inference_mode()
def mmr_scores(scores: Tensor, item_categories: Tensor, candidates: Tensor | None, trade_off: float,
               length: int = 20, pool: int = 100, mask: Tensor | None = None) -> Tensor:
    """Scores [U, C] whose descending order is the greedy MMR list, then the rest by relevance.

    Per user the `pool` best-scored candidates (not masked) compete; each step takes the one with
    the largest trade_off * relevance - (1 - trade_off) * (max Jaccard similarity to the items
    already taken), relevance min-max scaled to [0, 1] over the pool. trade_off = 1 keeps the
    backbone's order. `candidates` [U, C] maps columns to item ids (None: column = item id).
    """
    if not 0.0 <= trade_off <= 1.0:
        raise ValueError(f"MMR trade-off must lie in [0, 1], got {trade_off}")
    users, columns = scores.shape
    masked = scores if mask is None else scores.masked_fill(mask, float("-inf"))
    pool = min(pool, columns)
    length = min(length, pool)
    top_scores, top_columns = masked.topk(pool, dim=1)  # [U, pool]
    valid = torch.isfinite(top_scores)
    low = top_scores.masked_fill(~valid, float("inf")).amin(1, keepdim=True)
    high = top_scores.masked_fill(~valid, float("-inf")).amax(1, keepdim=True)
    relevance = ((top_scores - low) / (high - low).clamp_min(1e-12)).masked_fill(~valid, 0.0)
    items = top_columns if candidates is None else candidates.gather(1, top_columns)
    similarity = jaccard_similarity(item_categories[items])  # [U, pool, pool]

    taken = ~valid
    closest = torch.zeros(users, pool, device=scores.device)
    rows = torch.arange(users, device=scores.device)
    reranked = masked.clone()  # masked columns at -inf: below the MMR list whatever they scored
    ceiling = top_scores[:, 0] + 1.0  # above every unmasked score
    for position in range(length):
        value = (trade_off * relevance - (1 - trade_off) * closest).masked_fill(taken, float("-inf"))
        pick = value.argmax(1)
        usable = ~taken[rows, pick]
        chosen = top_columns[rows, pick]
        reranked[rows[usable], chosen[usable]] = ceiling[usable] + (length - position)
        taken[rows, pick] = True
        closest = torch.maximum(closest, similarity[rows, pick])
    return reranked
