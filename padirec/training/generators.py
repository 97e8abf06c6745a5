"""The parameter generator: a conditional diffusion model over flat adapter vectors.

Training data are the adapter checkpoints of the sweep (seeds x requirements x kept epochs),
each paired with its requirement vector. Vectors are normalised before diffusion (per
coordinate by default: the adapter's weight and bias coordinates have very different scales,
and one global scale, as the authors used, leaves most coordinates far below the noise).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from padirec.objectives.requirements import DECIMALS
from padirec.pipeline.artifacts import (AdapterSweep, check_finite, check_made_for, cpu_state, load_payload, load_state,
                               save_payload)
from padirec.pipeline.sections import DiffusionConfig
from padirec.models.diffusion.denoiser import ParameterDenoiser
from padirec.models.diffusion.model import Diffusion
from padirec.models.diffusion.schedule import NoiseSchedule
from padirec.training.diffusion import train_diffusion, train_diffusion_stack
from padirec.pipeline.workers import run_units

if TYPE_CHECKING:
    from padirec.pipeline.config import Config
    from padirec.pipeline.sections import StudyConfig
    from padirec.pipeline.paths import Paths

GENERATOR_FORMAT = "padirec-generator-1"
SAMPLING_KEYS = ("sampler", "sample_steps", "guidance")  # settings of generation, not of training


NORMALISATIONS = ("per_coordinate", "global")


@dataclass
class Normaliser:
    """x_normalised = (x - mean) / scale, per coordinate or with one global scale."""

    mean: Tensor  # [P]
    scale: Tensor  # [P]

    @classmethod
    def fit(cls, vectors: Tensor, kind: str) -> "Normaliser":
        if kind == "per_coordinate":
            return cls(vectors.mean(0), vectors.std(0).clamp_min(1e-8))
        if kind == "global":  # the authors' choice: one data-set-wide coefficient, no centring
            scale = vectors.abs().max().clamp_min(1e-8)
            return cls(torch.zeros(vectors.shape[1]), torch.full((vectors.shape[1],), float(scale)))
        raise ValueError(f"unknown normalisation {kind!r}: use one of {', '.join(NORMALISATIONS)}")

    def encode(self, vectors: Tensor) -> Tensor:
        return (vectors - self.mean) / self.scale

    def decode(self, vectors: Tensor) -> Tensor:
        return vectors * self.scale + self.mean


@dataclass
class Generator:
    """A trained generator: EMA denoiser, schedule and normaliser, ready to sample adapters."""

    diffusion: Diffusion
    normaliser: Normaliser
    config: DiffusionConfig
    objectives: list[str]
    n_params: int
    losses: list[float]
    train_seconds: float  # of the training that made it; NaN once loaded (not saved: it differs every run)

    def generate(self, weights: np.ndarray | Tensor, guidance: float | None = None, steps: int | None = None,
                 seed: int = 0, sampler: str | None = None) -> Tensor:
        """Flat adapter vectors [N, P] on the CPU for requirement vectors [N, K] (un-normalised); sampled on
        the device the generator lives on, with noise drawn on the CPU so a seed means the same anywhere."""
        device = next(self.diffusion.parameters()).device
        weights = torch.as_tensor(np.asarray(weights), dtype=torch.float32).to(device)
        if weights.dim() != 2 or weights.shape[1] != len(self.objectives):
            raise ValueError(f"requirements must be [N, {len(self.objectives)}] (one weight per objective "
                             f"{self.objectives}), got shape {list(weights.shape)}")
        sampler = sampler or self.config.sampler
        if steps is None and sampler == "ddim":
            steps = self.config.sample_steps
        generator = torch.Generator().manual_seed(seed)
        guidance = self.config.guidance if guidance is None else guidance
        with torch.inference_mode():
            sample = self.diffusion.sample(weights, guidance_scale=guidance, sampler=sampler, steps=steps,
                                           generator=generator)
        return self.normaliser.decode(sample.cpu())

    def save(self, path: Path, backbone: str, study_grids: dict | None = None) -> None:
        """Write the generator with the backbone it serves, so a load for another backbone is refused.

        `study_grids` ({"eval_grid": ..., "density_grids": ...}) records the study's evaluation and ablation
        grids inside the settings, before `seed`, where format padirec-generator-1 has always kept them.
        The training time is left out: it differs on every run, and the file's bytes (its DVC hash)
        must depend only on the model; train_generators records the time in its table instead.
        """
        settings = list(asdict(self.config).items())
        at = [key for key, _ in settings].index("seed")
        grids = study_grids or {"eval_grid": [], "density_grids": []}
        payload = {"format": GENERATOR_FORMAT, "backbone": backbone,
                   "config": dict(settings[:at] + list(grids.items()) + settings[at:]),
                   "objectives": self.objectives, "n_params": self.n_params,
                   "state_dict": cpu_state(self.diffusion), "mean": self.normaliser.mean,
                   "scale": self.normaliser.scale, "losses": self.losses}
        save_payload(payload, path)

    @classmethod
    def load(cls, path: Path, sampling: DiffusionConfig | None = None, backbone: str | None = None,
             objectives: list[str] | None = None, device: torch.device | str = "cpu") -> "Generator":
        """A saved generator; `sampling` (e.g. the current params' diffusion section) supplies the sampler,
        its steps and the guidance scale, which do not change the trained model. `backbone` and
        `objectives`, when given, must be the ones it was trained for."""
        payload = load_payload(path, "diffusion", "generator", GENERATOR_FORMAT,
                               keys=("backbone", "config", "objectives", "n_params", "state_dict", "mean", "scale",
                                     "losses"))
        check_made_for(path, "backbone", payload["backbone"], backbone, "diffusion")
        check_made_for(path, "objectives", payload["objectives"], objectives, "diffusion")
        n_params = payload["n_params"]
        if not isinstance(n_params, int) or n_params < 1 or not isinstance(payload["objectives"], list) \
                or not payload["objectives"] or not isinstance(payload["config"], dict):
            raise ValueError(f"{path} records n_params = {n_params!r} and objectives {payload['objectives']!r}: not a "
                             "valid generator; re-run the 'diffusion' stage (dvc repro -f diffusion).")
        for name in ("mean", "scale"):
            if not torch.is_tensor(payload[name]) or tuple(payload[name].shape) != (n_params,):
                raise ValueError(f"{path}: the normaliser's {name} does not have shape [{n_params}]; re-run the "
                                 "'diffusion' stage (dvc repro -f diffusion).")
        check_finite(path, {**payload["state_dict"], "mean": payload["mean"], "scale": payload["scale"]}, "diffusion")
        try:
            config = DiffusionConfig(**{key: value for key, value in payload["config"].items()
                                        if key not in ("eval_grid", "density_grids")})
        except TypeError as error:
            raise ValueError(f"{path} records diffusion settings this version does not know ({error}); re-run the "
                             "'diffusion' stage (dvc repro -f diffusion).") from error
        if sampling is not None:
            config = replace(config, **{key: getattr(sampling, key) for key in SAMPLING_KEYS})
        diffusion = build_diffusion(config, n_params, len(payload["objectives"]))
        load_state(diffusion, payload["state_dict"], path, "diffusion")
        diffusion.eval().to(device)
        return cls(diffusion, Normaliser(payload["mean"], payload["scale"]), config, payload["objectives"],
                   n_params, payload["losses"], float("nan"))


def build_diffusion(config: DiffusionConfig, n_params: int, cond_dim: int) -> Diffusion:
    denoiser = ParameterDenoiser(n_params, cond_dim, token_size=config.token_size, d_model=config.d_model,
                                 layers=config.layers, heads=config.heads, condition=config.condition)
    schedule = NoiseSchedule.create(config.steps, config.schedule, config.beta_start, config.beta_end)
    return Diffusion(denoiser, schedule, prediction=config.prediction, cond_drop_prob=config.cond_drop_prob)


def training_pairs(sweep: AdapterSweep) -> tuple[Tensor, Tensor]:
    """Every kept checkpoint [S * R * keep, P] with its requirement vector [S * R * keep, K]."""
    seeds, requirements, keep, n_params = sweep.checkpoints.shape
    vectors = torch.as_tensor(sweep.checkpoints.reshape(-1, n_params), dtype=torch.float32)
    weights = np.broadcast_to(sweep.weights[None, :, None, :], (seeds, requirements, keep, sweep.weights.shape[1]))
    return vectors, torch.as_tensor(weights.reshape(-1, sweep.weights.shape[1]).copy(), dtype=torch.float32)


@dataclass
class GeneratorJob:
    """One generator's training data and seed, with its model initialised from that seed."""

    sweep: AdapterSweep
    seed: int
    normaliser: "Normaliser"
    encoded: Tensor  # [N, P] normalised training vectors
    weights: Tensor  # [N, K] their requirements
    diffusion: Diffusion

    @classmethod
    def create(cls, sweep: AdapterSweep, config: DiffusionConfig, replicate: int,
               device: torch.device | str = "cpu") -> "GeneratorJob":
        """Initialisation, batches and noise are seeded by config.seed + replicate (the replicate is the
        sweep seed whose adapters are the training data); the model and its data live on `device`."""
        vectors, weights = training_pairs(sweep)
        normaliser = Normaliser.fit(vectors, config.normalisation)
        seed = config.seed + replicate
        torch.manual_seed(seed)
        diffusion = build_diffusion(config, vectors.shape[1], weights.shape[1]).to(device)
        return cls(sweep, seed, normaliser, normaliser.encode(vectors).to(device), weights.to(device), diffusion)

    def generator(self, ema, losses: list[float], config: DiffusionConfig, seconds: float) -> "Generator":
        sampling = ema.model
        sampling.eval()
        return Generator(sampling, self.normaliser, config, list(self.sweep.objectives), self.encoded.shape[1],
                         losses, seconds)


def train_generator(sweep: AdapterSweep, config: DiffusionConfig, replicate: int = 0,
                    progress: bool = True, desc: str = "generator steps",
                    device: torch.device | str = "cpu") -> Generator:
    """Fit the normaliser and train the conditional diffusion model with classifier-free guidance."""
    job = GeneratorJob.create(sweep, config, replicate, device)
    started = time.perf_counter()
    ema, losses = train_diffusion(job.diffusion, job.encoded, job.weights, steps=config.train_steps,
                                  batch_size=config.batch_size, lr=config.lr, ema_decay=config.ema_decay,
                                  seed=job.seed, progress=progress, desc=desc)
    return job.generator(ema, losses, config, time.perf_counter() - started)


def train_generator_stack(sweeps: list[AdapterSweep], config: DiffusionConfig, replicates: list[int],
                          progress: bool = True, desc: str = "generator steps",
                          device: torch.device | str = "cpu") -> list[Generator]:
    """`train_generator` for several training sets at once, as one stacked model: each generator keeps
    its own data, seed and EMA and ends as it would alone, up to floating-point order. Each one's
    `train_seconds` is its share of the stack's time."""
    jobs = [GeneratorJob.create(sweep, config, replicate, device) for sweep, replicate in zip(sweeps, replicates)]
    started = time.perf_counter()
    emas, losses = train_diffusion_stack([job.diffusion for job in jobs], [job.encoded for job in jobs],
                                         [job.weights for job in jobs], [job.seed for job in jobs],
                                         steps=config.train_steps, batch_size=config.batch_size, lr=config.lr,
                                         ema_decay=config.ema_decay, progress=progress, desc=desc)
    share = (time.perf_counter() - started) / len(jobs)
    return [job.generator(ema, history, config, share) for job, ema, history in zip(jobs, emas, losses)]


def stack_groups(count: int, stack: int) -> list[range]:
    """Which of `count` generators train together: the fewest stacks of at most `stack`, as equal in size as
    they can be (10 with stack 9: 5 and 5), so that the stacks' workers finish together."""
    stacks = -(-count // stack)
    bounds = [count * index // stacks for index in range(stacks + 1)]
    return [range(start, end) for start, end in zip(bounds, bounds[1:])]


def train_generator_stacks(sweeps: list[AdapterSweep], config: DiffusionConfig, replicates: list[int],
                           progress: bool = True, device: torch.device | str = "cpu", workers: int = 1) -> list[Generator]:
    """`train_generator_stack` over the `stack_groups` of the training sets, in order; the stacks train side by
    side on up to `workers` single-threaded processes (padirec.pipeline.workers). Which generators share a stack is set
    by `config.stack` alone, so the worker count never changes a result."""
    units = [([sweeps[i] for i in group], config, [replicates[i] for i in group], progress,
              f"generators {group.start + 1}-{group.stop} of {len(sweeps)}, stacked", device)
             for group in stack_groups(len(sweeps), config.stack)]
    trained = run_units(train_generator_stack, units, workers, desc=f"{len(units)} generator stack(s)" if progress else "")
    return [generator for stack in trained for generator in stack]


def ablation_grids(study: "StudyConfig") -> list[str]:
    """The labels of the study's ablation generators (every training grid but the main one's), by size."""
    return [name for name in study.grid_labels() if name != study.main_grid]


def grid_subset(sweep: AdapterSweep, study: "StudyConfig", seed: int, grid: str | None) -> AdapterSweep:
    """One seed's checkpoints at the requirements of a training grid: the main generator's (None), an ablation
    grid's ('N listed') or the random control's ('N random')."""
    from padirec.pipeline.sections import grid_label

    if grid is None:
        return sweep.subset(seed)
    if grid.endswith(" random"):
        return sweep.subset(seed, sweep.control_weights().tolist())
    listed = [g for g in study.ablation_grids if grid_label(len(g), "listed") == grid]
    if not listed:
        raise ValueError(f"no training grid '{grid}' in this study; known: {', '.join(study.grid_labels())}")
    return sweep.subset(seed, listed[0])


def generator_jobs(cfg: "Config", study: "StudyConfig", out: "Paths") -> list[tuple[str, int, str | None, AdapterSweep]]:
    """Every generator the evaluation needs, as (backbone, sweep seed, grid label, training subset): per backbone
    and seed, one on the training requirements (label None) and one per `ablation_grids` label: each ablation
    grid of the study ('N listed') and, with `random_control`, the grid plus the random requirements ('N random')."""
    jobs = []
    for name in cfg.backbone.names:
        sweep = AdapterSweep.load(out.sweep(name), backbone=name, objectives=study.objectives)
        for seed in study.seeds:
            jobs += [(name, seed, grid, grid_subset(sweep, study, seed, grid)) for grid in [None, *ablation_grids(study)]]
    return jobs


def train_generators(cfg: "Config", study: "StudyConfig", out: "Paths", progress: bool = True,
                     device: torch.device | str = "cpu") -> list[dict]:
    """Train (in stacks of diffusion.stack, on runtime.workers processes) and save every generator of
    `generator_jobs`; one record each."""
    jobs = generator_jobs(cfg, study, out)
    trained = train_generator_stacks([subset for *_, subset in jobs], cfg.diffusion, [seed for _, seed, *_ in jobs],
                                     progress=progress, device=device, workers=cfg.runtime.workers)
    runs = []
    stacked_with = {index: len(group) for group in stack_groups(len(jobs), cfg.diffusion.stack) for index in group}
    made_for = {"eval_grid": study.eval_grid, "density_grids": study.ablation_grids}
    for index, ((name, seed, grid, subset), generator) in enumerate(zip(jobs, trained)):
        generator.save(out.generator(name, seed, grid), name, made_for)
        runs.append({"backbone": name, "seed": seed, "grid": "full" if grid is None else grid,
                     "grid_size": len(subset.weights), "training_vectors": int(np.prod(subset.checkpoints.shape[:3])),
                     "stacked_with": stacked_with[index],
                     "train_seconds": round(generator.train_seconds, 1),
                     "final_loss": float(np.mean(generator.losses[-100:])), "losses": generator.losses})
    return runs


def nearest_training_distance(generated: Tensor, sweep: AdapterSweep) -> Tensor:
    """L2 distance from each generated vector [N, P] to its nearest training checkpoint -> [N]."""
    vectors, _ = training_pairs(sweep)
    return torch.cdist(generated.float(), vectors).min(dim=1).values


def memorisation(generated: Tensor, sweep: AdapterSweep, weights: np.ndarray, seen: set[float]) -> "pd.DataFrame":
    """Per generated adapter [samples, N, P]: distance to the nearest training checkpoint, beside the mean
    distance between the (first seed's, last-epoch) adapters of neighbouring grid requirements."""
    import pandas as pd

    distances = nearest_training_distance(generated.reshape(-1, generated.shape[-1]), sweep)
    neighbours = np.linalg.norm(np.diff(sweep.checkpoints[0, :, -1], axis=0), axis=1)
    w_acc = np.tile(weights[:, 0], generated.shape[0])  # generated is replicate-major
    return pd.DataFrame({"w_acc": w_acc, "nearest_training_distance": distances.numpy(),
                         "unseen": [round(float(w), DECIMALS) not in seen for w in w_acc],
                         "neighbour_grid_distance": float(neighbours.mean())})


def training_table(runs: list[dict]) -> "pd.DataFrame":
    """`train_generators`' records, one row per (backbone, seed, training grid), without the loss histories."""
    import pandas as pd

    return pd.DataFrame([{k: v for k, v in run.items() if k != "losses"} for run in runs]).set_index(
        ["backbone", "seed", "grid"])


def loss_curves(runs: list[dict], window: int = 50) -> "pd.DataFrame":
    """The training loss of each generator on the training requirements, smoothed over `window` steps."""
    import pandas as pd

    return pd.concat([pd.DataFrame({"step": np.arange(len(run["losses"])),
                                    "loss": pd.Series(run["losses"]).rolling(window, min_periods=1).mean(),
                                    "backbone": run["backbone"], "seed": run["seed"]})
                      for run in runs if run["grid"] == "full"])
