"""One replicate (a seed of one backbone) and the rows of every registered method on it.

Rows are long-format DataFrames, one per (method, seed, sample, requirement) with the metrics of
`padirec.evaluation.protocol` as columns. A seed is one replicate of everything downstream of the
backbone: the sweep adapters of that seed, the generator trained on them, Retrain and the
Hypernetwork tuned with it, and its sampling noise.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from padirec.evaluation.protocol import EvaluationSet, backbone_states
from padirec.methods import lookup
from padirec.methods.generated import generate
from padirec.methods.registry import LOSS_TUNED_GUIDANCE, Request, methods_for
from padirec.methods.retrain import retrain
from padirec.models.backbones import SequentialRecommender
from padirec.pipeline.artifacts import AdapterSweep
from padirec.pipeline.config import Config
from padirec.pipeline.sections import StudyConfig
from padirec.training.adapters import TuningSet, evaluate_adapters
from padirec.training.generators import Generator, grid_subset
from padirec.training.loss_tuning import tune_on_losses


def weight_record(weights: np.ndarray, objectives: tuple[str, ...]) -> dict[str, float]:
    """{w_<objective>: weight} of one requirement vector."""
    return {f"w_{objective}": float(w) for objective, w in zip(objectives, weights)}


def metric_rows(method: str, weights: np.ndarray, adapters: torch.Tensor | np.ndarray, model: SequentialRecommender,
                states: torch.Tensor, evaluation: EvaluationSet, seed: int, objectives: tuple[str, ...],
                sample: int = 0, full_ranking: bool = True) -> pd.DataFrame:
    """Test metrics of adapters [N, P] obtained for requirement vectors [N, K] over `objectives`."""
    metrics = evaluate_adapters(model, states, adapters, evaluation, full_ranking)
    return pd.DataFrame([{"method": method, "seed": seed, "sample": sample, **weight_record(w, objectives), **m}
                         for w, m in zip(weights, metrics)])


@dataclass
class Replicate:
    """One seed of one backbone: what every method is built from."""

    seed: int
    grid_weights: np.ndarray  # [R, K] the sweep's (training) requirements
    grid_adapters: np.ndarray  # [R, P] this seed's last-epoch sweep adapters
    generator: Generator
    tuning: TuningSet  # the frozen model and its cached training states
    objectives: tuple[str, ...]
    retrain_adapters: np.ndarray | None = None  # [N, P] tuned at the evaluation grid by `retrain`
    loss_tuned: Generator | None = None  # PaDiRec + loss tuning at the chosen anchor weight (`loss_tuning_rows`)
    generated: dict = field(default_factory=dict)  # method -> [samples, N, P] of the sampled methods
    seconds: dict = field(default_factory=dict)
    # EvaluationSet -> the frozen backbone's states of that split, computed on first use (in the unit's process)
    split_states: dict = field(default_factory=dict)
    # Whether to time the slow methods (Retrain alone, MMR): seconds of tens of runs are not a replicate
    # quantity, so one seed per backbone measures them and the others skip those minutes.
    timed: bool = True
    skip: tuple[str, ...] = ()  # the study's skip_methods: registered methods it leaves out

    @property
    def model(self) -> SequentialRecommender:
        return self.tuning.model

    def states(self, evaluation: EvaluationSet) -> torch.Tensor:
        if evaluation not in self.split_states:
            self.split_states[evaluation] = backbone_states(self.model, evaluation.history)
        return self.split_states[evaluation]

    def retrain(self, weights: np.ndarray, config: Config) -> np.ndarray:
        """Retrain: adapters tuned directly at every evaluation requirement, as one stack."""
        run = retrain(self.tuning, weights, config.sweep, self.seed, list(self.objectives))
        self.retrain_adapters = run.checkpoints[:, -1]
        self.seconds["retrain_stacked"] = run.seconds / len(weights)
        # What one new requirement costs on its own (over the cached states, the cache itself not counted).
        middle = weights[len(weights) // 2:len(weights) // 2 + 1]
        if self.timed:
            self.seconds["retrain"] = retrain(self.tuning, middle, config.sweep, self.seed, list(self.objectives)).seconds
        return self.retrain_adapters

    def generate(self, weights: np.ndarray, guidance: float, samples: int) -> torch.Tensor:
        """Generated adapters [samples, N, P], sample i drawn with sampling seed (seed, i)."""
        return generate(self.generator, weights, guidance, [1000 * self.seed + i for i in range(samples)])

    def rows(self, method: str, weights: np.ndarray, adapters, evaluation: EvaluationSet, sample: int = 0,
             full_ranking: bool = True) -> pd.DataFrame:
        return metric_rows(method, weights, adapters, self.model, self.states(evaluation), evaluation, self.seed,
                           self.objectives, sample, full_ranking)


def guidance_rows(replicate: Replicate, weights: np.ndarray, scales: list[float], samples: int,
                  evaluation: EvaluationSet) -> pd.DataFrame:
    """Generated adapters at each guidance scale and Retrain, on `evaluation` (the 100-candidate protocol)."""
    frames = [replicate.rows("retrain", weights, replicate.retrain_adapters, evaluation,
                             full_ranking=False).assign(guidance=np.nan)]
    for scale in scales:
        for sample, adapters in enumerate(replicate.generate(weights, scale, samples)):
            frames.append(replicate.rows("padirec", weights, adapters, evaluation, sample,
                                         full_ranking=False).assign(guidance=scale))
    return pd.concat(frames, ignore_index=True)


def loss_tuning_rows(replicate: Replicate, anchor: AdapterSweep, weights: np.ndarray, config: Config,
                     evaluation: EvaluationSet) -> tuple[dict[float, Generator], pd.DataFrame]:
    """PaDiRec + loss tuning at every anchor weight of `evaluate.loss_tuning` (the replicate's generator tuned on the
    weighted training loss, `anchor` its training checkpoints): the tuned generators, and their generated adapters'
    rows on `evaluation` (100 candidates) with an `anchor_weight` column. Their training seconds go to
    replicate.seconds."""
    settings, tuned, frames = config.evaluate.loss_tuning, {}, []
    seconds = 0.0
    for anchor_weight in settings.anchor_weights:
        run = tune_on_losses(replicate.generator, replicate.tuning, anchor, config.sweep, settings, anchor_weight,
                             replicate.seed, list(replicate.objectives))
        tuned[anchor_weight], seconds = run.generator, seconds + run.seconds
        seeds = [1000 * replicate.seed + i for i in range(config.diffusion.samples_per_requirement)]
        for sample, adapters in enumerate(generate(run.generator, weights, LOSS_TUNED_GUIDANCE, seeds)):
            frames.append(replicate.rows("padirec_loss", weights, adapters, evaluation, sample,
                                         full_ranking=False).assign(anchor_weight=anchor_weight))
    replicate.seconds["loss_tuning_training"] = seconds / len(settings.anchor_weights)
    return tuned, pd.concat(frames, ignore_index=True)


def method_rows(replicate: Replicate, weights: np.ndarray, guidance: float, config: Config,
                evaluation: EvaluationSet) -> pd.DataFrame:
    """Every registered method with an adapter that serves the replicate's objectives, in registry order, at
    `weights` on `evaluation` (both protocols); fills replicate.seconds and replicate.generated."""
    if replicate.retrain_adapters is None:
        replicate.retrain(weights, config)
    request = Request(weights, guidance, config.diffusion.samples_per_requirement, config)
    frames = {}
    for method in [m for m in methods_for(replicate.objectives, replicate.skip) if m.obtain is not None]:
        if (twin := method.same_as(request)) is not None:  # the same adapters: copy their rows, do not re-score
            frames[method.name] = [frame.assign(method=method.name) for frame in frames[twin]]
            replicate.generated[method.name] = replicate.generated[twin]
            replicate.seconds[method.name] = replicate.seconds[twin]
            continue
        obtained = method.obtain(replicate, request)
        if method.sampled:
            replicate.generated[method.name] = obtained.adapters
        if obtained.seconds is not None:
            replicate.seconds[method.name] = obtained.seconds
        replicate.seconds.update(obtained.other_seconds or {})
        frames[method.name] = [replicate.rows(method.name, weights, adapters, evaluation, sample)
                               for sample, adapters in enumerate(obtained.adapters)]
    return pd.concat([frame for method_frames in frames.values() for frame in method_frames], ignore_index=True)


def density_rows(replicate: Replicate, generators: dict[str | None, Generator], sweep: AdapterSweep,
                 study: StudyConfig, weights: np.ndarray, guidance: float, samples: int,
                 evaluation: EvaluationSet) -> pd.DataFrame:
    """Grid-density ablation: PaDiRec, Interpolate and Nearest from the same grid of sweep adapters.

    `generators` maps each training grid's label (None for the training requirements) to the generator trained on
    it; `sweep` holds every tuned requirement. Rows carry the grid's label (`grid`) and size (`grid_size`). The
    100-candidate protocol only.
    """
    frames = []
    for grid_name, generator in generators.items():
        subset = grid_subset(sweep, study, replicate.seed, grid_name)
        grid, adapters = subset.weights, subset.checkpoints[0, :, -1]
        name = grid_name or study.main_grid
        looked_up = {"interpolate": lookup.interpolated_adapters(grid, adapters, weights),
                     "nearest": lookup.nearest_adapters(grid, adapters, weights)}
        for method, method_adapters in looked_up.items():
            frames.append(replicate.rows(method, weights, method_adapters, evaluation,
                                         full_ranking=False).assign(grid=name, grid_size=len(grid)))
        seeds = [1000 * replicate.seed + i for i in range(samples)]
        for sample, generated in enumerate(generate(generator, weights, guidance, seeds)):
            frames.append(replicate.rows("padirec", weights, generated, evaluation, sample,
                                         full_ranking=False).assign(grid=name, grid_size=len(grid)))
    return pd.concat(frames, ignore_index=True)
