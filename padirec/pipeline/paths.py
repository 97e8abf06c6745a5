"""Where the pipeline's artifacts live.

Notebooks find the repository root themselves (nbval runs the kernel in the notebook's folder,
papermill in the caller's), and write under an output root: the repository root for the DVC
stages, a scratch folder for smoke runs, so executing a notebook with its defaults never
touches DVC outputs.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SCRATCH = ".scratch/smoke"


def repo_root(start: str | Path | None = None) -> Path:
    """The nearest folder at or above `start` (default: the working directory) holding dvc.yaml."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").exists():
            return folder
    raise FileNotFoundError(
        f"no dvc.yaml at or above {here}: run this from inside the padirec repository."
    )


@dataclass(frozen=True)
class Paths:
    """Artifact locations under one output root; with a study and a stage, that stage's figures and tables
    go to figures/<study>/<stage>/ and its data under data/<sweep|generator>/<study>/ (data preparation and
    the backbones are shared by every study)."""

    root: Path
    study: str | None = None
    stage: str | None = None

    @classmethod
    def for_run(cls, output_root: str | Path | None, study: str | None = None, stage: str | None = None) -> "Paths":
        """The repository-relative output root, or the scratch folder when None."""
        base = repo_root()
        root = base / SCRATCH if output_root is None else (base / output_root)
        return cls(root.resolve(), study, stage)

    def of_stage(self, stage: str) -> "Paths":
        """The same study's folders of another stage (e.g. the sweep's metrics, read by the evaluation)."""
        return Paths(self.root, self.study, stage)

    @property
    def processed(self) -> Path:
        return self.root / "data" / "processed"

    @property
    def dataset(self) -> Path:
        return self.processed / "dataset.npz"

    @property
    def figures(self) -> Path:
        if self.study is None:
            return self.root / "figures"
        return self.root / "figures" / self.study / (self.stage or "")

    @property
    def headline(self) -> Path:
        """A study's headline numbers (figures/<study>/headline.json), the one file `dvc metrics show` lists."""
        return self.root / "figures" / (self.study or "") / "headline.json"

    @property
    def tables(self) -> Path:
        return self.figures / "tables"

    @property
    def timing(self) -> Path:
        """Where a study stage's timings go (figures/<study>/timing/<stage>/): apart from its results, whose
        bytes must depend only on params and data, never on how fast a run was."""
        return self.root / "figures" / (self.study or "") / "timing" / (self.stage or "")

    def backbone(self, name: str) -> Path:
        return self.root / "data" / "backbones" / f"{name}.pt"

    def _study_data(self, kind: str) -> Path:
        return self.root / "data" / kind / (self.study or "")

    def sweep(self, name: str) -> Path:
        return self._study_data("sweep") / f"{name}.npz"

    def generator(self, name: str, seed: int, grid: str | None = None) -> Path:
        """The generator trained on one seed's sweep adapters; `grid` names an ablation's training grid
        ('15 listed': grid15_seed0.pt, '21 random': random21_seed0.pt)."""
        if grid is None:
            return self._study_data("generator") / name / f"seed{seed}.pt"
        size, kind = grid.split()
        stem = f"grid{size}" if kind == "listed" else f"{kind}{size}"
        return self._study_data("generator") / name / f"{stem}_seed{seed}.pt"
