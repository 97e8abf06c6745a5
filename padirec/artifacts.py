"""Saving and loading the pipeline's model artifacts, with errors that name the stage to run."""
from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from padirec.io import atomic_path, load_npz, save_npz
from padirec.models import BACKBONES, SequentialRecommender, build_backbone

BACKBONE_FORMAT = "padirec-backbone-1"


def save_backbone(model: SequentialRecommender, name: str, settings: dict, path: Path, extra: dict | None = None) -> None:
    payload = {"format": BACKBONE_FORMAT, "name": name, "n_items": model.n_items, "settings": settings,
               "state_dict": model.state_dict(), "extra": extra or {}}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_payload(path: Path, stage: str, what: str, expected_format: str) -> dict:
    """A torch checkpoint written by `stage`; missing, truncated or foreign files name that stage."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run the '{stage}' stage first (dvc repro {stage}).")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError) as error:
        raise ValueError(f"{path} is truncated or not a padirec {what} ({error}); re-run the '{stage}' stage "
                         f"(dvc repro -f {stage}).") from error
    if not isinstance(payload, dict) or payload.get("format") != expected_format:
        raise ValueError(f"{path} is not a padirec {what} (format {expected_format}); re-run the '{stage}' stage "
                         f"(dvc repro -f {stage}).")
    return payload


def load_backbone(path: Path) -> tuple[SequentialRecommender, dict]:
    """The frozen backbone (eval mode, adapter off) and its payload's metadata."""
    payload = load_payload(path, "backbone", "backbone", BACKBONE_FORMAT)
    if payload.get("name") not in BACKBONES:
        raise ValueError(f"{path} holds an unknown backbone {payload.get('name')!r}; known: {', '.join(BACKBONES)}.")
    model = build_backbone(payload["name"], payload["n_items"], **payload["settings"])
    model.load_state_dict(payload["state_dict"])
    model.freeze_backbone()
    model.eval()
    return model, {key: payload[key] for key in ("name", "n_items", "settings", "extra")}


@dataclass
class AdapterSweep:
    """Adapter checkpoints of one backbone: [seeds, requirements, kept epochs, parameters]."""

    backbone: str
    objectives: list[str]
    weights: np.ndarray  # [R, K]
    seeds: np.ndarray  # [S]
    kept_epochs: np.ndarray  # [keep]
    checkpoints: np.ndarray  # [S, R, keep, P] float32

    def save(self, path: Path) -> None:
        save_npz(path, {"backbone": np.array(self.backbone), "objectives": np.array(self.objectives),
                        "weights": self.weights, "seeds": self.seeds, "kept_epochs": self.kept_epochs,
                        "checkpoints": self.checkpoints.astype(np.float32)})

    @classmethod
    def load(cls, path: Path) -> "AdapterSweep":
        arrays = load_npz(path, made_by="sweep")
        missing = {"backbone", "objectives", "weights", "seeds", "kept_epochs", "checkpoints"} - set(arrays)
        if missing:
            raise ValueError(f"{path} lacks {sorted(missing)}: not an adapter sweep; re-run the 'sweep' stage.")
        return cls(str(arrays["backbone"]), [str(o) for o in arrays["objectives"]], arrays["weights"], arrays["seeds"],
                   arrays["kept_epochs"], arrays["checkpoints"])

    def subset(self, seed: int, w_acc: list[float] | None = None) -> "AdapterSweep":
        """The checkpoints of one seed, optionally only at the grid requirements with these w_acc values."""
        if seed not in self.seeds:
            raise ValueError(f"seed {seed} is not in this sweep (seeds {self.seeds.tolist()}); "
                             "use one of sweep.seeds or re-run the 'sweep' stage.")
        keep = np.ones(len(self.weights), dtype=bool)
        if w_acc is not None:
            keep = np.isin(np.round(self.weights[:, 0], 6), np.round(w_acc, 6))
            if keep.sum() != len(w_acc):
                raise ValueError(f"w_acc {w_acc} are not all on the sweep grid {self.weights[:, 0].tolist()}")
        index = int(np.flatnonzero(self.seeds == seed)[0])
        return AdapterSweep(self.backbone, self.objectives, self.weights[keep], self.seeds[index:index + 1],
                            self.kept_epochs, self.checkpoints[index:index + 1, keep])

    def last_adapters(self, seed: int) -> np.ndarray:
        """[R, P]: each grid requirement's adapter from the last kept epoch of `seed`."""
        return self.subset(seed).checkpoints[0, :, -1]
