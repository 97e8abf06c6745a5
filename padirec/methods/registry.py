"""Every way to serve a new requirement, in one registry.

A `Method` declares its name, its label in tables and sentences, what it does (notebook 05's table),
which objective sets it supports, and how it turns a replicate's materials into adapters for the
requested requirements. The evaluation (padirec.comparison) runs the registry in its order; the
command line and the benchmark call the same functions.

Registry order is the order the evaluation obtains (and lists) methods in: Retrain first, as the
reference; Nearest + noise after PaDiRec, whose sample spread it needs. Tables list methods in
TABLE_ORDER.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Protocol

import numpy as np
import torch

from padirec.methods import lookup, mmr
from padirec.methods.generated import generate
from padirec.methods.hypernetwork import train_hypernetwork
from padirec.training.adapters import TuningSet
from padirec.training.generators import Generator

if TYPE_CHECKING:
    from padirec.pipeline.config import Config


class Materials(Protocol):
    """What a method reads from one replicate (a seed of one backbone; padirec.comparison.replicate.Replicate)."""

    seed: int
    grid_weights: np.ndarray  # [R, K] the sweep's training requirements
    grid_adapters: np.ndarray  # [R, P] this seed's sweep adapters
    generator: Generator
    tuning: TuningSet  # the frozen model and its cached training states
    objectives: tuple[str, ...]
    retrain_adapters: np.ndarray | None  # Retrain's adapters at the requested requirements, tuned first
    loss_tuned: Generator | None  # PaDiRec + loss tuning's generator, tuned (and its anchor weight chosen) first
    generated: dict  # the sampled methods' adapters so far: PaDiRec's feed Nearest + noise and PaDiRec's mean


@dataclass(frozen=True)
class Request:
    """What every method is asked for: adapters at `weights` [N, K]; PaDiRec's guidance scale and samples."""

    weights: np.ndarray
    guidance: float
    samples: int
    config: "Config"


@dataclass
class Obtained:
    """A method's adapters [samples, N, P] and its seconds to serve one requirement (timings beside)."""

    adapters: torch.Tensor | np.ndarray
    seconds: float | None = None
    other_seconds: dict | None = None  # one-off costs, e.g. the hypernetwork's training


@dataclass(frozen=True)
class Method:
    name: str
    label: str
    description: str
    # Adapters for a request from one replicate; None for a method that scores without an adapter (MMR).
    obtain: Callable[[Materials, Request], Obtained] | None = None
    supports: Callable[[tuple[str, ...]], bool] = lambda objectives: True
    # The method whose adapters it repeats for this request (their rows are copied, not re-scored), or None.
    same_as: Callable[[Request], str | None] = lambda request: None
    sampled: bool = False  # one adapter per sampling seed (request.samples of them), kept on the replicate
    needs: tuple[str, ...] = ()  # methods whose adapters it reads: they come before it in the registry
    colour: str = "#7f7f7f"  # the same in every figure


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
    """Median wall time of obtain(one requirement [1, K]) over the requirements, after one warm-up call: what a
    method costs to serve one new requirement."""
    return median_seconds(lambda index: obtain(weights[index:index + 1]), len(weights))


def _sampling_seeds(replicate: Materials, samples: int) -> list[int]:
    return [1000 * replicate.seed + i for i in range(samples)]


def _generated(guidance_of: Callable[[Request], float]):
    def obtain(replicate: Materials, request: Request) -> Obtained:
        scale = guidance_of(request)
        seconds = requirement_seconds(
            lambda w: replicate.generator.generate(w, guidance=scale, seed=replicate.seed), request.weights)
        return Obtained(generate(replicate.generator, request.weights, scale,
                                 _sampling_seeds(replicate, request.samples)), seconds)
    return obtain


LOSS_TUNED_GUIDANCE = 1.0  # the task loss trains the conditional branch only, so the tuned generator samples without CFG


def _loss_tuned(replicate: Materials, request: Request) -> Obtained:
    generator, seeds = replicate.loss_tuned, _sampling_seeds(replicate, request.samples)
    if generator is None:
        raise ValueError("PaDiRec + loss tuning has no tuned generator on this replicate: run "
                         "padirec.comparison.replicate.loss_tuning_rows first (evaluate_backbones does), or skip the method")
    seconds = requirement_seconds(lambda w: generator.generate(w, guidance=LOSS_TUNED_GUIDANCE, seed=replicate.seed),
                                  request.weights)
    return Obtained(generate(generator, request.weights, LOSS_TUNED_GUIDANCE, seeds), seconds)


def _padirec_mean(replicate: Materials, request: Request) -> Obtained:
    seconds = requirement_seconds(lambda w: generate(replicate.generator, w, request.guidance,
                                                     _sampling_seeds(replicate, request.samples)).mean(0),
                                  request.weights)
    return Obtained(replicate.generated["padirec"].mean(0)[None], seconds)


def _retrain(replicate: Materials, request: Request) -> Obtained:
    return Obtained(replicate.retrain_adapters[None])  # tuned (and timed) first: `Replicate.retrain`


def _nearest_noise(replicate: Materials, request: Request) -> Obtained:
    grid, adapters, seed = replicate.grid_weights, replicate.grid_adapters, replicate.seed
    spread = lookup.sample_spread(replicate.generated["padirec"])
    nearest = lookup.nearest_adapters(grid, adapters, request.weights)
    noisy = np.stack([lookup.noisy_adapters(nearest, spread, 1000 * seed + sample) for sample in range(request.samples)])
    seconds = requirement_seconds(
        lambda w: lookup.noisy_adapters(lookup.nearest_adapters(grid, adapters, w), spread, seed), request.weights)
    return Obtained(noisy, seconds)


def _looked_up(function):
    def obtain(replicate: Materials, request: Request) -> Obtained:
        grid, adapters = replicate.grid_weights, replicate.grid_adapters
        seconds = requirement_seconds(lambda w: function(grid, adapters, w), request.weights)
        return Obtained(function(grid, adapters, request.weights)[None], seconds)
    return obtain


def _hypernetwork(replicate: Materials, request: Request) -> Obtained:
    config = request.config
    trained = train_hypernetwork(replicate.tuning, config.sweep, config.evaluate.hypernetwork, replicate.seed,
                                 list(replicate.objectives))
    return Obtained(trained.adapters(request.weights)[None], requirement_seconds(trained.adapters, request.weights),
                    {"hypernetwork_training": trained.seconds})


_REGISTERED = (
    Method("retrain", "Retrain", "tuned directly at w (the reference)", _retrain, colour="#222222"),
    Method("padirec", "PaDiRec", "the generator, guidance scale chosen on the validation split",
           _generated(lambda request: request.guidance), sampled=True, colour="#d95f02"),
    Method("padirec_noguidance", "PaDiRec without guidance", "the generator at s = 1 (plain conditional model)",
           _generated(lambda request: 1.0), sampled=True, needs=("padirec",),
           same_as=lambda request: "padirec" if request.guidance == 1.0 else None, colour="#fdae6b"),
    Method("padirec_mean", "PaDiRec, mean of its samples", "the mean of PaDiRec's samples in parameter space",
           _padirec_mean, needs=("padirec",), colour="#a63603"),
    Method("padirec_loss", "PaDiRec + loss tuning", "the generator fine-tuned on the weighted training loss of the "
           "adapters it samples (DRaFT), anchored by its diffusion loss with a weight chosen on the validation split",
           _loss_tuned, sampled=True, colour="#8c564b"),
    Method("nearest_noise", "Nearest + noise", "nearest plus Gaussian noise of the spread PaDiRec's samples show",
           _nearest_noise, needs=("padirec",), colour="#9e9ac8"),
    Method("nearest", "Nearest", "the training adapter of the nearest grid requirement (memorisation)",
           _looked_up(lookup.nearest_adapters), colour="#6a51a3"),
    Method("interpolate", "Interpolate", "linear interpolation of the two neighbouring grid adapters (three "
           "objectives: barycentric in the grid's Delaunay triangle)", _looked_up(lookup.interpolated_adapters),
           colour="#1b9e77"),
    Method("soup", "Soup", "interpolation between the adapters at the two ends of the grid (the authors' Soup; "
           "three objectives: the corners' adapters mixed by w)", _looked_up(lookup.soup_adapters),
           colour="#e7298a"),
    Method("hypernetwork", "Hypernetwork", "an MLP from w to adapter parameters, trained on the weighted loss with "
           "w sampled per batch", _hypernetwork, colour="#1f78b4"),
    Method("mmr", "MMR", "no adapter: MMR re-ranking of the bare backbone's scores with lambda = w_acc",
           supports=lambda objectives: tuple(objectives) == mmr.OBJECTIVES, colour="#b8a000"),
)
METHODS: dict[str, Method] = {method.name: method for method in _REGISTERED}
TABLE_ORDER = ("padirec", "padirec_noguidance", "padirec_mean", "padirec_loss", "retrain", "nearest", "nearest_noise", "interpolate",
               "soup", "hypernetwork", "mmr")
assert set(TABLE_ORDER) == set(METHODS), "every registered method has its place in the tables"
assert all(list(METHODS).index(need) < list(METHODS).index(name) for name, method in METHODS.items()
           for need in method.needs), "a method comes after the methods it needs"


def methods_for(objectives, skip=()) -> list[Method]:
    """The registered methods that serve a study of these objectives, in registry order; those named in `skip`
    (a study's `skip_methods`) left out."""
    return [method for method in METHODS.values() if method.supports(tuple(objectives)) and method.name not in skip]


def colours(names) -> dict[str, str]:
    """Each method's colour (its registry entry's), for figure palettes."""
    return {name: METHODS[name].colour for name in names}


def label(name: str) -> str:
    """How tables and sentences name a method."""
    return METHODS[name].label if name in METHODS else name
