"""Adapters from different methods on one evaluation grid, and how well each follows the request."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from scipy import stats

from padirec.artifacts import AdapterSweep
from padirec.config import SweepConfig
from padirec.data import Dataset
from padirec.evaluation import EvaluationSet, backbone_states
from padirec.generator import Generator
from padirec.models import SequentialRecommender
from padirec.train import evaluate_adapters, tune_adapters, tuning_tensors

GAP_METRICS = ("ndcg@10", "alpha_ndcg@10")


def metric_rows(method: str, weights: np.ndarray, adapters: torch.Tensor, model: SequentialRecommender,
                states: torch.Tensor, evaluation: EvaluationSet, replicate: int, full_ranking: bool = True) -> pd.DataFrame:
    """Test metrics of adapters [N, P] generated or tuned for requirement vectors [N, 2]."""
    metrics = evaluate_adapters(model, states, adapters, evaluation, full_ranking)
    return pd.DataFrame([{"method": method, "w_acc": w[0], "w_div": w[1], "replicate": replicate, **m}
                         for w, m in zip(weights, metrics)])


def retrain_rows(model: SequentialRecommender, dataset: Dataset, config: SweepConfig, weights: np.ndarray,
                 evaluation: EvaluationSet) -> tuple[pd.DataFrame, np.ndarray, float]:
    """Retrain: an adapter tuned directly at every requirement, once per sweep seed."""
    states, targets, categories = tuning_tensors(model, dataset)
    test_states = backbone_states(model, evaluation.history)
    frames, adapters, seconds = [], [], 0.0
    for seed in config.seeds:
        run = tune_adapters(model, states, targets, categories, weights, config, seed, progress=False)
        seconds += run.seconds
        adapters.append(run.checkpoints[:, -1])
        frames.append(metric_rows("retrain", weights, torch.as_tensor(run.checkpoints[:, -1]), model, test_states,
                                  evaluation, seed))
    return pd.concat(frames, ignore_index=True), np.stack(adapters), seconds / (len(config.seeds) * len(weights))


def generated_rows(generator: Generator, model: SequentialRecommender, weights: np.ndarray, evaluation: EvaluationSet,
                   samples: int, guidance: float, method: str = "padirec", full_ranking: bool = True
                   ) -> tuple[pd.DataFrame, torch.Tensor]:
    """Generated adapters: `samples` per requirement, each from its own sampling seed."""
    test_states = backbone_states(model, evaluation.history)
    frames, vectors = [], []
    for replicate in range(samples):
        adapters = generator.generate(weights, guidance=guidance, seed=replicate)
        vectors.append(adapters)
        frames.append(metric_rows(method, weights, adapters, model, test_states, evaluation, replicate, full_ranking))
    return pd.concat(frames, ignore_index=True), torch.stack(vectors)


def requirement_means(rows: pd.DataFrame) -> pd.DataFrame:
    """Metrics averaged over replicates, one row per requirement, ordered by w_acc."""
    numeric = [c for c in rows.columns if "@" in c]
    return rows.groupby(["w_acc", "w_div"])[numeric].mean().reset_index().sort_values("w_acc")


def relative_gap(method: pd.DataFrame, reference: pd.DataFrame, weights: list[float]) -> float:
    """Mean |m - ref| / ref over the given w_acc values and both headline metrics."""
    method, reference = requirement_means(method).set_index("w_acc"), requirement_means(reference).set_index("w_acc")
    gaps = [abs(method.loc[w, m] - reference.loc[w, m]) / reference.loc[w, m] for w in weights for m in GAP_METRICS]
    return float(np.mean(gaps))


def summarise(rows: pd.DataFrame, reference: pd.DataFrame | None, unseen: list[float]) -> dict:
    """The metrics.json entry of one method: grid, Pearson and Spearman r-a and r-d, gap to Retrain."""
    means = requirement_means(rows)
    summary = {
        "grid": [{key: round(float(value), 6) for key, value in row.items()} for row in means.to_dict("records")],
        "pearson_acc": float(stats.pearsonr(means["w_acc"], means["ndcg@10"]).statistic),
        "pearson_div": float(stats.pearsonr(means["w_div"], means["alpha_ndcg@10"]).statistic),
        "spearman_acc": float(stats.spearmanr(means["w_acc"], means["ndcg@10"]).statistic),
        "spearman_div": float(stats.spearmanr(means["w_div"], means["alpha_ndcg@10"]).statistic),
    }
    if reference is not None and unseen:
        summary["rel_gap_unseen"] = relative_gap(rows, reference, unseen)
    return summary


def seed_noise_floor(retrain: pd.DataFrame, unseen: list[float]) -> float:
    """The relative gap between Retrain runs of two different seeds: what no method can beat."""
    replicates = sorted(retrain["replicate"].unique())
    if len(replicates) < 2:
        return float("nan")
    first, second = (retrain[retrain["replicate"] == r] for r in replicates[:2])
    return relative_gap(first, second, unseen)


def interpolated_adapters(sweep_weights: np.ndarray, adapters: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Interpolate: linear interpolation of the two grid adapters around each requested w_acc.

    `adapters` [R, P] are tuned at `sweep_weights` [R, 2]; returns [N, P] for `weights` [N, 2].
    A requirement on the grid gets its own adapter; one outside the grid's range the nearest end's.
    """
    grid = sweep_weights[:, 0]
    order = np.argsort(grid)
    grid, adapters = grid[order], adapters[order]
    result = []
    for w in weights[:, 0]:
        upper = int(np.clip(np.searchsorted(grid, w), 1, len(grid) - 1))
        lower = upper - 1
        span = grid[upper] - grid[lower]
        mix = float(np.clip((w - grid[lower]) / span, 0.0, 1.0)) if span > 0 else 0.0
        result.append((1 - mix) * adapters[lower] + mix * adapters[upper])
    return np.stack(result)


def interpolation_rows(model: SequentialRecommender, sweep: AdapterSweep, weights: np.ndarray,
                       evaluation: EvaluationSet) -> pd.DataFrame:
    """Interpolate baseline from each seed's last sweep checkpoints."""
    test_states = backbone_states(model, evaluation.history)
    frames = []
    for index, seed in enumerate(sweep.seeds):
        adapters = interpolated_adapters(sweep.weights, sweep.checkpoints[index, :, -1], weights)
        frames.append(metric_rows("interpolate", weights, torch.as_tensor(adapters, dtype=torch.float32), model,
                                  test_states, evaluation, int(seed)))
    return pd.concat(frames, ignore_index=True)
