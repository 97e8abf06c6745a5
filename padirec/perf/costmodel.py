"""How the pipeline's cost grows past MovieLens-100K: timings on synthetic data, and their log-log fits.

    python -m padirec.perf.bench --scale      (writes figures/scaling.json and figures/scaling.png)

Synthetic data is for timing only. Users get sequence lengths drawn from the real data set's, and
items are drawn with the real data's popularity skew (a Zipf law fitted to its item counts), so a
batch looks like a real one to the models. Every quality figure stays on real data.

Each quantity is timed over a few steps after a warm-up and scaled to a whole run by how many
steps that run has (an epoch's batches, a stage's training steps, a split's users):
- backbone epoch (SASRec, the params' settings) against interactions;
- sweep time per requirement (params.yaml's epochs, `len(study.grid)` adapters stacked) against
  interactions and against adapter parameters;
- generator training (diffusion.train_steps steps) and generation of one adapter (the params'
  sampler) against adapter parameters;
- full-ranking evaluation of one adapter against users x items.
Adapters grow by widening the backbone (hidden 64 gives 1,096 parameters, 448 gives 50,680), so
the adapter stays at the backbone's output and tuning still runs on cached states.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from padirec.pipeline.config import Config
from padirec.pipeline.sections import StudyConfig
from padirec.data.dataset import Dataset
from padirec.training.diffusion import train_diffusion
from padirec.evaluation.protocol import KS
from padirec.training.generators import build_diffusion
from padirec.evaluation.metrics import ranking_metrics
from padirec.models.backbones import adapter_size, build_backbone
from padirec.training.adapters import TuningSet, tune_adapters
from padirec.training.backbone import window_loss
from padirec.pipeline.workers import makespan

DATA_SIZES = ((1_000, 1_000), (3_000, 2_000), (10_000, 5_000), (30_000, 15_000), (100_000, 50_000))  # users, items
ADAPTER_HIDDEN = (64, 128, 256, 448)  # backbone widths: 1,096, 4,224, 16,640 and 50,680 adapter parameters
REFERENCE_ITEMS = 5_000  # catalogue of the adapter-size series
GENRES = 19
# What the README predicts from the fits: MovieLens-1M (6,040 users, 3,706 items, 575,281 ratings of
# 4 or 5) and a 50k-item catalogue with 100k users.
TARGETS = {"MovieLens-1M": {"users": 6_040, "items": 3_706, "interactions": 575_281},
           "100k users, 50k items": {"users": 100_000, "items": 50_000, "interactions": None}}


@dataclass
class Shape:
    """What sets the cost of a data set: its users' sequence lengths and its catalogue."""

    lengths: np.ndarray  # [users] interactions per user
    items: int
    popularity: np.ndarray  # [items] probability of each item, Zipf-skewed

    @property
    def interactions(self) -> int:
        return int(self.lengths.sum())


def popularity_exponent(dataset: Dataset) -> float:
    """Zipf exponent s of the real data: the slope of log(item count) against log(popularity rank)."""
    counts = np.sort(np.bincount(dataset.sequence_items, minlength=dataset.n_items + 1)[1:])[::-1]
    counts = counts[counts > 0]
    ranks = np.arange(1, len(counts) + 1)
    return float(-np.polyfit(np.log(ranks), np.log(counts), 1)[0])


def synthetic_shape(dataset: Dataset, users: int, items: int, seed: int = 0) -> Shape:
    """`users` users with lengths resampled from the real ones, over `items` items with the real skew."""
    rng = np.random.default_rng(seed)
    real = np.diff(dataset.sequence_start[1:])  # the real users' sequence lengths
    lengths = np.minimum(rng.choice(real, size=users), items)
    weights = np.arange(1, items + 1, dtype=np.float64) ** -popularity_exponent(dataset)
    return Shape(lengths, items, rng.permutation(weights / weights.sum()))


def synthetic_histories(shape: Shape, count: int, history_len: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """`count` left-padded windows [count, L] of synthetic users and their next-item targets [count, L]."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, len(shape.lengths), size=count)
    lengths = np.minimum(shape.lengths[users], history_len + 1)
    sequences = rng.choice(shape.items, size=(count, history_len + 1), p=shape.popularity) + 1
    filled = np.arange(history_len + 1)[None, :] >= history_len + 1 - lengths[:, None]  # right-aligned
    sequences = np.where(filled, sequences, 0)
    inputs, targets = sequences[:, :-1], sequences[:, 1:]
    targets = np.where(inputs > 0, targets, 0)
    return torch.as_tensor(inputs), torch.as_tensor(targets)


def item_categories(items: int, seed: int = 0) -> torch.Tensor:
    """Multi-hot genres [items + 1, 19], about 1.7 per item as in MovieLens, at least one each."""
    generator = torch.Generator().manual_seed(seed)
    categories = (torch.rand(items + 1, GENRES, generator=generator) < 1.7 / GENRES).float()
    categories[torch.arange(items + 1), torch.randint(0, GENRES, (items + 1,), generator=generator)] = 1.0
    categories[0] = 0.0
    return categories


def seconds_per_call(action, calls: int, warmup: int = 1, device: torch.device | None = None) -> float:
    """Mean wall time of action() over `calls` calls after `warmup` calls (synchronising a GPU)."""
    def sync():
        if device is not None and device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        action()
    sync()
    started = time.perf_counter()
    for _ in range(calls):
        action()
    sync()
    return (time.perf_counter() - started) / calls


def backbone_epoch_seconds(cfg: Config, shape: Shape, device: torch.device, batches: int = 8) -> float:
    """One SASRec epoch: the time of a training step times the epoch's windows / batch size."""
    settings = {**cfg.backbone.models["sasrec"], "max_len": cfg.prepare.history_len}
    model = build_backbone("sasrec", shape.items, **settings).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.backbone.lr)
    inputs, targets = synthetic_histories(shape, cfg.backbone.batch_size, cfg.prepare.history_len)
    inputs, targets = inputs.to(device), targets.to(device)
    generator = torch.Generator().manual_seed(0)

    def step():
        loss = window_loss(model, inputs, targets, cfg.backbone.train_negatives, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    windows = np.ceil(np.maximum(shape.lengths - 2, 1) / cfg.prepare.history_len).sum()  # 2 held out per user
    return seconds_per_call(step, batches, device=device) * windows / cfg.backbone.batch_size


def sweep_seconds_per_requirement(cfg: Config, study: StudyConfig, shape: Shape, hidden: int, device: torch.device,
                                  batches: int = 6) -> float:
    """Tuning `len(study.grid)` stacked adapters for the params' epochs over every training example, per
    requirement: a timed epoch over `batches` batches, scaled to the examples (2 per user held out)."""
    settings = {**cfg.backbone.models["sasrec"], "hidden": hidden, "max_len": cfg.prepare.history_len}
    model = build_backbone("sasrec", shape.items, **settings).to(device).eval()
    examples = batches * cfg.sweep.batch_size
    histories, targets = synthetic_histories(shape, examples, cfg.prepare.history_len, seed=1)
    with torch.inference_mode():
        states = model.hidden_state(histories.to(device))
    targets = targets[:, -1].clamp_min(1).to(device)
    categories = item_categories(shape.items).to(device)
    grid = np.asarray(study.grid)
    one_epoch = replace(cfg.sweep, epochs=1, keep_checkpoints=1)
    tuning = TuningSet(model, states, targets, categories)
    seconds = seconds_per_call(lambda: tune_adapters(tuning, grid, one_epoch, 0, list(study.objectives),
                                                     progress=False), 1, device=device)
    training_examples = np.maximum(shape.lengths - 2, 1).sum()
    return seconds * training_examples / examples * cfg.sweep.epochs / len(grid)


def generator_seconds(cfg: Config, study: StudyConfig, hidden: int, device: torch.device, steps: int = 3) -> tuple[float, float]:
    """(training one generator for diffusion.train_steps steps, generating one adapter) for adapters of a
    backbone of width `hidden`, with the params' denoiser and sampler."""
    size = adapter_size(hidden)
    torch.manual_seed(0)
    diffusion = build_diffusion(cfg.diffusion, size, len(study.objectives)).to(device)
    vectors = torch.randn(40, size, device=device)  # 10 requirements x 4 checkpoints, as one seed's sweep
    conditions = torch.rand(40, len(study.objectives), device=device)
    train = seconds_per_call(lambda: train_diffusion(diffusion, vectors, conditions, steps=steps,
                                                     batch_size=cfg.diffusion.batch_size, lr=cfg.diffusion.lr,
                                                     ema_decay=cfg.diffusion.ema_decay), 1, device=device)
    diffusion.eval()
    requirement = torch.full((1, len(study.objectives)), 1 / len(study.objectives), device=device)
    steps_sampled = cfg.diffusion.sample_steps if cfg.diffusion.sampler == "ddim" else None

    def sample():
        with torch.inference_mode():
            diffusion.sample(requirement, guidance_scale=cfg.diffusion.guidance, sampler=cfg.diffusion.sampler,
                             steps=steps_sampled, generator=torch.Generator().manual_seed(0))

    generate = seconds_per_call(sample, 5, device=device)
    return train / steps * cfg.diffusion.train_steps, generate


def full_ranking_seconds(shape: Shape, device: torch.device, hidden: int = 64, sample_users: int = 256) -> float:
    """Scoring every item and computing every metric for one adapter, over all users: the time for
    `sample_users` users, scaled. The ideal alpha-DCG is per split, not per adapter, so it is not timed."""
    generator = torch.Generator().manual_seed(0)
    users = min(sample_users, len(shape.lengths))
    states = torch.randn(users, hidden, generator=generator).to(device)
    embedding = torch.randn(shape.items + 1, hidden, generator=generator).to(device)
    categories = item_categories(shape.items).to(device)
    target = torch.randint(1, shape.items + 1, (users,), generator=generator).to(device)
    mask = torch.zeros(users, shape.items + 1, dtype=torch.bool, device=device)
    mask[:, 0] = True
    ideal = torch.ones(users, max(KS), device=device)

    def evaluate():
        with torch.inference_mode():
            scores = states @ embedding.T
            ranking_metrics(scores, target, categories.unsqueeze(0).expand(users, -1, -1), KS, mask=mask, ideal=ideal)

    return seconds_per_call(evaluate, 3, device=device) * len(shape.lengths) / users


def measure(cfg: Config, study: StudyConfig, dataset: Dataset, device: torch.device, progress=None) -> pd.DataFrame:
    """Every timing of the cost model, one row each: quantity, driver (what it grows with), x, seconds."""
    rows = []

    def add(quantity: str, driver: str, x: float, seconds: float, **extra) -> None:
        rows.append({"quantity": quantity, "driver": driver, "x": float(x), "seconds": seconds, **extra})
        if progress is not None:
            progress(f"{quantity} at {driver} = {x:,.0f}: {seconds:.3g} s")

    default_hidden = cfg.backbone.models["sasrec"]["hidden"]
    for users, items in DATA_SIZES:
        shape = synthetic_shape(dataset, users, items)
        size = {"users": users, "items": items, "interactions": shape.interactions}
        add("backbone epoch", "interactions", shape.interactions, backbone_epoch_seconds(cfg, shape, device), **size)
        add("sweep per requirement", "interactions", shape.interactions,
            sweep_seconds_per_requirement(cfg, study, shape, default_hidden, device), **size)
        add("full-ranking evaluation per adapter", "users x items", users * items,
            full_ranking_seconds(shape, device, default_hidden), **size)
    shape = synthetic_shape(dataset, DATA_SIZES[2][0], REFERENCE_ITEMS)
    for hidden in ADAPTER_HIDDEN:
        size = {"users": len(shape.lengths), "items": shape.items, "interactions": shape.interactions,
                "hidden": hidden}
        add("sweep per requirement", "adapter parameters", adapter_size(hidden),
            sweep_seconds_per_requirement(cfg, study, shape, hidden, device), **size)
        train, generate = generator_seconds(cfg, study, hidden, device)
        add("generator training", "adapter parameters", adapter_size(hidden), train, hidden=hidden)
        add("generation per adapter", "adapter parameters", adapter_size(hidden), generate, hidden=hidden)
    return pd.DataFrame(rows)


def fit(table: pd.DataFrame) -> pd.DataFrame:
    """Per (quantity, driver): seconds ~ a * x^slope, fitted by least squares in log-log space."""
    rows = []
    for (quantity, driver), group in table.groupby(["quantity", "driver"], sort=False):
        slope, intercept = np.polyfit(np.log(group["x"]), np.log(group["seconds"]), 1)
        rows.append({"quantity": quantity, "driver": driver, "slope": slope, "log_a": intercept,
                     "x_min": group["x"].min(), "x_max": group["x"].max()})
    return pd.DataFrame(rows)


def predict(fits: pd.DataFrame, quantity: str, driver: str, x: float) -> float:
    row = fits[(fits["quantity"] == quantity) & (fits["driver"] == driver)].iloc[0]
    return float(np.exp(row["log_a"] + row["slope"] * np.log(x)))


def predictions(fits: pd.DataFrame, cfg: Config, measured: pd.DataFrame) -> pd.DataFrame:
    """The fitted cost of the default pipeline's pieces on each of TARGETS (default adapter size)."""
    rows = []
    largest = measured[measured["driver"] == "interactions"].iloc[-1]
    for name, target in TARGETS.items():
        interactions = target["interactions"] or int(largest["interactions"])
        size = adapter_size(cfg.backbone.models["sasrec"]["hidden"])
        rows.append({"target": name, "users": target["users"], "items": target["items"], "interactions": interactions,
                     "backbone epoch s": predict(fits, "backbone epoch", "interactions", interactions),
                     "sweep s per requirement": predict(fits, "sweep per requirement", "interactions", interactions),
                     "generator training s": predict(fits, "generator training", "adapter parameters", size),
                     "generation ms": 1000 * predict(fits, "generation per adapter", "adapter parameters", size),
                     "full-ranking evaluation s per adapter":
                         predict(fits, "full-ranking evaluation per adapter", "users x items",
                                 target["users"] * target["items"])})
    return pd.DataFrame(rows)


def figure(table: pd.DataFrame, fits: pd.DataFrame, title: str) -> plt.Figure:
    """One log-log panel per driver (interactions, users x items, adapter parameters): each measured quantity and
    its fitted line, the fitted slope in the legend."""
    drivers = {"interactions": "training interactions", "users x items": "users × items (catalogue scored per user)",
               "adapter parameters": "adapter parameters"}
    drawing, axes = plt.subplots(1, len(drivers), figsize=(5.0 * len(drivers), 4.6))
    for axis, (driver, words) in zip(axes, drivers.items()):
        for quantity, group in table[table["driver"] == driver].groupby("quantity", sort=False):
            row = fits[(fits["quantity"] == quantity) & (fits["driver"] == driver)].iloc[0]
            line = np.exp(row["log_a"] + row["slope"] * np.log(group["x"]))
            (points,) = axis.plot(group["x"], group["seconds"], "o", label=f"{quantity}: slope {row['slope']:.2f}")
            axis.plot(group["x"], line, "-", color=points.get_color(), alpha=0.6)
        axis.set(xscale="log", yscale="log", ylabel="seconds (measured steps, scaled to a run)", xlabel=words,
                 title=f"cost against {words.split(' (')[0]}")
        axis.legend(fontsize=8, loc="upper left", frameon=False)
        axis.grid(True, which="major", alpha=0.3)
    drawing.suptitle(title, fontsize=10)
    drawing.tight_layout()
    return drawing


def predicted_stage_seconds(units: pd.DataFrame, stage_seconds: float, measured_workers: int, workers: int) -> float:
    """A stage's time on `workers` processes, from one measured run on `measured_workers`: what ran outside
    its units stays as it was, and each phase of `units` (padirec.pipeline.workers.unit_seconds, saved as the stage's
    timing/units.csv) takes its makespan. Unit times are taken as measured; more processes sharing memory
    bandwidth can make each unit slower, and fewer units than workers leave workers idle."""
    phases = [list(group) for _, group in units.groupby("phase", sort=False)["seconds"]]
    outside = stage_seconds - sum(makespan(phase, measured_workers) for phase in phases)
    return outside + sum(makespan(phase, workers) for phase in phases)


# ---------------------------------------------------------------------------------------------
# A stage's time on another data set, from its measured time on this one


# MovieLens-1M after preparation (rating >= 4, 5-core), estimated from its published raw counts (6,040 users,
# 3,706 rated movies, 1,000,209 ratings): every user has at least 20 ratings, so the 5-core keeps nearly all.
MOVIELENS_1M_ESTIMATE = {"users": 6_038, "items": 3_300, "interactions": 575_000}

# What each stage's time grows with, as fitted pieces (quantity, driver) of the cost model. Generator
# training grows with the adapter's size only, which the data set does not change, so `diffusion` stays
# as measured; `evaluate` runs Retrain (tuning, as the sweep) and full-ranking evaluation, so its growth
# lies between theirs. `prepare` is not in the cost model.
STAGE_PIECES = {
    "backbone": (("backbone epoch", "interactions"),),
    "sweep": (("sweep per requirement", "interactions"),),
    "diffusion": (),
    "evaluate": (("sweep per requirement", "interactions"), ("full-ranking evaluation per adapter", "users x items")),
}


def growth(fits: pd.DataFrame, quantity: str, driver: str, x_from: float, x_to: float) -> float:
    """How many times a fitted piece's cost grows from size `x_from` to `x_to`: (x_to / x_from) ** slope."""
    return predict(fits, quantity, driver, x_to) / predict(fits, quantity, driver, x_from)


def stage_growth(fits: pd.DataFrame, source: dict, target: dict) -> dict[str, tuple[float, float]]:
    """Per stage of STAGE_PIECES, the (smallest, largest) growth of its pieces from data set `source` to
    `target` (each a dict of users, items and interactions after preparation); (1, 1) for a stage whose
    pieces do not depend on the data."""
    def size(data: dict, driver: str) -> float:
        return data["interactions"] if driver == "interactions" else data["users"] * data["items"]

    found = {}
    for stage, pieces in STAGE_PIECES.items():
        factors = [growth(fits, quantity, driver, size(source, driver), size(target, driver)) for quantity, driver in pieces]
        found[stage] = (min(factors, default=1.0), max(factors, default=1.0))
    return found


def load_fits(path) -> pd.DataFrame:
    """The fits of a figures/scaling.json."""
    with open(path) as handle:
        return pd.DataFrame(json.load(handle)["fits"])
