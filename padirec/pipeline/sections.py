"""The sections of params.yaml, one dataclass each, and the checks each makes of its own values.

Each section's `problems(key)` lists what is wrong with its values (key, value, what is allowed, the
fix); padirec.pipeline.config builds them from the file and gathers every problem at once.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

from padirec.objectives import requirements

MAX_SEED = 2**32 - 1  # the largest seed numpy's legacy seeding accepts (torch takes more): valid for both


@dataclass(frozen=True)
class ColumnsConfig:
    """Column names (without the `:type` suffix) in the atomic files."""

    user: str = "user_id"  # .inter and .user
    item: str = "item_id"  # .inter and .item
    rating: str = "rating"  # .inter
    time: str = "timestamp"  # .inter
    category: str = "class"  # .item: space-separated category tokens (movie genres)
    title: str = "movie_title"  # .item: shown by `recommend`


@dataclass(frozen=True)
class DataConfig:
    name: str = "ml-100k"  # a built-in source (ml-100k, ml-1m) or the folder name under raw_dir
    raw_dir: str = "data/raw"  # download cache, relative to the repository root
    columns: ColumnsConfig = field(default_factory=ColumnsConfig)
    user_attributes: list[str] = field(default_factory=lambda: ["gender", "age"])

    def problems(self, key: str) -> list[str]:
        found = []
        if not self.name.strip():
            found.append(f"{key}.name is empty: set it to 'ml-100k', 'ml-1m' or the name of a folder under {self.raw_dir}/")
        return found


@dataclass(frozen=True)
class PrepareConfig:
    min_rating: float = 4.0  # ratings >= this are positives
    k_core: int = 5  # iterative k-core on users and items
    history_len: int = 20  # most recent items a model sees
    eval_negatives: int = 99  # sampled negatives per validation and test user
    max_users: int = 0  # 0 keeps every user; > 0 keeps the first N users by id (smoke runs)
    seed: int = 0

    def problems(self, key: str) -> list[str]:
        found = []
        if self.k_core < 1:
            found.append(f"{key}.k_core = {self.k_core}: must be at least 1 (1 disables filtering); the paper uses 5.")
        if self.history_len < 1:
            found.append(f"{key}.history_len = {self.history_len}: must be at least 1; the paper uses 20.")
        if self.eval_negatives < 1:
            found.append(f"{key}.eval_negatives = {self.eval_negatives}: must be at least 1; the paper uses 99.")
        if self.max_users < 0:
            found.append(f"{key}.max_users = {self.max_users}: must be 0 (all users) or a positive count.")
        return found + _seed_problems(self, key)


@dataclass(frozen=True)
class BackboneConfig:
    names: list[str] = field(default_factory=lambda: ["sasrec", "gru4rec"])  # backbones to train
    # Per-backbone model settings (keys of that backbone's config dataclass in padirec.models.backbones).
    models: dict = field(default_factory=dict)
    epochs: int = 50  # upper bound; early stopping on validation NDCG@10 usually ends sooner
    patience: int = 3  # epochs without improvement before stopping
    batch_size: int = 128  # training windows (of history_len positions) per step
    lr: float = 3e-3
    train_negatives: int = 9  # uniformly sampled negatives per target, resampled every epoch
    seed: int = 0

    def problems(self, key: str) -> list[str]:
        from padirec.models.backbones import BACKBONES

        found = _positive(self, key, "epochs", "patience", "batch_size", "train_negatives") + _positive_float(self, key, "lr") \
            + _seed_problems(self, key)
        if not self.names:
            found.append(f"{key}.names is empty: list at least one of {', '.join(BACKBONES)}.")
        if len(set(self.names)) != len(self.names):
            found.append(f"{key}.names = {self.names} lists a backbone twice; list each once.")
        for name in self.names:
            if name not in BACKBONES:
                found.append(f"{key}.names: unknown backbone '{name}'; known: {', '.join(BACKBONES)}.")
        for name, settings in self.models.items():
            if name not in BACKBONES:
                found.append(f"{key}.models.{name}: unknown backbone; known: {', '.join(BACKBONES)}.")
                continue
            if not isinstance(settings, dict):
                found.append(f"{key}.models.{name} must be a mapping of model settings, got {settings!r}.")
                continue
            allowed = {f.name for f in dataclasses.fields(BACKBONES[name][1])} - {"max_len"}
            for setting, value in settings.items():
                if setting not in allowed:
                    found.append(f"{key}.models.{name}.{setting} is not a known setting; allowed: {', '.join(sorted(allowed))} "
                                 "(max_len comes from prepare.history_len).")
                elif not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                    found.append(f"{key}.models.{name}.{setting} = {value!r}: must be a non-negative number.")
        return found


OBJECTIVES = ("acc", "div")  # the paper's objectives; every registered one: padirec.objectives.registry.OBJECTIVES


@dataclass(frozen=True)
class SweepConfig:
    """Adapter tuning, the same for every study (a study's requirements and seeds: StudyConfig)."""

    epochs: int = 10
    keep_checkpoints: int = 4  # adapter checkpoints kept from the last epochs of each run
    batch_size: int = 1024
    lr: float = 5e-3
    train_negatives: int = 9  # candidates per training example: the target and these negatives
    diversity_alpha: float = 0.5
    diversity_tau: float = 0.1
    diversity_normalise: bool = False  # divide the soft alpha-DCG by the ideal alpha-DCG of the candidates
    # User groups of the fairness objectives and metrics: gender (.user attribute) or activity (the most
    # active 20% of users against the rest); padirec.data.statistics.GROUPINGS.
    fair_groups: str = "gender"

    def problems(self, key: str) -> list[str]:
        from padirec.data.statistics import GROUPINGS

        found = _positive(self, key, "epochs", "keep_checkpoints", "batch_size", "train_negatives") + \
            _positive_float(self, key, "lr", "diversity_tau")
        if self.fair_groups not in GROUPINGS:
            found.append(f"{key}.fair_groups = {self.fair_groups!r}: use one of {', '.join(GROUPINGS)}.")
        if self.keep_checkpoints > self.epochs:
            found.append(f"{key}.keep_checkpoints = {self.keep_checkpoints} exceeds {key}.epochs = {self.epochs}; "
                         "keep at most one checkpoint per epoch.")
        if not 0 <= self.diversity_alpha < 1:
            found.append(f"{key}.diversity_alpha = {self.diversity_alpha}: must be in [0, 1); the paper uses 0.5.")
        return found


@dataclass(frozen=True)
class DiffusionConfig:
    steps: int = 500  # diffusion steps (the paper's)
    schedule: str = "linear"  # linear (the paper's) or cosine
    beta_start: float = 1e-5
    beta_end: float = 0.02
    prediction: str = "v"  # v (the paper's) or epsilon
    cond_drop_prob: float = 0.1  # classifier-free guidance: probability of training with the null condition
    token_size: int = 32  # the flat adapter vector is cut into tokens of this many numbers
    d_model: int = 64
    layers: int = 2
    heads: int = 4
    train_steps: int = 4000
    batch_size: int = 64
    lr: float = 3e-3
    ema_decay: float = 0.999
    normalisation: str = "per_coordinate"  # or global (one data-set-wide scale, as the authors)
    condition: str = "raw"  # how w enters the denoiser: raw, sqrt ((w, sqrt w)) or fourier (random Fourier features)
    sampler: str = "ddim"  # ddim (deterministic, sample_steps steps) or ddpm (all steps)
    sample_steps: int = 50
    guidance: float = 2.0  # default guidance scale s: pred_uncond + s * (pred_cond - pred_uncond)
    guidance_scales: list[float] = field(default_factory=lambda: [0.0, 1.0, 1.5, 2.0, 3.0])  # the ablation
    samples_per_requirement: int = 3  # generated adapters per evaluated requirement (one sampling seed each)
    seed: int = 0
    stack: int = 6  # generators trained together as one stacked model (1: one at a time); same results


    def problems(self, key: str) -> list[str]:
        from padirec.models.diffusion.denoiser import CONDITIONS
        from padirec.models.diffusion.schedule import PREDICTIONS, SCHEDULE_KINDS
        from padirec.models.diffusion.schedulers import SAMPLERS
        from padirec.training.generators import NORMALISATIONS

        found = _positive(self, key, "steps", "token_size", "d_model", "layers", "heads", "train_steps", "batch_size",
                          "sample_steps", "samples_per_requirement", "stack") + _positive_float(self, key, "lr", "beta_start", "beta_end") \
            + _seed_problems(self, key)
        for name, allowed in (("schedule", SCHEDULE_KINDS), ("prediction", PREDICTIONS), ("sampler", SAMPLERS),
                              ("normalisation", NORMALISATIONS), ("condition", CONDITIONS)):
            if getattr(self, name) not in allowed:
                found.append(f"{key}.{name} = {getattr(self, name)!r}: use {' or '.join(map(repr, allowed))}.")
        if not 0 <= self.cond_drop_prob < 1:
            found.append(f"{key}.cond_drop_prob = {self.cond_drop_prob}: must be in [0, 1); 0.1 is common.")
        if not 0 <= self.ema_decay < 1:
            found.append(f"{key}.ema_decay = {self.ema_decay}: must be in [0, 1).")
        if self.beta_end <= self.beta_start or self.beta_end >= 1:
            found.append(f"{key}.beta_end = {self.beta_end}: must exceed beta_start ({self.beta_start}) and be below 1.")
        if self.d_model % self.heads:
            found.append(f"{key}.d_model = {self.d_model} is not divisible by {key}.heads = {self.heads}.")
        if self.sample_steps > self.steps:
            found.append(f"{key}.sample_steps = {self.sample_steps} exceeds {key}.steps = {self.steps}.")
        for name in ("guidance",):
            if getattr(self, name) < 0:
                found.append(f"{key}.{name} = {getattr(self, name)}: a guidance scale must be at least 0.")
        if any(s < 0 for s in self.guidance_scales) or not self.guidance_scales:
            found.append(f"{key}.guidance_scales = {self.guidance_scales}: give at least one scale, each at least 0.")
        return found


@dataclass(frozen=True)
class HypernetworkConfig:
    """The Hypernetwork baseline: an MLP from the requirement to adapter parameters."""

    hidden: int = 64
    requirements_per_batch: int = 8  # requirements drawn uniformly on the simplex for every batch
    lr: float = 0.001

    def problems(self, key: str) -> list[str]:
        return _positive(self, key, "hidden", "requirements_per_batch") + _positive_float(self, key, "lr")


@dataclass(frozen=True)
class LossTuningConfig:
    """PaDiRec + loss tuning (DRaFT, arXiv 2309.17400): the trained generator fine-tuned by back-propagating the
    weighted training loss of the adapters it samples (deterministic DDIM), with the diffusion loss on the sweep's
    checkpoints as an anchor of weight lambda, chosen on the validation split among `anchor_weights`."""

    epochs: int = 2  # passes over the sweep's training batches
    requirements_per_batch: int = 8  # requirements drawn uniformly on the simplex (Dirichlet(1)) for every batch
    lr: float = 0.001
    grad_steps: int = 5  # DRaFT-K: back-propagate through the last K sampling steps (all of them at K = sample_steps)
    anchor_weights: list[float] = field(default_factory=lambda: [0.0, 0.1, 1.0])  # lambda candidates; 0: no anchor

    def problems(self, key: str) -> list[str]:
        found = _positive(self, key, "epochs", "requirements_per_batch", "grad_steps") + _positive_float(self, key, "lr")
        if not self.anchor_weights or any(not w >= 0 for w in self.anchor_weights) \
                or len(set(self.anchor_weights)) != len(self.anchor_weights):
            found.append(f"{key}.anchor_weights = {self.anchor_weights}: give one or more distinct weights >= 0 "
                         "(0 fine-tunes on the losses alone), e.g. [0.0, 0.1, 1.0].")
        return found


@dataclass(frozen=True)
class EvaluateConfig:
    mmr_pool: int = 100  # MMR re-ranks this many of the backbone's best-scored candidates
    hypernetwork: HypernetworkConfig = field(default_factory=HypernetworkConfig)
    loss_tuning: LossTuningConfig = field(default_factory=LossTuningConfig)

    def problems(self, key: str) -> list[str]:
        return _positive(self, key, "mmr_pool")


@dataclass(frozen=True)
class RuntimeConfig:
    """Where stages run; changes speed, not what is computed (see padirec.pipeline.runtime)."""

    device: str = "auto"  # auto (CUDA when present, else CPU), cpu, cuda, cuda:N or mps
    workers: int = 0  # processes that run a stage's independent units side by side; 0 = one per core

    def problems(self, key: str) -> list[str]:
        from padirec.pipeline.runtime import device_problem

        found = []
        if (problem := device_problem(self.device)) is not None:
            found.append(f"{key}.device = {self.device!r}: {problem}")
        if self.workers < 0:
            found.append(f"{key}.workers = {self.workers}: give 0 (one per core) or a positive number of processes.")
        return found


# The per-seed summaries a verdict can be on, and whether a lower value is better.
VERDICT_METRICS = {"hv": False, "rel_gap_unseen": True, "rel_gap_near_ends": True, "rel_gap_middle": True}
VERDICT_TESTS = ("difference", "equivalence", "noninferiority")
MAX_PRIMARY = 8  # a primary family larger than this spends its power on Holm's correction
ESSENTIAL_METHODS = ("retrain", "padirec", "interpolate", "nearest")  # the reference, the method under study and
# the baselines of every training grid's ablation: never skipped
GRID_METHODS = ("padirec", "interpolate", "nearest")  # the methods with rows per training grid


GRID_KINDS = ("listed", "adaptive", "random")  # how a training grid was made: as listed, + adaptive or + random points


def grid_order(grid: str) -> int:
    """A training grid label's place in tables and figures: by size, then listed, adaptive, random."""
    size, kind = grid.split()
    return int(size) * len(GRID_KINDS) + GRID_KINDS.index(kind)


def grid_label(size: int, kind: str) -> str:
    """How tables, figures and params name a training grid: its size and how it was made, e.g. '21 adaptive'."""
    if kind not in GRID_KINDS:
        raise ValueError(f"unknown kind of training grid {kind!r}; known: {', '.join(GRID_KINDS)}")
    return f"{size} {kind}"


@dataclass(frozen=True)
class Comparison:
    """A declared comparison (params.yaml `studies.<name>.primary`): `method` against `other` on `metric`, a
    difference test, an equivalence test (|difference| within the margin) or a non-inferiority test (not worse by
    the margin or more); the margin is `margin` times `margin_of`'s mean on the metric (default: `other`'s), e.g.
    0.01 of Retrain's HV or 0.25 of Retrain's own seed-to-seed gap."""

    OPTIONAL: ClassVar[tuple[str, ...]] = ("test", "margin", "margin_of", "method", "grid", "other_grid")

    other: str = ""
    metric: str = ""
    test: str = "difference"
    margin: float = 0.0
    margin_of: str = ""
    method: str = "padirec"
    grid: str | None = None  # a grid-density comparison: the generators of this training grid (StudyConfig.grid_labels)
    other_grid: str | None = None  # `other` on another training grid (default `grid`), e.g. adaptive against listed

    def problems(self, key: str) -> list[str]:
        from padirec.methods.registry import METHODS

        found = [f"{key}.{name} = '{value}': not a registered method; known: {', '.join(METHODS)}."
                 for name, value in (("method", self.method), ("other", self.other), ("margin_of", self.margin_of))
                 if (value or name != "margin_of") and value not in METHODS]
        if self.metric not in VERDICT_METRICS:
            found.append(f"{key}.metric = '{self.metric}': give one of {', '.join(VERDICT_METRICS)}.")
        if self.test not in VERDICT_TESTS:
            found.append(f"{key}.test = '{self.test}': give difference, equivalence or noninferiority.")
        elif self.test != "difference" and not self.margin > 0:
            found.append(f"{key}.margin = {self.margin}: an {self.test} test needs a positive margin (a fraction of "
                         f"{self.margin_of or self.other or 'the other method'}'s mean, e.g. 0.01).")
        if self.other_grid is not None and self.grid is None:
            found.append(f"{key}.other_grid = '{self.other_grid}': give `grid` too (the method's training grid).")
        if (self.grid is not None or self.other_grid is not None) and not {self.method, self.other} <= set(GRID_METHODS):
            found.append(f"{key}: only {', '.join(GRID_METHODS)} have rows per training grid; compare those, or drop "
                         "grid and other_grid to compare on the main table.")
        if self.method == self.other and (self.other_grid or self.grid) == self.grid:
            found.append(f"{key}: method and other are both '{self.method}'; compare two different methods, or one method "
                         "on two training grids (grid and other_grid).")
        return found


@dataclass(frozen=True)
class StudyConfig:
    """One requirement study: its objectives and requirement grids (params.yaml `studies.<name>`)."""

    objectives: list[str] = field(default_factory=lambda: list(OBJECTIVES))
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])  # replicates of everything after the backbone
    grid: list[list[float]] = field(default_factory=lambda: [[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]])  # training grid
    adaptive_budget: int = 0  # extra training requirements the sweep places itself (padirec.training.placement)
    random_control: bool = False  # also train a generator on the grid plus adaptive_budget random requirements
    eval_grid: list[list[float]] = field(default_factory=lambda: [[0.0, 1.0], [0.25, 0.75], [1.0, 0.0]])
    ablation_grids: list[list[list[float]]] = field(default_factory=list)  # grid-density ablation generators
    # Hypervolume reference points: one value per objective's metric, worse than any method reaches.
    hv_reference: list[float] = field(default_factory=lambda: [0.05, 0.45])
    hv_reference_full: list[float] = field(default_factory=lambda: [0.0, 0.4])
    # The declared primary comparisons of the verdicts (Holm over them); everything else is secondary.
    primary: list[Comparison] = field(default_factory=list)
    skip_methods: list[str] = field(default_factory=list)  # registered methods this study leaves out (time)

    OPTIONAL: ClassVar[tuple[str, ...]] = ("skip_methods",)

    def serves(self, method) -> bool:
        """Whether the study evaluates a registered method: it serves the objectives and is not skipped."""
        return method.supports(tuple(self.objectives)) and method.name not in self.skip_methods

    @property
    def main_grid(self) -> str:
        """The label of the main generator's training grid: the grid and its adaptive requirements."""
        return grid_label(len(self.grid) + self.adaptive_budget, "adaptive" if self.adaptive_budget else "listed")

    def grid_labels(self) -> list[str]:
        """The names of the training grids the grid-density ablation compares, by size: each ablation grid
        ("N listed"), the random control ("N random") and the main generator's ("N adaptive", or "N listed")."""
        main = len(self.grid) + self.adaptive_budget
        labels = [grid_label(len(grid), "listed") for grid in self.ablation_grids]
        labels += [grid_label(main, "random")] if self.random_control and self.adaptive_budget else []
        labels.append(self.main_grid)
        return sorted(labels, key=grid_order)

    @property
    def ablation_only(self) -> list[list[float]]:
        """The requirements of `ablation_grids` that `grid` lacks, sorted: the sweep tunes them beside the grid, for
        the ablation generators only."""
        on_grid = set(requirements.keys(self.grid))
        return [list(point) for point in sorted({point for grid in self.ablation_grids
                                                 for point in requirements.keys(grid)} - on_grid)]

    def problems(self, key: str) -> list[str]:
        from padirec.objectives.registry import OBJECTIVES as REGISTERED

        k = len(self.objectives)
        found = [f"{key}.objectives: unknown objective '{name}'; known: {', '.join(REGISTERED)}."
                 for name in self.objectives if name not in REGISTERED]
        if len(set(self.objectives)) != k or k < 2:
            found.append(f"{key}.objectives = {self.objectives}: list each objective once, at least two.")
        if len(set(self.seeds)) != len(self.seeds) or not all(0 <= s <= MAX_SEED for s in self.seeds):
            found.append(f"{key}.seeds = {self.seeds}: give seeds in 0..{MAX_SEED}, each once.")
        found += requirements.grid_problems(self.grid, f"{key}.grid", k)
        if self.adaptive_budget < 0:
            found.append(f"{key}.adaptive_budget = {self.adaptive_budget}: give 0 (the grid as listed) or the number "
                         "of extra requirements to place.")
        elif self.adaptive_budget and k > 2 and not requirements.spans_simplex(self.grid):
            found.append(f"{key}.adaptive_budget = {self.adaptive_budget}: adaptive placement splits the edges of the "
                         f"grid's triangulation, and {key}.grid lies on a face of the simplex; add requirements off it "
                         "(e.g. the corners).")
        if self.random_control and not self.adaptive_budget:
            found.append(f"{key}.random_control = true: the control draws as many random requirements as the "
                         "adaptive grid places, so it needs adaptive_budget > 0; set one or set random_control: false.")
        found += requirements.grid_problems(self.eval_grid, f"{key}.eval_grid", k)
        for index, grid in enumerate(self.ablation_grids):
            found += requirements.grid_problems(grid, f"{key}.ablation_grids[{index}]", k)
            if len(grid) < 2:
                found.append(f"{key}.ablation_grids[{index}] has {len(grid)} requirement(s): give at least two.")
        sizes = [len(grid) for grid in self.ablation_grids]
        if len(set(sizes)) != len(sizes) or not self.adaptive_budget and len(self.grid) in sizes:
            found.append(f"{key}.ablation_grids have sizes {sizes}: each must differ from the others and from the "
                         f"training grid's {len(self.grid)} (listed grids are named by size).")
        for name in ("hv_reference", "hv_reference_full"):
            point = getattr(self, name)
            if len(point) != k or any(not 0 <= v < 1 for v in point):
                found.append(f"{key}.{name} = {point}: give {k} values in [0, 1), one per objective's metric "
                             f"({', '.join(self.objectives)}), worse than every point a method can reach.")
        if self.eval_grid and not requirements.unseen(self.eval_grid, self.grid):
            found.append(f"{key}.eval_grid lies entirely on {key}.grid: no requirement is unseen by the generator, so "
                         "generalisation cannot be measured; add requirements between the grid points.")
        declared = [(c.method, c.other, c.metric, c.grid, c.other_grid) for c in self.primary]
        if len(self.primary) > MAX_PRIMARY:
            found.append(f"{key}.primary has {len(self.primary)} comparisons: declare at most {MAX_PRIMARY} (Holm's "
                         "correction over more leaves little power); the evaluation reports the rest as secondary.")
        if len(set(declared)) != len(declared):
            found.append(f"{key}.primary lists a comparison twice (the same method, other, metric and grid): "
                         "keep one.")
        labels = self.grid_labels()
        found += [f"{key}.primary[{i}].{role} = '{grid}': no generator of this study trains on that grid; give one "
                  f"of {', '.join(repr(name) for name in labels)} or leave it out." for i, c in enumerate(self.primary)
                  for role, grid in (("grid", c.grid), ("other_grid", c.other_grid))
                  if grid is not None and grid not in labels]
        from padirec.methods.registry import METHODS

        found += [f"{key}.primary[{i}].{role} = '{name}': that method does not serve a study of "
                  f"{', '.join(self.objectives)}, so the comparison could not be made; compare another method."
                  for i, c in enumerate(self.primary) for role, name in (("method", c.method), ("other", c.other))
                  if name in METHODS and not METHODS[name].supports(tuple(self.objectives))]
        found += [f"{key}.skip_methods lists '{name}': not a registered method that can be left out; give some of "
                  f"{', '.join(m for m in METHODS if m not in ESSENTIAL_METHODS)}." for name in self.skip_methods
                  if name not in METHODS or name in ESSENTIAL_METHODS]
        found += [f"{key}.primary[{i}].{role} = '{name}': {key}.skip_methods leaves that method out; compare another "
                  "method or evaluate it." for i, c in enumerate(self.primary)
                  for role, name in (("method", c.method), ("other", c.other)) if name in self.skip_methods]
        if len(self.seeds) < 2:
            found.append(f"{key}.seeds = {self.seeds}: the evaluation needs at least 2 seeds for standard "
                         "deviations and paired t-tests; 3 or more is better.")
        return found


def _seed_problems(section, key: str) -> list[str]:
    if not 0 <= section.seed <= MAX_SEED:
        return [f"{key}.seed = {section.seed}: must be an integer in 0..{MAX_SEED}."]
    return []


def _positive(section, key: str, *names: str) -> list[str]:
    return [f"{key}.{name} = {getattr(section, name)}: must be a positive integer."
            for name in names if getattr(section, name) < 1]


def _positive_float(section, key: str, *names: str) -> list[str]:
    return [f"{key}.{name} = {getattr(section, name)}: must be positive."
            for name in names if not getattr(section, name) > 0]
