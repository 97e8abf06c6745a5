"""Every method on one evaluation grid: its adapters, their test metrics, and how well it follows the request.

Rows are long-format DataFrames, one per (method, seed, sample, requirement) with the metrics of
`padirec.evaluation.protocol` as columns. A seed is one replicate of everything downstream of the
backbone: the sweep adapters of that seed, the generator trained on them, Retrain and the
Hypernetwork tuned with it, and its sampling noise. Summaries are per (backbone, method, seed);
the paired t-tests compare PaDiRec with each baseline over those (backbone, seed) pairs.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from scipy import stats

from padirec.methods import baselines
from padirec.pipeline.artifacts import AdapterSweep, load_backbone
from padirec.pipeline.config import OBJECTIVES, Config
from padirec.data.dataset import Dataset
from padirec.evaluation.protocol import EvaluationSet, backbone_states, evaluate_scores
from padirec.training.generators import Generator
from padirec.evaluation.metrics import hypervolume, monotonicity_violations
from padirec.models.backbones import SequentialRecommender
from padirec.objectives.registry import OBJECTIVES as REGISTRY
from padirec.objectives.registry import ObjectiveData, objective_data
from padirec.pipeline.paths import Paths
from padirec.comparison.replication import confidence_interval
from padirec.training.backbone import evaluate_adapters, tune_adapters, tuning_tensors
from padirec.pipeline.workers import run_units

METHODS = ("padirec", "padirec_noguidance", "padirec_mean", "retrain", "nearest", "nearest_noise", "interpolate",
           "soup", "hypernetwork", "mmr")
SUMMARY_KEYS = ("hv", "pearson_*", "spearman_*", "monotonicity_violations", "rel_gap_unseen", "rel_gap_near_ends",
                "rel_gap_middle")  # pearson_* and spearman_*: one per objective


def summary_columns(columns) -> list[str]:
    """The SUMMARY_KEYS present in `columns`, in order (pearson_* and spearman_* expanded)."""
    found = []
    for key in SUMMARY_KEYS:
        found += [c for c in columns if c.startswith(key[:-1])] if key.endswith("*") else [key] * (key in columns)
    return found


def objectives_of(rows: pd.DataFrame) -> list[str]:
    """The objectives whose weight columns (w_<objective>) `rows` carries, in order."""
    return [column[2:] for column in rows.columns if column.startswith("w_")]


def gap_metrics(objectives) -> list[str]:
    """The test metric of each objective: the gap to Retrain averages its relative difference over them."""
    return [REGISTRY[objective].metric for objective in objectives]


def weight_record(weights: np.ndarray, objectives: tuple[str, ...]) -> dict[str, float]:
    """{w_<objective>: weight} of one requirement vector."""
    return {f"w_{objective}": float(w) for objective, w in zip(objectives, weights)}


def metric_rows(method: str, weights: np.ndarray, adapters: torch.Tensor | np.ndarray, model: SequentialRecommender,
                states: torch.Tensor, evaluation: EvaluationSet, seed: int, sample: int = 0,
                full_ranking: bool = True, objectives: tuple[str, ...] = OBJECTIVES) -> pd.DataFrame:
    """Test metrics of adapters [N, P] obtained for requirement vectors [N, K] over `objectives`."""
    metrics = evaluate_adapters(model, states, adapters, evaluation, full_ranking)
    return pd.DataFrame([{"method": method, "seed": seed, "sample": sample, **weight_record(w, objectives), **m}
                         for w, m in zip(weights, metrics)])


def median_seconds(action, repeats: int, warmup: int = 1) -> float:
    """Median wall time of action(i) for i = 0 .. repeats - 1, after `warmup` calls of action(0)."""
    for _ in range(warmup):
        action(0)
    times = []
    for index in range(repeats):
        started = time.perf_counter()
        action(index)
        times.append(time.perf_counter() - started)
    return float(np.median(times))


def requirement_seconds(obtain, weights: np.ndarray) -> float:
    """Median wall time of obtain(one requirement [1, K]) over the requirements, after one warm-up call."""
    return median_seconds(lambda index: obtain(weights[index:index + 1]), len(weights))


# ----------------------------------------------------------------------------- methods


@dataclass
class Replicate:
    """One seed of one backbone: what every method is built from."""

    model: SequentialRecommender
    seed: int
    grid_weights: np.ndarray  # [R, K] the sweep's (training) requirements
    grid_adapters: np.ndarray  # [R, P] this seed's last-epoch sweep adapters
    generator: Generator
    tuning: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # cached training states, targets, item categories
    retrain_adapters: np.ndarray | None = None  # [N, P] tuned at the evaluation grid by `retrain`
    generated: dict = field(default_factory=dict)  # method -> [samples, N, P] from `method_rows`
    seconds: dict = field(default_factory=dict)
    # EvaluationSet -> the frozen backbone's states of that split, computed on first use (in the unit's process)
    split_states: dict = field(default_factory=dict)
    # Whether to time the slow methods (Retrain alone, MMR): seconds of tens of runs are not a replicate
    # quantity, so one seed per backbone measures them and the others skip those minutes.
    timed: bool = True
    objectives: tuple[str, ...] = OBJECTIVES
    data: ObjectiveData | None = None  # what objectives beyond accuracy and diversity read in tuning

    def states(self, evaluation: EvaluationSet) -> torch.Tensor:
        if evaluation not in self.split_states:
            self.split_states[evaluation] = backbone_states(self.model, evaluation.history)
        return self.split_states[evaluation]

    def retrain(self, weights: np.ndarray, config: Config) -> np.ndarray:
        """Retrain: adapters tuned directly at every evaluation requirement, as one stack."""
        run = tune_adapters(self.model, *self.tuning, weights, config.sweep, self.seed, list(self.objectives),
                            progress=False, data=self.data)
        self.retrain_adapters = run.checkpoints[:, -1]
        self.seconds["retrain_stacked"] = run.seconds / len(weights)
        # What one new requirement costs on its own (over the cached states, the cache itself not counted).
        middle = weights[len(weights) // 2:len(weights) // 2 + 1]
        if self.timed:
            self.seconds["retrain"] = tune_adapters(self.model, *self.tuning, middle, config.sweep, self.seed,
                                                    list(self.objectives), progress=False, data=self.data).seconds
        return self.retrain_adapters

    def generate(self, weights: np.ndarray, guidance: float, samples: int) -> torch.Tensor:
        """Generated adapters [samples, N, P], sample i drawn with sampling seed (seed, i)."""
        return torch.stack([self.generator.generate(weights, guidance=guidance, seed=1000 * self.seed + i)
                            for i in range(samples)])


def guidance_rows(replicate: Replicate, weights: np.ndarray, scales: list[float], samples: int,
                  evaluation: EvaluationSet) -> pd.DataFrame:
    """Generated adapters at each guidance scale and Retrain, on `evaluation` (the 100-candidate protocol)."""
    states = replicate.states(evaluation)
    objectives = replicate.objectives
    frames = [metric_rows("retrain", weights, replicate.retrain_adapters, replicate.model, states, evaluation,
                          replicate.seed, full_ranking=False, objectives=objectives).assign(guidance=np.nan)]
    for scale in scales:
        for sample, adapters in enumerate(replicate.generate(weights, scale, samples)):
            frames.append(metric_rows("padirec", weights, adapters, replicate.model, states, evaluation, replicate.seed,
                                      sample, full_ranking=False, objectives=objectives).assign(guidance=scale))
    return pd.concat(frames, ignore_index=True)


def choose_guidance(rows: pd.DataFrame, unseen: list) -> tuple[float, pd.DataFrame]:
    """The scale whose generated adapters are closest to Retrain at the unseen requirements (mean over seeds)."""
    retrain = rows[rows["method"] == "retrain"]
    gaps = []
    for (scale, seed), frame in rows[rows["method"] == "padirec"].groupby(["guidance", "seed"]):
        gaps.append({"guidance": scale, "seed": seed,
                     "rel_gap_unseen": relative_gap(frame, retrain[retrain["seed"] == seed], unseen)})
    table = pd.DataFrame(gaps).groupby("guidance")["rel_gap_unseen"].agg(["mean", "std"])
    return float(table["mean"].idxmin()), table


def method_rows(replicate: Replicate, weights: np.ndarray, guidance: float, config: Config,
                evaluation: EvaluationSet) -> pd.DataFrame:
    """Every method of METHODS but MMR (`mmr_unit`) at `weights` on `evaluation` (both protocols); fills
    replicate.seconds."""
    model, seed, samples = replicate.model, replicate.seed, config.diffusion.samples_per_requirement
    objectives = replicate.objectives
    states = replicate.states(evaluation)
    if replicate.retrain_adapters is None:
        replicate.retrain(weights, config)
    grid, grid_adapters = replicate.grid_weights, replicate.grid_adapters
    frames = [metric_rows("retrain", weights, replicate.retrain_adapters, model, states, evaluation, seed, objectives=objectives)]

    for method, scale in (("padirec", guidance), ("padirec_noguidance", 1.0)):
        replicate.seconds[method] = requirement_seconds(
            lambda w, s=scale: replicate.generator.generate(w, guidance=s, seed=seed), weights)
        if method == "padirec_noguidance" and scale == guidance:  # the same adapters: copy, do not re-score
            replicate.generated[method] = replicate.generated["padirec"]
            frames += [frame.assign(method=method) for frame in frames if frame["method"].iloc[0] == "padirec"]
            continue
        replicate.generated[method] = replicate.generate(weights, scale, samples)
        frames += [metric_rows(method, weights, adapters, model, states, evaluation, seed, sample, objectives=objectives)
                   for sample, adapters in enumerate(replicate.generated[method])]
    # The mean of PaDiRec's samples in parameter space: one adapter per requirement, less sampling noise.
    frames.append(metric_rows("padirec_mean", weights, replicate.generated["padirec"].mean(0), model, states,
                              evaluation, seed, objectives=objectives))
    replicate.seconds["padirec_mean"] = requirement_seconds(
        lambda w: replicate.generate(w, guidance, samples).mean(0), weights)

    spread = baselines.sample_spread(replicate.generated["padirec"])
    nearest = baselines.nearest_adapters(grid, grid_adapters, weights)
    frames += [metric_rows("nearest_noise", weights, baselines.noisy_adapters(nearest, spread, 1000 * seed + sample),
                           model, states, evaluation, seed, sample, objectives=objectives) for sample in range(samples)]
    replicate.seconds["nearest_noise"] = requirement_seconds(
        lambda w: baselines.noisy_adapters(baselines.nearest_adapters(grid, grid_adapters, w), spread, seed), weights)
    lookups = {"nearest": baselines.nearest_adapters, "interpolate": baselines.interpolated_adapters,
               "soup": baselines.soup_adapters}
    for method, lookup in lookups.items():
        frames.append(metric_rows(method, weights, lookup(grid, grid_adapters, weights), model, states, evaluation,
                                  seed, objectives=objectives))
        replicate.seconds[method] = requirement_seconds(lambda w, f=lookup: f(grid, grid_adapters, w), weights)

    hyper = baselines.train_hypernetwork(model, *replicate.tuning, config.sweep, config.evaluate.hypernetwork, seed,
                                         objectives=list(objectives), data=replicate.data)
    frames.append(metric_rows("hypernetwork", weights, hyper.adapters(weights), model, states, evaluation, seed, objectives=objectives))
    replicate.seconds["hypernetwork"] = requirement_seconds(hyper.adapters, weights)
    replicate.seconds["hypernetwork_training"] = hyper.seconds

    return pd.concat(frames, ignore_index=True)


def mmr_unit(model: SequentialRecommender, weights: np.ndarray, evaluation: EvaluationSet, pool: int,
             timed: bool) -> tuple[pd.DataFrame, float]:
    """MMR's rows on `evaluation` (it re-ranks the bare backbone, so one backbone's seeds share them) and, when
    `timed`, its median seconds per requirement (NaN otherwise)."""
    states = backbone_states(model, evaluation.history)
    rows = mmr_rows(model, states, weights, evaluation, pool, seed=0)
    seconds = requirement_seconds(lambda w: mmr_metrics(model, states, float(w[0, 0]), evaluation, pool), weights) \
        if timed else float("nan")
    return rows, seconds


def mmr_metrics(model: SequentialRecommender, states: torch.Tensor, trade_off: float, evaluation: EvaluationSet,
                pool: int) -> dict[str, float]:
    """MMR re-ranking of the bare backbone's scores, on the candidates and over the full catalogue."""
    evaluation = evaluation.to(states.device)
    categories = evaluation.item_categories
    sampled = baselines.mmr_scores(model.score_from_state(states, evaluation.candidates), categories,
                                   evaluation.candidates, trade_off, pool=pool)
    full = baselines.mmr_scores(model.score_all_from_state(states), categories, None, trade_off, pool=pool,
                                mask=evaluation.full_mask)
    return evaluate_scores(sampled, full, evaluation)


def mmr_rows(model: SequentialRecommender, states: torch.Tensor, weights: np.ndarray, evaluation: EvaluationSet,
             pool: int, seed: int) -> pd.DataFrame:
    """MMR with trade-off lambda = w_acc (lambda = 1 is the backbone's own ranking)."""
    return pd.DataFrame([{"method": "mmr", "seed": seed, "sample": 0, "w_acc": w[0], "w_div": w[1],
                          **mmr_metrics(model, states, float(w[0]), evaluation, pool)} for w in weights])


def density_rows(replicate: Replicate, generators: dict[tuple, Generator], sweep: AdapterSweep, weights: np.ndarray,
                 guidance: float, samples: int, evaluation: EvaluationSet) -> pd.DataFrame:
    """Grid-density ablation: PaDiRec, Interpolate and Nearest from the same grid of sweep adapters.

    `generators` maps each training grid (a tuple of requirement tuples; None for the training
    requirements) to the generator trained on it; `sweep` holds every tuned requirement.
    The 100-candidate protocol only.
    """
    model, seed, objectives = replicate.model, replicate.seed, replicate.objectives
    states = replicate.states(evaluation)
    frames = []
    for grid_requirements, generator in generators.items():
        subset = sweep.subset(seed, None if grid_requirements is None else [list(w) for w in grid_requirements])
        grid, adapters = subset.weights, subset.checkpoints[0, :, -1]
        sampled = Replicate(model, seed, grid, adapters, generator, replicate.tuning, objectives=objectives)
        methods = {"interpolate": baselines.interpolated_adapters(grid, adapters, weights),
                   "nearest": baselines.nearest_adapters(grid, adapters, weights)}
        for method, method_adapters in methods.items():
            frames.append(metric_rows(method, weights, method_adapters, model, states, evaluation, seed,
                                      full_ranking=False, objectives=objectives).assign(grid_size=len(grid)))
        for sample, generated in enumerate(sampled.generate(weights, guidance, samples)):
            frames.append(metric_rows("padirec", weights, generated, model, states, evaluation, seed, sample,
                                      full_ranking=False, objectives=objectives).assign(grid_size=len(grid)))
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------- summaries


def requirement_means(rows: pd.DataFrame) -> pd.DataFrame:
    """Metrics averaged over seeds and samples, one row per requirement, ordered by the weights."""
    numeric = [c for c in rows.columns if "@" in c]
    weights = [c for c in rows.columns if c.startswith("w_")]
    return rows.groupby(weights)[numeric].mean().reset_index().sort_values(weights)


def _by_requirement(means: pd.DataFrame) -> pd.DataFrame:
    """`requirement_means` indexed by requirement key: w_acc with two objectives, the weight tuple with more."""
    weights = [c for c in means.columns if c.startswith("w_")]
    return means.set_index(weights[0] if len(weights) == 2 else weights)


def requirement_key(weights) -> float | tuple[float, ...]:
    """How the summaries name one requirement vector: its w_acc with two objectives, the whole vector with more."""
    return float(weights[0]) if len(weights) == 2 else tuple(float(w) for w in weights)


def relative_gap(method: pd.DataFrame, reference: pd.DataFrame, weights: list) -> float:
    """Mean |m - ref| / ref over the given requirements (`requirement_key`s) and each objective's metric."""
    method, reference = _by_requirement(requirement_means(method)), _by_requirement(requirement_means(reference))
    metrics = gap_metrics(objectives_of(method.reset_index()))
    gaps = [abs(method.loc[w, m] - reference.loc[w, m]) / reference.loc[w, m] for w in weights for m in metrics]
    return float(np.mean(gaps))


def unseen_requirements(weights: np.ndarray, training) -> list:
    """The keys (`requirement_key`) of the requirements `weights` [N, K] that the training requirements
    (`training`: [R, K], or their w_acc [R] with two objectives) do not hold: the generator never saw them."""
    training = np.asarray(training, dtype=np.float64)
    if training.ndim == 1:
        seen = {round(float(w), 6) for w in training}
        return [float(w[0]) for w in weights if round(float(w[0]), 6) not in seen]
    seen = {tuple(np.round(w, 6)) for w in training}
    return [requirement_key(w) for w in weights if tuple(np.round(w, 6)) not in seen]


def requirement_regions(training_w_acc: list[float], unseen: list) -> dict[str, list]:
    """The unseen requirements near the ends of the simplex and in the middle (the rest). Two objectives: near
    the ends = between the training grid's first two or last two w_acc (where the trade-off is steepest); more:
    near the edges and corners = some weight at most 0.1."""
    if unseen and isinstance(unseen[0], tuple):
        near = [w for w in unseen if min(w) <= 0.1 + 1e-9]
        return {"near_ends": near, "middle": [w for w in unseen if w not in near]}
    grid = sorted(training_w_acc)
    near = [w for w in unseen if len(grid) > 1 and (grid[0] < w < grid[1] or grid[-2] < w < grid[-1])]
    return {"near_ends": near, "middle": [w for w in unseen if w not in near]}


def summarise(rows: pd.DataFrame, reference: pd.DataFrame | None, unseen: list,
              hv_reference: tuple[float, ...] = (0.0, 0.0), prefix: str = "",
              regions: dict[str, list] | None = None) -> dict:
    """One method's control over the grid: Pearson and Spearman r of each objective's weight against its metric
    (signed: +1 is perfect control), hypervolume over the objectives' metrics, monotonicity (two objectives),
    gap (over all unseen requirements, and per region of `regions`).

    `prefix` selects the protocol: "" for the 100 candidates, "full_" for full ranking.
    """
    means = requirement_means(rows)
    objectives = objectives_of(means)
    metrics = [means[prefix + REGISTRY[objective].metric] for objective in objectives]
    better = [REGISTRY[objective].higher_is_better for objective in objectives]
    summary = {}
    for objective, metric, higher in zip(objectives, metrics, better):
        sign = 1.0 if higher else -1.0
        summary[f"pearson_{objective}"] = float(stats.pearsonr(means[f"w_{objective}"], sign * metric).statistic)
    for objective, metric, higher in zip(objectives, metrics, better):
        sign = 1.0 if higher else -1.0
        summary[f"spearman_{objective}"] = float(stats.spearmanr(means[f"w_{objective}"], sign * metric).statistic)
    summary["hv"] = hypervolume(np.stack(metrics, axis=1), hv_reference, better)
    summary["monotonicity_violations"] = (monotonicity_violations(means["w_acc"], *metrics)
                                          if len(objectives) == 2 else float("nan"))
    if reference is not None and unseen and not prefix:
        summary["rel_gap_unseen"] = relative_gap(rows, reference, unseen)
        for region, weights in (regions or {}).items():  # NaN for a region with no requirement in it
            summary[f"rel_gap_{region}"] = relative_gap(rows, reference, weights) if weights else float("nan")
    return summary


def seed_summaries(rows: pd.DataFrame, unseen: list, hv_reference: tuple[float, ...], prefix: str = "",
                   reference_rows: pd.DataFrame | None = None, by: tuple[str, ...] = (),
                   regions: dict[str, list] | None = None) -> pd.DataFrame:
    """summarise() per (backbone, method, *by, seed). The gap reference is Retrain's mean over seeds in
    `reference_rows` (default: `rows`); for Retrain itself it is the mean of the other seeds, so its gap is
    the seed-to-seed noise floor."""
    reference_rows = rows if reference_rows is None else reference_rows
    keys = ["backbone", "method", *by, "seed"]
    records = []
    for values, frame in rows.groupby(keys):
        record = dict(zip(keys, values))
        retrain = reference_rows[(reference_rows["backbone"] == record["backbone"])
                                 & (reference_rows["method"] == "retrain")]
        reference = retrain[retrain["seed"] != record["seed"]] if record["method"] == "retrain" else retrain
        records.append({**record, **summarise(frame, reference, unseen, hv_reference, prefix, regions)})
    return pd.DataFrame(records)


def paired_tests(summaries: pd.DataFrame, metric: str, method: str = "padirec",
                 alternative: str = "two-sided") -> pd.DataFrame:
    """Paired t-tests (scipy.stats.ttest_rel) of `method` against every other method on `metric`,
    paired over (backbone, seed)."""
    wide = summaries.pivot_table(index=["backbone", "seed"], columns="method", values=metric)
    records = []
    for other in [m for m in METHODS if m in wide.columns and m != method]:
        pairs = wide[[method, other]].dropna()
        difference = pairs[method] - pairs[other]
        test = stats.ttest_rel(pairs[method], pairs[other], alternative=alternative)
        records.append({"baseline": other, "metric": metric, "pairs": len(pairs),
                        f"mean_{method}": pairs[method].mean(), "mean_baseline": pairs[other].mean(),
                        "mean_difference": difference.mean(), "t": float(test.statistic), "p": float(test.pvalue)})
    return pd.DataFrame(records)


def method_summary(rows: pd.DataFrame, summaries: pd.DataFrame, backbone: str, method: str,
                   full_summaries: pd.DataFrame | None = None, seconds: pd.DataFrame | None = None) -> dict:
    """The metrics.json entry of one method on one backbone: the seed-averaged grid, every SUMMARY_KEYS value
    as the mean over seeds, with its standard deviation under `std`; with `full_summaries` the full-ranking
    HV, r-a, r-d and monotonicity under `full_ranking`, with `seconds` (as `method_rows` records them) the
    mean `seconds_per_requirement`."""
    def of(table: pd.DataFrame) -> pd.DataFrame:
        return table[(table["backbone"] == backbone) & (table["method"] == method)]

    frame, per_seed = of(rows), of(summaries)
    numeric = [c for c in frame.columns if "@" in c]
    weights = [c for c in frame.columns if c.startswith("w_")]
    entry = {"grid": [{key: round(float(value), 6) for key, value in row.items()}
                      for row in requirement_means(frame[[*weights, *numeric]]).to_dict("records")]}
    keys = summary_columns(per_seed.columns)
    for key in keys:
        entry[key] = round(float(per_seed[key].mean()), 6)
    entry["std"] = {key: round(float(per_seed[key].std(ddof=1)), 6) for key in keys}
    entry["seeds"] = int(per_seed["seed"].nunique())
    if full_summaries is not None:
        full = of(full_summaries)
        entry["full_ranking"] = {key: round(float(full[key].mean()), 6) for key in summary_columns(full.columns)
                                 if not key.startswith(("spearman", "rel_gap"))}
    if seconds is not None:
        entry["seconds_per_requirement"] = float(of(seconds_per_requirement(seconds))["seconds"].mean())
    return entry


# ----------------------------------------------------------------------------- one backbone


@dataclass
class BackboneEvaluation:
    """Everything notebook 05 shows for one backbone."""

    rows: pd.DataFrame  # METHODS on the test split, both protocols
    guidance_rows: pd.DataFrame  # generated adapters per guidance scale, and Retrain, on the validation split
    guidance: float  # the scale chosen on the validation split
    guidance_table: pd.DataFrame  # validation gap to Retrain per scale
    density_rows: pd.DataFrame  # grid-density ablation on the test split, every seed
    seconds: pd.DataFrame  # per seed: seconds to obtain one requirement's adapter, per method
    replicates: list[Replicate]


def retrain_and_guidance_unit(replicate: Replicate, weights: np.ndarray, cfg: Config,
                              valid: EvaluationSet) -> tuple[np.ndarray, dict, pd.DataFrame]:
    """One replicate's first phase: Retrain at `weights`, and the generated adapters of every guidance scale on
    the validation split (for the choice of scale)."""
    replicate.retrain(weights, cfg)
    rows = guidance_rows(replicate, weights, cfg.diffusion.guidance_scales, cfg.diffusion.samples_per_requirement,
                         valid)
    return replicate.retrain_adapters, replicate.seconds, rows


def methods_unit(replicate: Replicate, weights: np.ndarray, guidance: float, cfg: Config, test: EvaluationSet,
                 density_generators: dict, sweep: AdapterSweep) -> tuple[pd.DataFrame, pd.DataFrame, dict, dict]:
    """One replicate's second phase, at the chosen guidance scale: every method on the test split, then the
    grid-density ablation; returns the rows, the ablation's rows, the seconds and the generated adapters."""
    rows = method_rows(replicate, weights, guidance, cfg, test)
    density = density_rows(replicate, {**density_generators, None: replicate.generator}, sweep, weights, guidance,
                           cfg.diffusion.samples_per_requirement, test)
    return rows, density, replicate.seconds, replicate.generated


def evaluate_backbones(names: list[str], cfg: Config, out: Paths, dataset: Dataset, test: EvaluationSet,
                       valid: EvaluationSet, device: torch.device | str = "cpu") -> dict[str, BackboneEvaluation]:
    """Load each backbone, its sweep and generators onto `device`; run the guidance choice, every method, the
    ablation. Each (backbone, seed) replicate is a unit of work, run side by side on `cfg.runtime.workers`
    single-threaded processes (padirec.pipeline.workers), so the worker count never changes a result: first Retrain and
    the guidance rows of every replicate, then (with each backbone's chosen scale) its methods and ablation,
    beside MMR once per backbone."""
    weights = np.asarray(cfg.diffusion.eval_grid)
    objectives = tuple(cfg.sweep.objectives)
    workers = cfg.runtime.workers
    replicates, sweeps, unseen = {}, {}, {}
    for name in names:
        made_for = {"backbone": name, "objectives": cfg.sweep.objectives}
        model, _ = load_backbone(out.backbone(name), name, device)
        sweeps[name] = AdapterSweep.load(out.sweep(name), **made_for)
        training = sweeps[name].training_weights  # the study's grid and the requirements the sweep placed
        unseen[name] = unseen_requirements(weights, training[:, 0] if len(objectives) == 2 else training)
        tuning = tuning_tensors(model, dataset)
        data = objective_data(dataset, list(objectives), cfg.sweep.fair_groups, model.item_embedding.weight.device)
        replicates[name] = [
            Replicate(model, seed, training, sweeps[name].last_adapters(seed),
                      Generator.load(out.generator(name, seed), cfg.diffusion, device=device, **made_for), tuning,
                      timed=seed == cfg.sweep.seeds[0], objectives=objectives, data=data)
            for seed in cfg.sweep.seeds]
    every = [(name, replicate) for name in names for replicate in replicates[name]]

    first = run_units(retrain_and_guidance_unit, [(r, weights, cfg, valid) for _, r in every], workers,
                      desc="Retrain and guidance scales per (backbone, seed)")
    guidance, chosen, tables = {name: [] for name in names}, {}, {}
    for (name, replicate), (retrained, seconds, rows) in zip(every, first):
        replicate.retrain_adapters, replicate.seconds = retrained, seconds
        guidance[name].append(rows)
    for name in names:
        guidance[name] = pd.concat(guidance[name], ignore_index=True)
        chosen[name], tables[name] = choose_guidance(guidance[name], unseen[name])

    density_generators = {
        (name, replicate.seed): {tuple(tuple(w) for w in grid): Generator.load(
            out.generator(name, replicate.seed, len(grid)), cfg.diffusion, device=device, backbone=name,
            objectives=cfg.sweep.objectives) for grid in cfg.diffusion.density_grids}
        for name, replicate in every}
    units = [(replicate, weights, chosen[name], cfg, test, density_generators[name, replicate.seed], sweeps[name])
             for name, replicate in every]
    two_objectives = len(objectives) == 2  # MMR trades accuracy against diversity only: n/a for other studies
    mmr_units = [(replicates[name][0].model, weights, test, cfg.evaluate.mmr_pool, True) for name in names] \
        if two_objectives else []
    # One pool for both kinds of unit: the methods of every replicate, then MMR of every backbone.
    second = run_units(_unit_of_kind, [("methods", unit) for unit in units] + [("mmr", unit) for unit in mmr_units],
                       workers, desc="every method per (backbone, seed), MMR per backbone")
    mmr = dict(zip(names, second[len(units):]))
    rows, density = {name: [] for name in names}, {name: [] for name in names}
    for (name, replicate), (method_frame, density_frame, seconds, generated) in zip(every, second[:len(units)]):
        replicate.seconds, replicate.generated = seconds, generated
        rows[name].append(method_frame)
        if two_objectives:  # listed under each seed, as scored once
            rows[name].append(mmr[name][0].assign(seed=replicate.seed))
            if replicate.timed:
                replicate.seconds["mmr"] = mmr[name][1]
        density[name].append(density_frame)
    results = {}
    for name in names:
        seconds = pd.DataFrame([{"seed": r.seed, **r.seconds} for r in replicates[name]])
        results[name] = BackboneEvaluation(
            pd.concat(rows[name], ignore_index=True).assign(backbone=name), guidance[name].assign(backbone=name),
            chosen[name], tables[name], pd.concat(density[name], ignore_index=True).assign(backbone=name),
            seconds.assign(backbone=name), replicates[name])
    return results


def _unit_of_kind(kind: str, arguments: tuple):
    return {"methods": methods_unit, "mmr": mmr_unit}[kind](*arguments)


def density_summary(density: pd.DataFrame, rows: pd.DataFrame, unseen: list,
                    hv_reference: tuple[float, ...], regions: dict[str, list] | None = None) -> pd.DataFrame:
    """Per (backbone, method, training-grid size, seed): gap to Retrain (mean over seeds of `rows`) at the
    unseen requirements (and per region of `regions`), hypervolume and monotonicity violations, on the
    100-candidate protocol."""
    summaries = seed_summaries(density, unseen, hv_reference, reference_rows=rows, by=("grid_size",), regions=regions)
    gaps = ["rel_gap_unseen", *[f"rel_gap_{region}" for region in (regions or {})]]
    return summaries[["backbone", "method", "grid_size", "seed", *gaps, "hv", "monotonicity_violations"]]


def gap_by_grid(density: pd.DataFrame) -> pd.DataFrame:
    """`density_summary` as mean gaps (95% CIs over seeds) per backbone, method and training grid size, for
    every gap column it holds (all unseen requirements, near the ends, in the middle)."""
    gaps = [column for column in density.columns if column.startswith("rel_gap_")]
    grouped = density.groupby(["backbone", "method", "grid_size"])
    table = grouped[gaps].mean()
    for gap in gaps:
        table.insert(table.columns.get_loc(gap) + 1, f"{gap}_ci95", grouped[gap].agg(lambda v: confidence_interval(v)[1]))
    return table


def density_table(summary: pd.DataFrame, metric: str = "rel_gap_unseen") -> pd.DataFrame:
    """`density_summary` per training-grid size: mean and sd over seeds per method and backbone, and the
    `paired_tests` of PaDiRec against each other method over the (backbone, seed) pairs at that size."""
    records = []
    for size, frame in summary.groupby("grid_size"):
        spread = frame.groupby("method")[metric].agg(["mean", "std"])
        record = {"grid_size": size}
        for method, (mean, sd) in spread.iterrows():
            record.update({f"{method}_mean": mean, f"{method}_sd": sd})
        tests = paired_tests(frame, metric)
        record.update({f"p_padirec_vs_{baseline}": p for baseline, p in zip(tests["baseline"], tests["p"])})
        record["pairs"] = len(frame[["backbone", "seed"]].drop_duplicates())
        records.append(record)
    return pd.DataFrame(records).set_index("grid_size")


def diversity_control(rows: pd.DataFrame) -> pd.DataFrame:
    """Pearson r between w_div and each diversity measure (seed-mean grid), per backbone and method.

    alpha-NDCG rewards lists of multi-genre items whether or not they are relevant; genre coverage@10
    and intra-list distance@10 do not, so they tell whether the trade-off is more than that.
    """
    measures = ["alpha_ndcg@10", "coverage@10", "ild@10", "full_alpha_ndcg@10", "full_coverage@10", "full_ild@10"]
    records = []
    for (backbone, method), frame in rows.groupby(["backbone", "method"], sort=False):
        means = requirement_means(frame)
        records.append({"backbone": backbone, "method": method,
                        **{f"r(w_div, {m})": float(stats.pearsonr(means["w_div"], means[m]).statistic)
                           for m in measures}})
    return pd.DataFrame(records).set_index(["backbone", "method"])


def main_table(summaries: pd.DataFrame) -> pd.DataFrame:
    """Methods by backbone: HV, r-a, r-d, monotonicity violations, gaps to Retrain (means over seeds, with the
    half-width of their 95% t confidence interval for HV, r-a, r-d and the gaps). Timings are in
    `efficiency_table`: a results table holds nothing that changes from run to run."""
    grouped = summaries.groupby(["backbone", "method"], sort=False)
    table = grouped[summary_columns(summaries.columns)].mean()
    half_width = lambda values: confidence_interval(values)[1]  # noqa: E731
    table.insert(1, "hv_ci95", grouped["hv"].agg(half_width))
    retrain_hv = table.xs("retrain", level="method")["hv"] if "retrain" in table.index.get_level_values("method") else None
    if retrain_hv is not None:
        table.insert(2, "hv_vs_retrain", table["hv"] / table.index.get_level_values("backbone").map(retrain_hv))
    for key in [c for c in summaries.columns if c.startswith("pearson_")] + \
            ["rel_gap_unseen", "rel_gap_near_ends", "rel_gap_middle"]:
        if key in summaries:
            table.insert(table.columns.get_loc(key) + 1, f"{key}_ci95", grouped[key].agg(half_width))
    order = {method: index for index, method in enumerate(METHODS)}
    return table.sort_index(key=lambda index: index.map(order) if index.name == "method" else index)


def headline(main: pd.DataFrame) -> dict[tuple[str, str], dict[str, float]]:
    """Per (backbone, method) of `main_table`, the few numbers `dvc metrics show` lists: HV, HV as % of
    Retrain's, r-a, r-d, gap to Retrain at the unseen requirements."""
    columns = {"hv": ("hv", 1, 5), "hv_pct": ("hv_vs_retrain", 100, 1),
               **{f"r_{c[len('pearson_'):]}": (c, 1, 3) for c in main.columns
                  if c.startswith("pearson_") and not c.endswith("_ci95")},
               "gap": ("rel_gap_unseen", 1, 4)}
    return {key: {name: round(float(row[column]) * scale, digits) for name, (column, scale, digits) in columns.items()
                  if column in row and pd.notna(row[column])}
            for key, row in main.iterrows()}


def seconds_per_requirement(seconds: pd.DataFrame) -> pd.DataFrame:
    """Long table (backbone, seed, method, seconds) of the METHODS timings recorded by `method_rows`."""
    present = [m for m in METHODS if m in seconds.columns]
    return seconds.melt(id_vars=["backbone", "seed"], value_vars=present, var_name="method", value_name="seconds")


def efficiency_table(seconds: pd.DataFrame) -> pd.DataFrame:
    """Seconds to obtain one requirement's adapter (or scores), mean over seeds, per method (rows) and backbone."""
    return seconds_per_requirement(seconds).groupby(["backbone", "method"])["seconds"].mean().unstack("backbone")


def _with_ci(mean: float, half: float, digits: int) -> str:
    return f"{mean:.{digits}f}" if pd.isna(half) else f"{mean:.{digits}f} ± {half:.{digits}f}"


def readable_main_table(main: pd.DataFrame) -> pd.DataFrame:
    """`main_table` as text: each mean with the half-width of its 95% confidence interval over the seeds."""
    table = pd.DataFrame(index=main.index)
    table["HV"] = [_with_ci(m, h, 5) for m, h in zip(main["hv"], main["hv_ci95"])]
    table["HV / Retrain %"] = (100 * main["hv_vs_retrain"]).round(1)
    for column in [c for c in main.columns if c.startswith("pearson_") and not c.endswith("_ci95")]:
        objective = column[len("pearson_"):]
        title = {"acc": "r-a", "div": "r-d"}.get(objective, f"r-{objective}")
        table[title] = [_with_ci(m, h, 3) for m, h in zip(main[column], main[f"{column}_ci95"])]
    for key, title in (("rel_gap_unseen", "gap, unseen"), ("rel_gap_near_ends", "gap, near ends"),
                       ("rel_gap_middle", "gap, middle")):
        if key in main:
            table[title] = [_with_ci(m, h, 4) for m, h in zip(main[key], main[f"{key}_ci95"])]
    return table


def near_end_table(main: pd.DataFrame, target: float = 1.5) -> pd.DataFrame:
    """Per backbone and method: the gap to Retrain near the ends and in the middle (95% CIs), and the near-end
    gap over Retrain's own seed-to-seed gap there; `target_met` says whether that ratio is at most `target`."""
    table = pd.DataFrame(index=main.index)
    table["near_ends"] = main["rel_gap_near_ends"]
    table["near_ends_ci95"] = main["rel_gap_near_ends_ci95"]
    table["middle"] = main["rel_gap_middle"]
    table["middle_ci95"] = main["rel_gap_middle_ci95"]
    retrain = main.xs("retrain", level="method")["rel_gap_near_ends"]
    table["near_ends_vs_retrain_noise"] = table["near_ends"] / table.index.get_level_values("backbone").map(retrain)
    table[f"target_met_{target:g}x"] = table["near_ends_vs_retrain_noise"] <= target
    return table


def replication_comparisons(summaries: pd.DataFrame, density: pd.DataFrame) -> list[dict]:
    """Every verdict the evaluation states: PaDiRec against each other method on HV and on the gaps (overall,
    near the ends), and against Interpolate and Nearest at each grid-density size."""
    others = [m for m in METHODS if m != "padirec" and m in set(summaries["method"])]
    found = [{"name": "main", "metric": metric, "other": other}
             for metric in ("hv", "rel_gap_unseen", "rel_gap_near_ends")
             if metric in summaries and summaries[metric].notna().any() for other in others]
    for size in sorted(density["grid_size"].unique()):
        found += [{"name": "grid density", "metric": "rel_gap_unseen", "other": other, "by": {"grid_size": int(size)},
                   "summaries": density} for other in ("interpolate", "nearest")]
    return found
