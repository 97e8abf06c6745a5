"""Saving and loading the pipeline's model artifacts, with errors that name the stage to run.

Every loaded artifact is checked before use: its format, the backbone (and objectives) it was
made for, its shapes, and that every number in it is finite.
"""
from __future__ import annotations

import io
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from padirec.objectives.requirements import keys
from padirec.pipeline.io import load_npz, save_npz, write_bytes
from padirec.models.backbones import BACKBONES, SequentialRecommender, build_backbone

BACKBONE_FORMAT = "padirec-backbone-1"


def save_payload(payload: dict, path: Path) -> None:
    """torch.save `payload` atomically, with bytes that depend only on the payload.

    torch names the archive's inner folder after the file it writes to; serialising into memory
    gives it a fixed name instead of the random temporary one, so identical weights give
    identical files (and DVC hashes).
    """
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_bytes(path, buffer.getvalue())


def cpu_state(module: torch.nn.Module) -> dict:
    """A module's state dict on the CPU (its `_metadata` kept): saved files are the same whatever device
    trained them."""
    state = module.state_dict()
    for name, value in state.items():
        state[name] = value.detach().cpu()
    return state


def save_backbone(model: SequentialRecommender, name: str, settings: dict, path: Path, extra: dict | None = None) -> None:
    payload = {"format": BACKBONE_FORMAT, "name": name, "n_items": model.n_items, "settings": settings,
               "state_dict": cpu_state(model), "extra": extra or {}}
    save_payload(payload, path)


def load_payload(path: Path, stage: str, what: str, expected_format: str, keys: tuple[str, ...] = ()) -> dict:
    """A torch checkpoint written by `stage`; missing, truncated or foreign files name that stage."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run the '{stage}' stage first (dvc repro {stage}).")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError, OSError) as error:
        reason = " ".join(str(error).split())[:200]  # torch's messages span lines; keep the report one line
        raise ValueError(f"{path} is truncated or not a padirec {what} ({reason}); re-run the '{stage}' stage "
                         f"(dvc repro -f {stage}).") from error
    if not isinstance(payload, dict) or payload.get("format") != expected_format:
        raise ValueError(f"{path} is not a padirec {what} (format {expected_format}); re-run the '{stage}' stage "
                         f"(dvc repro -f {stage}).")
    missing = [key for key in keys if key not in payload]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}: not a complete padirec {what}; re-run the '{stage}' "
                         f"stage (dvc repro -f {stage}).")
    return payload


def check_made_for(path: Path, field: str, found, expected, stage: str) -> None:
    """An artifact made for another backbone (or other objectives) is refused, naming both."""
    if expected is not None and found != expected:
        raise ValueError(f"{path} was made for {field} {found}, not {expected}: use the file made for {expected} "
                         f"or re-run the '{stage}' stage (dvc repro -f {stage}).")


def non_finite(tensors: dict) -> list[str]:
    """Names of the floating-point tensors holding NaN or inf."""
    return [name for name, value in tensors.items()
            if torch.is_tensor(value) and value.is_floating_point() and not bool(torch.isfinite(value).all())]


def check_finite(path: Path, tensors: dict, stage: str) -> None:
    broken = non_finite(tensors)
    if broken:
        raise ValueError(f"{path} holds NaN or inf in {', '.join(broken[:5])}: a diverged or damaged checkpoint; "
                         f"re-run the '{stage}' stage (dvc repro -f {stage}).")


def load_state(module: torch.nn.Module, state_dict: dict, path: Path, stage: str) -> None:
    """load_state_dict, with a mismatch in names or shapes reported as a stale artifact."""
    try:
        module.load_state_dict(state_dict)
    except (RuntimeError, KeyError, TypeError) as error:
        reason = " ".join(str(error).split())[:300]
        raise ValueError(f"{path} does not fit the model its settings describe ({reason}); re-run the '{stage}' "
                         f"stage (dvc repro -f {stage}).") from error


def load_backbone(path: Path, name: str | None = None,
                  device: torch.device | str = "cpu") -> tuple[SequentialRecommender, dict]:
    """The frozen backbone (eval mode, adapter off) on `device`, and its payload's metadata; `name`: the
    backbone expected."""
    payload = load_payload(path, "backbone", "backbone", BACKBONE_FORMAT,
                           keys=("name", "n_items", "settings", "state_dict", "extra"))
    if payload["name"] not in BACKBONES:
        raise ValueError(f"{path} holds an unknown backbone {payload['name']!r}; known: {', '.join(BACKBONES)}.")
    check_made_for(path, "backbone", payload["name"], name, "backbone")
    n_items = payload["n_items"]
    if not isinstance(n_items, int) or isinstance(n_items, bool) or n_items < 1 or not isinstance(payload["settings"], dict):
        raise ValueError(f"{path} records n_items = {n_items!r} and settings {payload['settings']!r}: not a valid "
                         "backbone; re-run the 'backbone' stage (dvc repro -f backbone).")
    check_finite(path, payload["state_dict"], "backbone")
    try:
        model = build_backbone(payload["name"], n_items, **payload["settings"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path} records settings {payload['settings']} that build no {payload['name']} ({error}); "
                         "re-run the 'backbone' stage (dvc repro -f backbone).") from error
    load_state(model, payload["state_dict"], path, "backbone")
    model.freeze_backbone()
    model.eval()
    return model.to(device), {key: payload[key] for key in ("name", "n_items", "settings", "extra")}


TRAINING_SOURCES = ("grid", "adaptive")  # the requirements the main generator trains on


@dataclass
class AdapterSweep:
    """Adapter checkpoints of one backbone: [seeds, requirements, kept epochs, parameters]."""

    backbone: str
    objectives: list[str]
    weights: np.ndarray  # [R, K]
    seeds: np.ndarray  # [S]
    kept_epochs: np.ndarray  # [keep]
    checkpoints: np.ndarray  # [S, R, keep, P] float32
    # [R] where each requirement came from: "grid" (the study's training grid), "adaptive" (placed by the
    # sweep; also a training requirement), "ablation" (tuned only for an ablation grid's generator) or "random"
    # (drawn for the random control's generator only)
    sources: np.ndarray | None = None

    def __post_init__(self):
        if self.sources is None:
            self.sources = np.full(len(self.weights), "grid")
        self.sources = np.asarray(self.sources).astype(str)

    def save(self, path: Path) -> None:
        save_npz(path, {"backbone": np.array(self.backbone), "objectives": np.array(self.objectives),
                        "weights": self.weights, "seeds": self.seeds, "kept_epochs": self.kept_epochs,
                        "checkpoints": self.checkpoints.astype(np.float32), "sources": self.sources})

    @classmethod
    def load(cls, path: Path, backbone: str | None = None, objectives: list[str] | None = None) -> "AdapterSweep":
        """A saved sweep; `backbone` and `objectives`, when given, must be the ones it was made for."""
        arrays = load_npz(path, made_by="sweep")
        missing = {"backbone", "objectives", "weights", "seeds", "kept_epochs", "checkpoints"} - set(arrays)
        if missing:
            raise ValueError(f"{path} lacks {sorted(missing)}: not an adapter sweep; re-run the 'sweep' stage.")
        made_for = str(arrays["backbone"]) if arrays["backbone"].ndim == 0 else None
        check_made_for(path, "backbone", made_for, backbone, "sweep")
        sweep = cls(made_for, [str(o) for o in np.atleast_1d(arrays["objectives"])], arrays["weights"], arrays["seeds"],
                    arrays["kept_epochs"], arrays["checkpoints"], arrays.get("sources"))
        check_made_for(path, "objectives", sweep.objectives, objectives, "sweep")
        problem = sweep.shape_problem()
        if problem is not None:
            raise ValueError(f"{path}: {problem}; re-run the 'sweep' stage (dvc repro -f sweep).")
        return sweep

    def shape_problem(self) -> str | None:
        """What is inconsistent or non-finite in the arrays, or None."""
        if self.backbone is None:
            return "the backbone field is not one name"
        if self.weights.ndim != 2 or self.weights.shape[1] != len(self.objectives):
            return f"weights have shape {list(self.weights.shape)}, expected [requirements, {len(self.objectives)}]"
        expected = [len(self.seeds), len(self.weights), len(self.kept_epochs)]
        if self.seeds.ndim != 1 or self.kept_epochs.ndim != 1 or self.checkpoints.ndim != 4 \
                or list(self.checkpoints.shape[:3]) != expected:
            return f"checkpoints have shape {list(self.checkpoints.shape)}, expected {expected + ['parameters']}"
        for name in ("weights", "checkpoints"):
            values = getattr(self, name)
            if not np.issubdtype(values.dtype, np.number) or not np.isfinite(values).all():
                return f"{name} are not all finite numbers"
        return None

    def subset(self, seed: int, requirements: list[list[float]] | None = None) -> "AdapterSweep":
        """The checkpoints of one seed at its training requirements (grid and adaptive), or only at
        `requirements` (vectors the sweep tuned, e.g. an ablation grid)."""
        if seed not in self.seeds:
            raise ValueError(f"seed {seed} is not in this sweep (seeds {self.seeds.tolist()}); "
                             "use one of the study's seeds or re-run the 'sweep' stage.")
        if requirements is None:
            keep = np.isin(self.sources, TRAINING_SOURCES)
        else:
            tuned = keys(self.weights)  # one rounding rule for every requirement (padirec.objectives.requirements)
            wanted = set(keys(requirements))
            keep = np.array([w in wanted for w in tuned])
            if keep.sum() != len(wanted):
                raise ValueError(f"requirements {sorted(wanted - set(tuned))} were not tuned by this sweep; "
                                 "re-run the 'sweep' stage of the study.")
        index = int(np.flatnonzero(self.seeds == seed)[0])
        return AdapterSweep(self.backbone, self.objectives, self.weights[keep], self.seeds[index:index + 1],
                            self.kept_epochs, self.checkpoints[index:index + 1, keep], self.sources[keep])

    @property
    def training_weights(self) -> np.ndarray:
        """[R', K] the requirements the main generator trains on (grid and adaptive, not ablation or control)."""
        return self.weights[np.isin(self.sources, TRAINING_SOURCES)]

    def control_weights(self) -> np.ndarray:
        """[R'', K] the random control's training requirements: the grid and the random draws."""
        return self.weights[np.isin(self.sources, ("grid", "random"))]

    def last_adapters(self, seed: int) -> np.ndarray:
        """[R', P]: each training requirement's adapter from the last kept epoch of `seed`."""
        return self.subset(seed).checkpoints[0, :, -1]
