"""The adapter sweep: every requirement of the grid, every seed, on one frozen backbone."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from padirec.pipeline.artifacts import AdapterSweep
from padirec.pipeline.config import SweepConfig
from padirec.data.dataset import Dataset
from padirec.evaluation.protocol import EvaluationSet, backbone_states
from padirec.models.backbones import SequentialRecommender
from padirec.objectives.registry import OBJECTIVES, ObjectiveData
from padirec.training.backbone import SweepRun, evaluate_adapters, tune_adapters, tuning_tensors
from padirec.pipeline.workers import run_units


@dataclass
class SweepResult:
    sweep: AdapterSweep
    grid: pd.DataFrame  # one row per (seed, requirement): weights and test metrics of the last checkpoint
    curves: pd.DataFrame  # training losses per epoch, seed and requirement
    timings: dict[str, float]


def weight_columns(objectives: list[str]) -> list[str]:
    return [f"w_{objective}" for objective in objectives]


ADAPTIVE_METRICS = ("ndcg@10", "alpha_ndcg@10")


def steepest_interval(w_acc: np.ndarray, metrics: np.ndarray) -> int:
    """Index i of the interval [w_acc[i], w_acc[i+1]] (w_acc ascending) where the metrics [R, M] change most:
    the largest |m[i+1] - m[i]| relative to the metric's mean over the grid, over the M metrics."""
    if len(w_acc) < 2 or np.any(np.diff(w_acc) <= 0):
        raise ValueError("steepest_interval needs at least 2 requirements in ascending order of w_acc")
    change = np.abs(np.diff(metrics, axis=0)) / np.abs(metrics.mean(axis=0))
    return int(change.max(axis=1).argmax())


def placement(low: np.ndarray, high: np.ndarray, avoid: list[float]) -> np.ndarray:
    """Where a requirement goes between grid points `low` and `high`: the middle, or the first quarter
    when the middle's w_acc is one of `avoid` (evaluation requirements must stay unseen)."""
    middle = (low + high) / 2
    if any(abs(middle[0] - w) < 1e-6 for w in avoid):
        return (3 * low + high) / 4
    return middle


def run_sweep(name: str, model: SequentialRecommender, dataset: Dataset, config: SweepConfig,
              test: EvaluationSet, valid: EvaluationSet | None = None, avoid: list[float] = (),
              data: ObjectiveData | None = None, workers: int = 1) -> SweepResult:
    """`run_sweeps` for one backbone."""
    return run_sweeps({name: model}, dataset, config, test, valid, avoid, data, workers)[name]


@dataclass
class _BackboneSweep:
    """One backbone's sweep while it is built: its tuning tensors, requirements and adapters so far."""

    model: SequentialRecommender
    tuning: tuple  # cached training states, targets, item categories
    weights: np.ndarray  # [R, K]
    sources: np.ndarray  # [R] grid / ablation / adaptive
    checkpoints: dict  # seed -> [R, keep, P]
    curves: list
    state_seconds: float
    tune_seconds: list


def run_sweeps(models: dict[str, SequentialRecommender], dataset: Dataset, config: SweepConfig,
               test: EvaluationSet, valid: EvaluationSet | None = None, avoid: list[float] = (),
               data: ObjectiveData | None = None, workers: int = 1) -> dict[str, SweepResult]:
    """Tune all requirements of `config.grid` per backbone and seed as one stack over cached backbone states;
    then, with `config.adaptive_budget`, place that many extra requirements where the grid is steepest on `valid`.

    Each (backbone, seed) is one unit of work, run side by side on up to `workers` single-threaded
    processes (padirec.pipeline.workers): the result does not depend on the worker count.
    Each extra requirement goes to the middle of the interval between neighbouring grid points whose
    seed-mean validation NDCG@10 or alpha-NDCG@10 differ most (relative to the metric's mean), and is
    tuned for every seed; the test split plays no part in the placement. A middle whose w_acc
    is in `avoid` (the evaluation requirements, so they stay unseen) moves to the interval's first quarter.
    `config.ablation_only` requirements are tuned in the same stack, for the ablation generators only;
    `data` is what objectives beyond accuracy and diversity read (padirec.objectives.registry.objective_data).
    """
    extra = np.asarray(config.ablation_only, dtype=np.float64).reshape(-1, len(config.objectives))
    weights = np.vstack([np.asarray(config.grid, dtype=np.float64), extra])
    sources = np.array(["grid"] * len(config.grid) + ["ablation"] * len(extra))
    built = {}
    for name, model in models.items():
        started = time.perf_counter()
        tuning = tuning_tensors(model, dataset)
        built[name] = _BackboneSweep(model, tuning, weights, sources, {}, [], time.perf_counter() - started, [])

    def tune(requests: dict[str, np.ndarray], label) -> dict[tuple[str, int], SweepRun]:
        """Tune requests[name] [R, K] for every backbone and seed, one unit each."""
        keys = [(name, seed) for name in requests for seed in config.seeds]
        units = [(built[name].model, *built[name].tuning, requests[name], config, seed, None, True,
                  f"{name} seed {seed}: {label(requests[name])}, epochs", data) for name, seed in keys]
        return dict(zip(keys, run_units(tune_adapters, units, workers, desc=f"adapter tuning, {len(units)} (backbone, seed) units")))

    for (name, seed), run in tune({name: weights for name in built}, lambda w: f"{len(w)} requirements").items():
        kept_epochs = run.kept_epochs
        built[name].tune_seconds.append(run.seconds)
        built[name].checkpoints[seed] = run.checkpoints
        built[name].curves.append(run.curve.assign(seed=seed))
    if config.adaptive_budget and valid is None:
        raise ValueError("sweep.adaptive_budget needs the validation split: pass valid= to run_sweeps")
    valid_states = {name: backbone_states(sweep.model, valid.history) for name, sweep in built.items()} \
        if config.adaptive_budget else {}
    for _ in range(config.adaptive_budget):
        middles = {}
        for name, sweep in built.items():
            order = np.argsort(sweep.weights[:, 0], kind="stable")
            order = order[sweep.sources[order] != "ablation"]
            metrics = np.mean([[[m[key] for key in ADAPTIVE_METRICS] for m in
                                evaluate_adapters(sweep.model, valid_states[name], sweep.checkpoints[seed][order, -1],
                                                  valid, full_ranking=False)] for seed in config.seeds], axis=0)
            low = steepest_interval(sweep.weights[order, 0], metrics)
            middles[name] = placement(sweep.weights[order[low]], sweep.weights[order[low + 1]], list(avoid))[None]
        runs = tune(middles, lambda w: f"adaptive requirement w_acc = {w[0, 0]:g}")
        for (name, seed), run in runs.items():
            sweep = built[name]
            sweep.checkpoints[seed] = np.concatenate([sweep.checkpoints[seed], run.checkpoints])
            sweep.curves.append(run.curve.assign(seed=seed, requirement=len(sweep.weights)))
        for name, sweep in built.items():
            sweep.weights, sweep.sources = np.vstack([sweep.weights, middles[name]]), np.append(sweep.sources, "adaptive")
    return {name: _finish(name, sweep, config, test, kept_epochs, data) for name, sweep in built.items()}


def _finish(name: str, built: _BackboneSweep, config: SweepConfig, test: EvaluationSet, kept_epochs: list[int],
            data: ObjectiveData | None) -> SweepResult:
    """Order one backbone's requirements by weight, score every seed's last checkpoints on `test`, time one
    requirement alone."""
    order = np.lexsort(built.weights.T[::-1])  # the saved grid is ordered by w_acc (then the next weights)
    weights, sources = built.weights[order], built.sources[order]
    test_states = backbone_states(built.model, test.history)
    rows, checkpoints = [], {}
    for seed in config.seeds:
        checkpoints[seed] = built.checkpoints[seed][order]
        for requirement, metrics in enumerate(evaluate_adapters(built.model, test_states, checkpoints[seed][:, -1], test)):
            rows.append({"backbone": name, **dict(zip(weight_columns(config.objectives), weights[requirement])),
                         "seed": seed, "placed": sources[requirement], **metrics})
    # One requirement alone, to compare the stacked sweep with one stage per requirement.
    single = tune_adapters(built.model, *built.tuning, weights[:1], config, config.seeds[0], progress=False, data=data)
    timings = {"state_cache_seconds": built.state_seconds, "tune_seconds_per_seed": float(np.mean(built.tune_seconds)),
               "requirements": len(config.grid), "adaptive_requirements": int((sources == "adaptive").sum()),
               "ablation_requirements": int((sources == "ablation").sum()),
               "single_requirement_seconds": single.seconds, "epochs": config.epochs,
               "train_examples": len(built.tuning[1])}
    sweep = AdapterSweep(name, list(config.objectives), weights, np.asarray(config.seeds), np.asarray(kept_epochs),
                         np.stack([checkpoints[seed] for seed in config.seeds]).astype(np.float32), sources)
    return SweepResult(sweep, pd.DataFrame(rows), pd.concat(built.curves), timings)


def controllability(grid: pd.DataFrame, objectives: list[str]) -> dict[str, float]:
    """Pearson and Spearman r between each objective's requested weight and its test metric, over the
    per-requirement means, signed so that +1 is perfect control for every metric (a lower-is-better
    metric is negated); on both protocols. Plus each metric's range and its mean seed-to-seed std."""
    summary: dict[str, float] = {}
    columns = weight_columns(objectives)
    metrics = [c for c in grid.columns if "@" in c]
    means = grid.groupby(columns)[metrics].mean().reset_index()
    spread = grid.groupby(columns)[metrics].std(ddof=1)
    for objective in objectives:
        sign = 1.0 if OBJECTIVES[objective].higher_is_better else -1.0
        for prefix in [p for p in ("", "full_") if p + OBJECTIVES[objective].metric in means]:
            column = prefix + OBJECTIVES[objective].metric
            r = stats.pearsonr(means[f"w_{objective}"], sign * means[column]).statistic
            rho = stats.spearmanr(means[f"w_{objective}"], sign * means[column]).statistic
            summary[f"{prefix}pearson_{objective}"] = float(r)
            summary[f"{prefix}spearman_{objective}"] = float(rho)
            summary[f"{column}_min"] = float(means[column].min())
            summary[f"{column}_max"] = float(means[column].max())
            summary[f"{column}_seed_std"] = float(spread[column].mean()) if len(grid["seed"].unique()) > 1 else 0.0
    return summary
