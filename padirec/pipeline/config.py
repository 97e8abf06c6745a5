"""params.yaml as typed, validated objects.

`load_config` reads the whole file, checks every section at once and raises one `ConfigError`
listing every problem (key, value, what is allowed, how to fix it), before any stage does work.
Unknown keys are errors, so a typo such as `lerning_rate` is never silently ignored; so are missing
ones in a file, so an empty or truncated params file never runs on silent defaults.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

SMOKE_PARAMS = Path(__file__).with_name("smoke.yaml")
MAX_SEED = 2**32 - 1  # the largest seed numpy's legacy seeding accepts (torch takes more): valid for both


class ConfigError(ValueError):
    """One or more invalid values in a params file."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{source} has {len(problems)} problem(s):\n{listing}")


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
    name: str = "ml-100k"  # a built-in source (ml-100k) or the folder name under raw_dir
    raw_dir: str = "data/raw"  # download cache, relative to the repository root
    columns: ColumnsConfig = field(default_factory=ColumnsConfig)
    user_attributes: list[str] = field(default_factory=lambda: ["gender", "age"])

    def problems(self, key: str) -> list[str]:
        found = []
        if not self.name.strip():
            found.append(f"{key}.name is empty: set it to 'ml-100k' or the name of a folder under {self.raw_dir}/")
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


def _from_study(default_factory=None, default=None):
    """A setting each study gives (studies.<name>.<key>); `Config.for_study` fills it in."""
    if default_factory is not None:
        return field(default_factory=default_factory, metadata={"study": True})
    return field(default=default, metadata={"study": True})


@dataclass(frozen=True)
class SweepConfig:
    objectives: list[str] = _from_study(lambda: list(OBJECTIVES))
    # Requirement vectors on the simplex, one weight per objective; the generator's training grid.
    grid: list[list[float]] = _from_study(lambda: [[w, round(1 - w, 10)] for w in
                                                   (0.0, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 1.0)])
    seeds: list[int] = _from_study(lambda: [0, 1, 2])
    epochs: int = 10
    keep_checkpoints: int = 4  # adapter checkpoints kept from the last epochs of each run
    batch_size: int = 1024
    lr: float = 5e-3
    train_negatives: int = 9  # candidates per training example: the target and these negatives
    diversity_alpha: float = 0.5
    diversity_tau: float = 0.1
    diversity_normalise: bool = False  # divide the soft alpha-DCG by the ideal alpha-DCG of the candidates
    # Extra training requirements the sweep places itself, one at a time, at the middle of the grid interval
    # where the validation metrics change most (padirec.training.sweep.steepest_interval); 0 keeps the grid as given.
    adaptive_budget: int = _from_study(default=0)
    # User groups of the fairness objectives and metrics: gender (.user attribute) or activity (the most
    # active 20% of users against the rest); padirec.objectives.registry.GROUPINGS.
    fair_groups: str = "gender"
    # Extra requirements tuned beside the grid for the ablation generators only (Config.for_study).
    ablation_only: list[list[float]] = _from_study(lambda: [])

    def problems(self, key: str) -> list[str]:
        from padirec.objectives.registry import GROUPINGS

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
    sampler: str = "ddim"  # ddim (deterministic, sample_steps steps) or ddpm (all steps)
    sample_steps: int = 50
    guidance: float = 2.0  # default guidance scale s: pred_uncond + s * (pred_cond - pred_uncond)
    guidance_scales: list[float] = field(default_factory=lambda: [0.0, 1.0, 1.5, 2.0, 3.0])  # the ablation
    samples_per_requirement: int = 3  # generated adapters per evaluated requirement (one sampling seed each)
    # Evaluation requirements: the generator never trains on those absent from sweep.grid.
    eval_grid: list[list[float]] = _from_study(lambda: [[round(w / 10, 10), round(1 - w / 10, 10)] for w in range(11)])
    # Grid-density ablation: extra generators trained on these requirement grids (tuned by the sweep).
    density_grids: list[list[list[float]]] = _from_study(list)
    seed: int = 0
    stack: int = 6  # generators trained together as one stacked model (1: one at a time); same results


    def problems(self, key: str) -> list[str]:
        found = _positive(self, key, "steps", "token_size", "d_model", "layers", "heads", "train_steps", "batch_size",
                          "sample_steps", "samples_per_requirement", "stack") + _positive_float(self, key, "lr", "beta_start", "beta_end") \
            + _seed_problems(self, key)
        if self.schedule not in ("linear", "cosine"):
            found.append(f"{key}.schedule = {self.schedule!r}: use 'linear' or 'cosine'.")
        if self.prediction not in ("v", "epsilon"):
            found.append(f"{key}.prediction = {self.prediction!r}: use 'v' or 'epsilon'.")
        if self.sampler not in ("ddim", "ddpm"):
            found.append(f"{key}.sampler = {self.sampler!r}: use 'ddim' or 'ddpm'.")
        if self.normalisation not in ("per_coordinate", "global"):
            found.append(f"{key}.normalisation = {self.normalisation!r}: use 'per_coordinate' or 'global'.")
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
class EvaluateConfig:
    # Hypervolume reference point (NDCG@10, alpha-NDCG@10), the same for every method and backbone.
    hv_reference: list[float] = _from_study(lambda: [0.05, 0.45])
    hv_reference_full: list[float] = _from_study(lambda: [0.0, 0.4])  # the same, under full ranking
    mmr_pool: int = 100  # MMR re-ranks this many of the backbone's best-scored candidates
    hypernetwork: HypernetworkConfig = field(default_factory=HypernetworkConfig)

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


@dataclass(frozen=True)
class StudyConfig:
    """One requirement study: its objectives and requirement grids (params.yaml `studies.<name>`)."""

    objectives: list[str] = field(default_factory=lambda: list(OBJECTIVES))
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])  # replicates of everything after the backbone
    grid: list[list[float]] = field(default_factory=lambda: [[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]])  # training grid
    adaptive_budget: int = 0  # extra training requirements the sweep places itself (two objectives only)
    eval_grid: list[list[float]] = field(default_factory=lambda: [[0.0, 1.0], [0.25, 0.75], [1.0, 0.0]])
    ablation_grids: list[list[list[float]]] = field(default_factory=list)  # grid-density ablation generators
    # Hypervolume reference points: one value per objective's metric, worse than any method reaches.
    hv_reference: list[float] = field(default_factory=lambda: [0.05, 0.45])
    hv_reference_full: list[float] = field(default_factory=lambda: [0.0, 0.4])

    def problems(self, key: str) -> list[str]:
        from padirec.objectives.registry import OBJECTIVES as REGISTERED

        k = len(self.objectives)
        found = [f"{key}.objectives: unknown objective '{name}'; known: {', '.join(REGISTERED)}."
                 for name in self.objectives if name not in REGISTERED]
        if len(set(self.objectives)) != k or k < 2:
            found.append(f"{key}.objectives = {self.objectives}: list each objective once, at least two.")
        if len(set(self.seeds)) != len(self.seeds) or not all(0 <= s <= MAX_SEED for s in self.seeds):
            found.append(f"{key}.seeds = {self.seeds}: give seeds in 0..{MAX_SEED}, each once.")
        found += requirement_problems(self.grid, f"{key}.grid", k)
        if self.adaptive_budget < 0:
            found.append(f"{key}.adaptive_budget = {self.adaptive_budget}: give 0 (the grid as listed) or the number "
                         "of extra requirements to place.")
        elif self.adaptive_budget and k != 2:
            found.append(f"{key}.adaptive_budget = {self.adaptive_budget}: adaptive placement splits intervals of a "
                         f"one-dimensional grid, so it needs 2 objectives, not {k}; set it to 0.")
        found += requirement_problems(self.eval_grid, f"{key}.eval_grid", k)
        for index, grid in enumerate(self.ablation_grids):
            found += requirement_problems(grid, f"{key}.ablation_grids[{index}]", k)
            if len(grid) < 2:
                found.append(f"{key}.ablation_grids[{index}] has {len(grid)} requirement(s): give at least two.")
        sizes = [len(grid) for grid in self.ablation_grids]
        if len(set(sizes)) != len(sizes) or len(self.grid) + self.adaptive_budget in sizes:
            found.append(f"{key}.ablation_grids have sizes {sizes}: each must differ from the others and from the "
                         f"training grid's {len(self.grid) + self.adaptive_budget} (generators are named by size).")
        for name in ("hv_reference", "hv_reference_full"):
            point = getattr(self, name)
            if len(point) != k or any(not 0 <= v < 1 for v in point):
                found.append(f"{key}.{name} = {point}: give {k} values in [0, 1), one per objective's metric "
                             f"({', '.join(self.objectives)}), worse than every point a method can reach.")
        training = {tuple(round(w, 6) for w in weights) for weights in self.grid}
        if self.eval_grid and all(tuple(round(w, 6) for w in weights) in training for weights in self.eval_grid):
            found.append(f"{key}.eval_grid lies entirely on {key}.grid: no requirement is unseen by the generator, so "
                         "generalisation cannot be measured; add requirements between the grid points.")
        if len(self.seeds) < 2:
            found.append(f"{key}.seeds = {self.seeds}: the evaluation needs at least 2 seeds for standard "
                         "deviations and paired t-tests; 3 or more is better.")
        return found


@dataclass(frozen=True)
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    prepare: PrepareConfig = field(default_factory=PrepareConfig)
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    studies: dict[str, StudyConfig] = field(default_factory=lambda: {"paper": StudyConfig()})
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)

    def for_study(self, name: str) -> "Config":
        """This configuration with study `name`'s objectives, seeds and grids in the sweep, diffusion and
        evaluate sections, where the stages read them."""
        if name not in self.studies:
            raise ValueError(f"unknown study {name!r}; params.yaml defines {', '.join(self.studies)} "
                             "(add it under studies:).")
        study = self.studies[name]
        on_grid = {tuple(round(w, 6) for w in weights) for weights in study.grid}
        extra = sorted({tuple(round(w, 6) for w in weights) for grid in study.ablation_grids for weights in grid}
                       - on_grid)
        sweep = dataclasses.replace(self.sweep, objectives=list(study.objectives), grid=study.grid,
                                    seeds=list(study.seeds), adaptive_budget=study.adaptive_budget,
                                    ablation_only=[list(point) for point in extra])
        diffusion = dataclasses.replace(self.diffusion, eval_grid=study.eval_grid, density_grids=study.ablation_grids)
        evaluate = dataclasses.replace(self.evaluate, hv_reference=study.hv_reference,
                                       hv_reference_full=study.hv_reference_full)
        return dataclasses.replace(self, sweep=sweep, diffusion=diffusion, evaluate=evaluate)

    def problems(self, key: str) -> list[str]:
        if not self.studies:
            return ["studies is empty: give at least one study (see the repository's params.yaml)."]
        return []  # each study checks itself (StudyConfig.problems)


def requirement_problem(weights: list[float], n_objectives: int) -> str | None:
    """What is wrong with one requirement vector (length, finiteness, range, simplex), or None."""
    if len(weights) != n_objectives:
        return f"needs {n_objectives} weights, one per objective."
    if any(not math.isfinite(w) for w in weights):
        return "every weight must be a finite number in [0, 1]."
    if any(not 0 <= w <= 1 for w in weights):
        return "every weight must lie in [0, 1]."
    if abs(sum(weights) - 1) > 1e-6:
        return f"weights sum to {sum(weights):g}, they must sum to 1 (a point on the simplex)."
    return None


def requirement_problems(grid: list[list[float]], key: str, n_objectives: int) -> list[str]:
    """A grid of requirement vectors must be non-empty, on the simplex, and without duplicates."""
    if not grid:
        return [f"{key} is empty: give at least one requirement vector, e.g. [[1.0, 0.0]]."]
    found = [f"{key}[{index}] = {weights}: {problem}" for index, weights in enumerate(grid)
             if (problem := requirement_problem(weights, n_objectives)) is not None]
    rounded = [tuple(round(w, 6) for w in weights) for weights in grid]
    duplicates = sorted({point for point in rounded if rounded.count(point) > 1})
    if duplicates:
        found.append(f"{key} lists {', '.join(map(str, duplicates))} more than once; keep each requirement once.")
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


def load_config(path: str | Path | None = None) -> Config:
    """Load and validate a params file; None loads the packaged smoke configuration.

    A file must give every section and every key: an empty or truncated file is an error, not defaults.
    """
    path = Path(path) if path is not None else SMOKE_PARAMS
    if not path.exists():
        raise FileNotFoundError(f"params file {path} does not exist; pass the path of params.yaml.")
    if not path.is_file():
        raise ConfigError(str(path), ["is not a file: pass the path of a params file such as params.yaml."])
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(str(path), [f"cannot be read as UTF-8 text ({error}): pass a readable params file."]) from error
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        where = " ".join(str(error).split())  # PyYAML's message spans lines
        raise ConfigError(str(path), [f"not valid YAML: {where}"]) from error
    if raw is None:
        raise ConfigError(str(path), [f"is empty: a params file needs the sections {', '.join(_SECTIONS)}; "
                                      "start from the repository's params.yaml."])
    return config_from_dict(raw, source=str(path), complete=True)


def config_from_dict(raw: Any, source: str = "params", complete: bool = False) -> Config:
    """Build and validate a Config; `complete` (a whole params file) makes every missing key an error,
    otherwise missing keys take their defaults (partial settings in code and tests)."""
    problems: list[str] = []
    config = _build(Config, raw, "", problems, complete)
    if problems:
        raise ConfigError(source, problems)
    return config


_SECTIONS = [f.name for f in dataclasses.fields(Config)]
# Keys an older params.yaml may still hold, with what replaced them.
RETIRED_KEYS = {"runtime.threads": "every computation is single-threaded now, so that results do not depend on a "
                                   "thread count; remove it and set runtime.workers (0 = one process per core)"}


def _build(cls: type, raw: Any, key: str, problems: list[str], complete: bool = False):
    """Build dataclass `cls` from `raw`, appending every problem found instead of stopping."""
    where = key or "the top level"
    if raw is None:
        if complete:
            problems.append(f"{where} is empty (is it truncated?): give its keys "
                            f"({', '.join(f.name for f in dataclasses.fields(cls))}) as in the repository's params.yaml.")
            return cls()
        raw = {}
    if not isinstance(raw, dict):
        problems.append(f"{where} must be a mapping of keys to values, got {raw!r}.")
        return cls()
    hints = typing.get_type_hints(cls)
    settable = [f for f in dataclasses.fields(cls) if not f.metadata.get("study")]
    known = {f.name for f in settable}
    for unknown in sorted(set(raw) - known, key=str):
        if (dotted := _join(key, str(unknown))) in RETIRED_KEYS:
            problems.append(f"{dotted} is retired: {RETIRED_KEYS[dotted]}.")
            continue
        if unknown in {f.name for f in dataclasses.fields(cls)}:
            study_key = {"density_grids": "ablation_grids"}.get(unknown, unknown)
            problems.append(f"{_join(key, str(unknown))} belongs to a study now: set it as studies.<name>.{study_key} "
                            "(see the repository's params.yaml) and remove it here.")
            continue
        problems.append(
            f"{_join(key, str(unknown))} is not a known key; allowed here: {', '.join(sorted(known))}. "
            "Check the spelling or remove it."
        )
    missing = [f.name for f in settable if f.name not in raw]
    if complete and missing:
        what = f"{key} lacks the key(s)" if key else "the file lacks the section(s)"
        problems.append(f"{what} {', '.join(missing)} (is it truncated?): add them as in the repository's params.yaml.")
    values = {}
    for name in (f.name for f in settable if f.name in raw):
        values[name] = _coerce(hints[name], raw[name], _join(key, name), problems, complete)
    try:
        built = cls(**{k: v for k, v in values.items() if v is not _INVALID})
    except TypeError as error:  # a required field was invalid; report once
        problems.append(f"{where}: {error}")
        return cls()
    check = getattr(built, "problems", None)
    if check is not None:
        problems.extend(check(key))
    return built


_INVALID = object()


def _coerce(hint: Any, value: Any, key: str, problems: list[str], complete: bool = False):
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key, problems, complete)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [h for h in typing.get_args(hint) if h is not type(None)]
        if value is None:
            return None
        return _coerce(options[0], value, key, problems, complete)
    if origin is list:
        (item_hint,) = typing.get_args(hint)
        if not isinstance(value, list):
            problems.append(f"{key} = {value!r}: must be a list.")
            return _INVALID
        items = [_coerce(item_hint, item, f"{key}[{i}]", problems, complete) for i, item in enumerate(value)]
        return _INVALID if any(item is _INVALID for item in items) else items
    if origin is dict:
        _, item_hint = typing.get_args(hint)
        if not isinstance(value, dict):
            problems.append(f"{key} = {value!r}: must be a mapping of names to settings.")
            return _INVALID
        items = {}
        for name, item in value.items():
            if not isinstance(name, str) or not name.replace("_", "").isalnum():
                problems.append(f"{key}: name {name!r} must be letters, digits and underscores (it names "
                                "folders and DVC stages).")
                continue
            items[name] = _coerce(item_hint, item, f"{key}.{name}", problems, complete)
        return _INVALID if any(item is _INVALID for item in items.values()) else items
    if hint is dict:
        if isinstance(value, dict):
            return value
        problems.append(f"{key} = {value!r}: must be a mapping.")
        return _INVALID
    if hint is bool:
        if isinstance(value, bool):
            return value
        problems.append(f"{key} = {value!r}: must be true or false.")
        return _INVALID
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        problems.append(f"{key} = {value!r}: must be an integer.")
        return _INVALID
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if isinstance(value, int) and abs(value) < 2**1000 or isinstance(value, float) and math.isfinite(value):
                return float(value)
            problems.append(f"{key} = {value!r}: must be a finite number.")  # YAML's .nan and .inf
            return _INVALID
        problems.append(f"{key} = {value!r}: must be a number.")
        return _INVALID
    if hint is str:
        if isinstance(value, str):
            return value
        problems.append(f"{key} = {value!r}: must be a string.")
        return _INVALID
    raise TypeError(f"unsupported config type {hint} for {key}")


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name
