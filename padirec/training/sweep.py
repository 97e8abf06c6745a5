"""The adapter sweep: every requirement of the grid, every seed, on one frozen backbone."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from padirec.pipeline.artifacts import TRAINING_SOURCES, AdapterSweep
from padirec.pipeline.sections import StudyConfig, SweepConfig
from padirec.data.dataset import Dataset
from padirec.evaluation.control import requirement_means, signed_correlations
from padirec.evaluation.protocol import EvaluationSet, backbone_states
from padirec.models.backbones import SequentialRecommender
from padirec.objectives import requirements
from padirec.objectives.registry import ObjectiveData, metric_of, metrics_of
from padirec.training.adapters import SweepRun, TuningSet, evaluate_adapters, tune_adapters
from padirec.training import placement
from padirec.pipeline.workers import run_units


@dataclass
class SweepResult:
    sweep: AdapterSweep
    grid: pd.DataFrame  # one row per (seed, requirement): weights and test metrics of the last checkpoint
    curves: pd.DataFrame  # training losses per epoch, seed and requirement
    timings: dict[str, float]
    placements: pd.DataFrame  # one row per adaptive requirement: where it went, on which edge, with what score




def run_sweep(name: str, model: SequentialRecommender, dataset: Dataset, config: SweepConfig, study: StudyConfig,
              test: EvaluationSet, valid: EvaluationSet | None = None, data: ObjectiveData | None = None,
              workers: int = 1) -> SweepResult:
    """`run_sweeps` for one backbone."""
    return run_sweeps({name: model}, dataset, config, study, test, valid, data, workers)[name]


@dataclass
class _BackboneSweep:
    """One backbone's sweep while it is built: its tuning set, requirements and adapters so far."""

    tuning: TuningSet
    weights: np.ndarray  # [R, K]
    sources: np.ndarray  # [R] grid / ablation / random / adaptive
    checkpoints: dict  # seed -> [R, keep, P]
    curves: list
    state_seconds: float
    tune_seconds: list

    def add(self, seed: int, run: SweepRun, requirement: int | None = None) -> None:
        """Append one seed's tuned adapters (and loss curves) to what is built."""
        self.tune_seconds.append(run.seconds)
        known = self.checkpoints.get(seed)
        self.checkpoints[seed] = run.checkpoints if known is None else np.concatenate([known, run.checkpoints])
        self.curves.append(run.curve.assign(seed=seed) if requirement is None
                           else run.curve.assign(seed=seed, requirement=requirement))


def run_sweeps(models: dict[str, SequentialRecommender], dataset: Dataset, config: SweepConfig, study: StudyConfig,
               test: EvaluationSet, valid: EvaluationSet | None = None, data: ObjectiveData | None = None,
               workers: int = 1) -> dict[str, SweepResult]:
    """Tune all requirements of the study's grid per backbone and seed as one stack over cached backbone states;
    then, with the study's `adaptive_budget`, place that many extra requirements where the grid is steepest on
    `valid` (`place_adaptive`).

    Each (backbone, seed) is one unit of work, run side by side on up to `workers` single-threaded
    processes (padirec.pipeline.workers): the result does not depend on the worker count.
    The study's `ablation_only` requirements, and with `random_control` as many random requirements as the
    adaptive budget (`control_requirements`), are tuned in the same stack, for the ablation generators only;
    `data` is what objectives beyond accuracy and diversity read (padirec.objectives.registry.objective_data).
    """
    extra = np.asarray(study.ablation_only, dtype=np.float64).reshape(-1, len(study.objectives))
    control = control_requirements(study)
    weights = np.vstack([np.asarray(study.grid, dtype=np.float64), extra, control])
    sources = np.array(["grid"] * len(study.grid) + ["ablation"] * len(extra) + ["random"] * len(control))
    built = {}
    for name, model in models.items():
        started = time.perf_counter()
        tuning = TuningSet.of(model, dataset, data)
        built[name] = _BackboneSweep(tuning, weights, sources, {}, [], time.perf_counter() - started, [])

    def tune(requests: dict[str, np.ndarray], label) -> dict[tuple[str, int], SweepRun]:
        """Tune requests[name] [R, K] for every backbone and seed, one unit each."""
        keys = [(name, seed) for name in requests for seed in study.seeds]
        units = [(built[name].tuning, requests[name], config, seed, study.objectives, True,
                  f"{name} seed {seed}: {label(requests[name])}, epochs") for name, seed in keys]
        return dict(zip(keys, run_units(tune_adapters, units, workers, desc=f"adapter tuning, {len(units)} (backbone, seed) units")))

    for (name, seed), run in tune({name: weights for name in built}, lambda w: f"{len(w)} requirements").items():
        kept_epochs = run.kept_epochs
        built[name].add(seed, run)
    placements = {name: pd.DataFrame() for name in built}
    if study.adaptive_budget:
        if valid is None:
            raise ValueError("the study's adaptive_budget needs the validation split: pass valid= to run_sweeps")
        placements = place_adaptive(built, study, valid, tune)
    return {name: _finish(name, sweep, config, study, test, kept_epochs, placements[name])
            for name, sweep in built.items()}


def control_requirements(study: StudyConfig) -> np.ndarray:
    """[B, K] the random control's requirements (`random_control`): as many as the adaptive budget, uniform on
    the simplex, none of them an evaluation or grid requirement; none without it."""
    k = len(study.objectives)
    if not (study.random_control and study.adaptive_budget):
        return np.empty((0, k))
    return placement.random_requirements(study.adaptive_budget, k, np.asarray(study.eval_grid, dtype=np.float64),
                                         np.asarray(study.grid, dtype=np.float64))


def place_adaptive(built: dict[str, _BackboneSweep], study: StudyConfig, valid: EvaluationSet,
                   tune) -> dict[str, pd.DataFrame]:
    """The adaptive grid: `study.adaptive_budget` times, per backbone, one extra requirement on the edge of the
    training grid's triangulation whose two ends' seed-mean validation metrics (every objective's) differ most,
    relative to the metric's mean (padirec.training.placement), tuned for every seed; the test split plays no
    part. For two objectives the edges are the intervals between neighbouring grid points. Returns, per
    backbone, where each requirement went: the round, its weights, the edge's ends and the edge's score."""
    # Evaluation requirements stay unseen; ablation-only and random points are tuned already, for other generators.
    avoid = np.vstack([np.asarray(study.eval_grid, dtype=np.float64),
                       *[sweep.weights[np.isin(sweep.sources, ("ablation", "random"))] for sweep in built.values()]])
    metric_names = metrics_of(study.objectives)
    valid_states = {name: backbone_states(sweep.tuning.model, valid.history) for name, sweep in built.items()}
    columns = requirements.columns(study.objectives)
    records = {name: [] for name in built}
    for round_ in range(1, study.adaptive_budget + 1):
        chosen = {}
        for name, sweep in built.items():
            training = np.lexsort(sweep.weights.T[::-1])  # in order of w_acc, as the rule of two objectives was
            training = training[np.isin(sweep.sources[training], TRAINING_SOURCES)]
            metrics = np.mean([[[m[key] for key in metric_names] for m in
                                evaluate_adapters(sweep.tuning.model, valid_states[name],
                                                  sweep.checkpoints[seed][training, -1], valid, full_ranking=False)]
                               for seed in study.seeds], axis=0)
            chosen[name] = placement.next_requirement(sweep.weights[training], metrics, avoid)
            records[name].append({"round": round_, **dict(zip(columns, chosen[name]["weights"])),
                                  "edge_from": _point(chosen[name]["low"]), "edge_to": _point(chosen[name]["high"]),
                                  "score": chosen[name]["score"]})
        points = {name: choice["weights"][None] for name, choice in chosen.items()}
        label = lambda w: f"adaptive requirement {requirements.key(w[0])}"  # noqa: E731
        for (name, seed), run in tune(points, label).items():
            built[name].add(seed, run, requirement=len(built[name].weights))
        for name, sweep in built.items():
            sweep.weights, sweep.sources = np.vstack([sweep.weights, points[name]]), np.append(sweep.sources, "adaptive")
    return {name: pd.DataFrame(rows).assign(backbone=name) for name, rows in records.items()}


def _point(weights: np.ndarray) -> str:
    """A requirement as tables show it, e.g. (0, 0.25, 0.75)."""
    return "(" + ", ".join(f"{w:g}" for w in requirements.key(weights)) + ")"


def _finish(name: str, built: _BackboneSweep, config: SweepConfig, study: StudyConfig, test: EvaluationSet,
            kept_epochs: list[int], placements: pd.DataFrame) -> SweepResult:
    """Order one backbone's requirements by weight, score every seed's last checkpoints on `test`, time one
    requirement alone."""
    order = np.lexsort(built.weights.T[::-1])  # the saved grid is ordered by w_acc (then the next weights)
    weights, sources = built.weights[order], built.sources[order]
    model = built.tuning.model
    test_states = backbone_states(model, test.history)
    rows, checkpoints = [], {}
    for seed in study.seeds:
        checkpoints[seed] = built.checkpoints[seed][order]
        for requirement, metrics in enumerate(evaluate_adapters(model, test_states, checkpoints[seed][:, -1], test)):
            rows.append({"backbone": name, **dict(zip(requirements.columns(study.objectives), weights[requirement])),
                         "seed": seed, "placed": sources[requirement], **metrics})
    # One requirement alone, to compare the stacked sweep with one stage per requirement.
    single = tune_adapters(built.tuning, weights[:1], config, study.seeds[0], study.objectives, progress=False)
    timings = {"state_cache_seconds": built.state_seconds, "tune_seconds_per_seed": float(np.mean(built.tune_seconds[:len(study.seeds)])),
               "requirements": len(study.grid), "first_stack_requirements": int((sources != "adaptive").sum()),
               "adaptive_requirements": int((sources == "adaptive").sum()),
               "ablation_requirements": int((sources == "ablation").sum()),
               "random_control_requirements": int((sources == "random").sum()),
               "single_requirement_seconds": single.seconds, "epochs": config.epochs,
               "train_examples": len(built.tuning.targets)}
    sweep = AdapterSweep(name, list(study.objectives), weights, np.asarray(study.seeds), np.asarray(kept_epochs),
                         np.stack([checkpoints[seed] for seed in study.seeds]).astype(np.float32), sources)
    return SweepResult(sweep, pd.DataFrame(rows), pd.concat(built.curves), timings, placements)


def controllability(grid: pd.DataFrame, objectives: list[str]) -> dict[str, float]:
    """Pearson and Spearman r between each objective's requested weight and its test metric, over the
    per-requirement means, signed so that +1 is perfect control for every metric (a lower-is-better
    metric is negated); on both protocols. Plus each metric's range and its mean seed-to-seed std."""
    summary: dict[str, float] = {}
    means = requirement_means(grid[[*requirements.columns(objectives), *[c for c in grid.columns if "@" in c]]])
    spread = grid.groupby(requirements.columns(objectives))[[c for c in grid.columns if "@" in c]].std(ddof=1)
    for objective in objectives:
        for prefix in [p for p in ("", "full_") if metric_of(objective, p) in means]:
            column = metric_of(objective, prefix)
            correlations = signed_correlations(means, [objective], prefix)
            summary[f"{prefix}pearson_{objective}"] = correlations[f"pearson_{objective}"]
            summary[f"{prefix}spearman_{objective}"] = correlations[f"spearman_{objective}"]
            summary[f"{column}_min"] = float(means[column].min())
            summary[f"{column}_max"] = float(means[column].max())
            summary[f"{column}_seed_std"] = float(spread[column].mean()) if len(grid["seed"].unique()) > 1 else 0.0
    return summary


def write_sweep_metrics(results: dict[str, SweepResult], study_name: str, objectives: list[str], backbone_metrics,
                        target) -> dict:
    """sweep_metrics.json: the backbone stage's metrics (path `backbone_metrics`) with each backbone's
    `controllability` and the study's name and objectives; written to `target` and returned."""
    import json

    from padirec.pipeline.io import write_json

    metrics = json.loads(backbone_metrics.read_text())
    for name, result in results.items():
        metrics["backbones"][name]["sweep"] = controllability(result.grid, objectives)
    metrics["study"] = {"name": study_name, "objectives": objectives}
    write_json(target, metrics)
    return metrics


def timing_table(results: dict[str, SweepResult], epochs: int, seeds: int) -> pd.DataFrame:
    """Per backbone: the sweep's timings, the forward passes the state cache saves (an estimate) and the seconds per
    requirement of the stacked tuning."""
    timing = pd.DataFrame({name: result.timings for name, result in results.items()})
    timing.loc["uncached_forward_seconds (estimate)"] = timing.loc["state_cache_seconds"] * epochs * seeds
    timing.loc["stacked_seconds_per_requirement"] = timing.loc["tune_seconds_per_seed"] / timing.loc["first_stack_requirements"]
    return timing
