"""What every stage notebook does first: read params, pick the study, make the process single-threaded, start
the stage's workers, and find its folders (`open_stage`)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from padirec.pipeline import config, paths, runtime
from padirec.pipeline.config import Config
from padirec.pipeline.sections import StudyConfig


@dataclass
class OpenStage:
    cfg: Config
    out: paths.Paths
    study_name: str | None  # None for the stages every study shares (prepare, backbone)
    study: StudyConfig | None
    device: torch.device | None  # None for data preparation, which runs no model

    def describe(self) -> str:
        study = self.study
        return (f"study: {self.study_name} | objectives: {study.objectives} | seeds: {study.seeds} | requirements: "
                f"{len(study.grid)} on the grid (+{study.adaptive_budget} placed by the sweep), "
                f"{len(study.eval_grid)} evaluated, ablation grids of {[len(g) for g in study.ablation_grids]}")


def open_stage(params_path: str | None, output_root: str | None, stage: str | None = None,
               study: str | None = None, runs_models: bool = True) -> OpenStage:
    """A stage notebook's configuration, study, output folders and device.

    `params_path` None is the packaged smoke configuration and `output_root` None a scratch folder, as
    a notebook's stored defaults; `study` None is the configuration's first. `stage` names a per-study
    stage (sweep, diffusion, evaluate). With `runs_models`, the process is made single-threaded and the
    stage's worker processes start now, so that they load their libraries while the notebook loads data.
    """
    root = paths.repo_root()
    cfg = config.load_config(None if params_path is None else root / params_path)
    name = (study or next(iter(cfg.studies))) if stage is not None else None
    chosen = cfg.study(name) if name is not None else None
    device = runtime.setup(cfg.runtime, start_workers=True) if runs_models else None
    return OpenStage(cfg, paths.Paths.for_run(output_root, name, stage), name, chosen, device)
