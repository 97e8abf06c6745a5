"""The adapter sweep: every requirement of the grid, every seed, on one frozen backbone."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from padirec.artifacts import AdapterSweep
from padirec.config import SweepConfig
from padirec.data import Dataset
from padirec.evaluation import EvaluationSet, backbone_states
from padirec.models import SequentialRecommender
from padirec.train import evaluate_adapters, tune_adapters, tuning_tensors


@dataclass
class SweepResult:
    sweep: AdapterSweep
    grid: pd.DataFrame  # one row per (seed, requirement): weights and test metrics of the last checkpoint
    curves: pd.DataFrame  # training losses per epoch, seed and requirement
    timings: dict[str, float]


def weight_columns(objectives: list[str]) -> list[str]:
    return [f"w_{objective}" for objective in objectives]


def run_sweep(name: str, model: SequentialRecommender, dataset: Dataset, config: SweepConfig,
              test: EvaluationSet) -> SweepResult:
    """Tune all requirements of `config.grid` per seed as one stack over cached backbone states."""
    started = time.perf_counter()
    states, targets, categories = tuning_tensors(model, dataset)
    state_seconds = time.perf_counter() - started
    weights = np.asarray(config.grid, dtype=np.float64)
    test_states = backbone_states(model, test.history)

    checkpoints, rows, curves, tune_seconds = [], [], [], []
    for seed in config.seeds:
        run = tune_adapters(model, states, targets, categories, weights, config, seed,
                            desc=f"{name} seed {seed}: {len(weights)} requirements, epochs")
        tune_seconds.append(run.seconds)
        checkpoints.append(run.checkpoints)
        curves.append(run.curve.assign(seed=seed))
        for requirement, metrics in enumerate(evaluate_adapters(model, test_states, run.checkpoints[:, -1], test)):
            rows.append({"backbone": name, **dict(zip(weight_columns(config.objectives), weights[requirement])),
                         "seed": seed, **metrics})
    # One requirement alone, to compare the stacked sweep with one stage per requirement.
    single = tune_adapters(model, states, targets, categories, weights[:1], config, config.seeds[0], progress=False)
    timings = {"state_cache_seconds": state_seconds, "tune_seconds_per_seed": float(np.mean(tune_seconds)),
               "requirements": len(weights), "single_requirement_seconds": single.seconds,
               "epochs": config.epochs, "train_examples": len(targets)}
    sweep = AdapterSweep(name, list(config.objectives), weights, np.asarray(config.seeds), np.asarray(run.kept_epochs),
                         np.stack(checkpoints).astype(np.float32))
    return SweepResult(sweep, pd.DataFrame(rows), pd.concat(curves), timings)


def controllability(grid: pd.DataFrame, objectives: list[str]) -> dict[str, float]:
    """Pearson r between requested weights and achieved metrics over the per-requirement means.

    r-a pairs w_acc with NDCG@10, r-d pairs w_div with alpha-NDCG@10 (both 100 candidates),
    and the same on full ranking; plus each metric's range and the mean seed-to-seed std.
    """
    pairs = {"acc": "ndcg@10", "div": "alpha_ndcg@10"}
    summary: dict[str, float] = {}
    columns = weight_columns(objectives)
    means = grid.groupby(columns)[[c for c in grid.columns if "@" in c]].mean().reset_index()
    spread = grid.groupby(columns)[[c for c in grid.columns if "@" in c]].std(ddof=1)
    for objective, metric in pairs.items():
        if objective not in objectives:
            continue
        for prefix in ("", "full_"):
            column = prefix + metric
            r = stats.pearsonr(means[f"w_{objective}"], means[column]).statistic
            rho = stats.spearmanr(means[f"w_{objective}"], means[column]).statistic
            summary[f"{prefix}pearson_{objective}"] = float(r)
            summary[f"{prefix}spearman_{objective}"] = float(rho)
            summary[f"{column}_min"] = float(means[column].min())
            summary[f"{column}_max"] = float(means[column].max())
            summary[f"{column}_seed_std"] = float(spread[column].mean()) if len(grid["seed"].unique()) > 1 else 0.0
    return summary
