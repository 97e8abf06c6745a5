"""params.yaml as typed, validated objects (the sections themselves: padirec.pipeline.sections).

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

from padirec.pipeline.sections import (BackboneConfig, ColumnsConfig, DataConfig, DiffusionConfig,  # noqa: F401
                                       EvaluateConfig, HypernetworkConfig, PrepareConfig, RuntimeConfig, StudyConfig,
                                       SweepConfig)

SMOKE_PARAMS = Path(__file__).with_name("smoke.yaml")


class ConfigError(ValueError):
    """One or more invalid values in a params file."""

    def __init__(self, source: str, problems: list[str]):
        self.source = source
        self.problems = problems
        listing = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"{source} has {len(problems)} problem(s):\n{listing}")


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

    def study(self, name: str) -> StudyConfig:
        """Study `name` of params.yaml: its objectives, seeds, grids and reference points. Stages pass it beside
        the sections, which hold only what every study shares."""
        if name not in self.studies:
            raise ValueError(f"unknown study {name!r}; params.yaml defines {', '.join(self.studies)} "
                             "(add it under studies:).")
        return self.studies[name]

    def problems(self, key: str) -> list[str]:
        if not self.studies:
            return ["studies is empty: give at least one study (see the repository's params.yaml)."]
        return []  # each study checks itself (StudyConfig.problems)


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


# Keys an older params.yaml may hold in a section, which each study now sets (studies.<name>.<key>).
STUDY_KEYS = {"sweep.objectives": "objectives", "sweep.grid": "grid", "sweep.seeds": "seeds",
              "sweep.adaptive_budget": "adaptive_budget", "diffusion.eval_grid": "eval_grid",
              "diffusion.density_grids": "ablation_grids", "evaluate.hv_reference": "hv_reference",
              "evaluate.hv_reference_full": "hv_reference_full"}


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
    settable = dataclasses.fields(cls)
    known = {f.name for f in settable}
    for unknown in sorted(set(raw) - known, key=str):
        if (dotted := _join(key, str(unknown))) in RETIRED_KEYS:
            problems.append(f"{dotted} is retired: {RETIRED_KEYS[dotted]}.")
            continue
        if dotted in STUDY_KEYS:
            problems.append(f"{dotted} belongs to a study now: set it as studies.<name>.{STUDY_KEYS[dotted]} "
                            "(see the repository's params.yaml) and remove it here.")
            continue
        problems.append(
            f"{_join(key, str(unknown))} is not a known key; allowed here: {', '.join(sorted(known))}. "
            "Check the spelling or remove it."
        )
    missing = [f.name for f in settable if f.name not in raw and f.name not in getattr(cls, "OPTIONAL", ())]
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
