"""Cheap checks of the generator's settings, on the validation split, outside the default pipeline.

Each check trains the generator of a (backbone, seed) once more with one setting changed, from the same sweep
adapters, and measures its gap to Retrain at the study's unseen evaluation requirements (all of them, near the
edges or corners, in the middle) on the validation split; and, at the training requirements themselves, how far
its adapters' metrics are from the tuned adapters it learned from, on the w_acc = 0 face and elsewhere. A
setting is worth adopting only if the validation split says so: the test split plays no part.

    python -m padirec.comparison.checks --study acc_div_tail --seeds 0 1 --out docs/checks-acc_div_tail.md
"""
from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from padirec.comparison.replicate import metric_rows
from padirec.comparison.summaries import relative_gap
from padirec.data.dataset import Dataset
from padirec.evaluation.protocol import EvaluationSet, backbone_states
from padirec.methods.generated import generate
from padirec.methods.retrain import retrain
from padirec.objectives import requirements
from padirec.objectives.registry import objective_data
from padirec.pipeline import config as configuration, paths, runtime
from padirec.pipeline.artifacts import AdapterSweep, load_backbone
from padirec.pipeline.workers import run_units
from padirec.training.adapters import TuningSet
from padirec.training.generators import train_generator

# One changed setting per check: diffusion settings, or `keep` (kept checkpoints per requirement, the last ones).
CHECKS: dict[str, dict] = {
    "as configured": {},
    "normalisation: global": {"normalisation": "global"},
    "keep_checkpoints: 1": {"keep": 1},
    "condition: sqrt (w, sqrt w)": {"condition": "sqrt"},
    "condition: fourier": {"condition": "fourier"},
}


def with_kept(sweep: AdapterSweep, keep: int) -> AdapterSweep:
    """The sweep with only its last `keep` checkpoints per requirement."""
    return dataclasses.replace(sweep, kept_epochs=sweep.kept_epochs[-keep:], checkpoints=sweep.checkpoints[:, :, -keep:])


def check_unit(name: str, seed: int, cfg: configuration.Config, study_name: str, root: Path,
               checks: dict[str, dict]) -> list[dict]:
    """Every check of one (backbone, seed): its validation gaps, one record per check."""
    study = cfg.study(study_name)
    out = paths.Paths.for_run(str(root), study_name, "evaluate")
    dataset = Dataset.load(out.dataset)
    _, valid = EvaluationSet.test_and_valid(dataset, cfg.sweep.fair_groups)
    model, _ = load_backbone(out.backbone(name), name, "cpu")
    sweep = AdapterSweep.load(out.sweep(name), backbone=name, objectives=study.objectives)
    tuning = TuningSet.of(model, dataset, objective_data(dataset, list(study.objectives), cfg.sweep.fair_groups, "cpu"))
    states = backbone_states(model, valid.history)
    objectives = tuple(study.objectives)
    rows = lambda method, weights, adapters: metric_rows(method, weights, adapters, model, states, valid, seed,  # noqa: E731
                                                          objectives, full_ranking=False)
    eval_grid = np.asarray(study.eval_grid, dtype=np.float64)
    subset = sweep.subset(seed)
    unseen = requirements.unseen(eval_grid, subset.weights)
    regions = requirements.regions(subset.weights, unseen)
    reference = rows("retrain", eval_grid, retrain(tuning, eval_grid, cfg.sweep, seed, list(objectives)).checkpoints[:, -1])
    face = subset.weights[:, 0] == 0
    tuned = rows("sweep", subset.weights, subset.checkpoints[0, :, -1])
    records = []
    for check, change in checks.items():
        keep = change.get("keep")
        data = with_kept(subset, keep) if keep else subset
        settings = dataclasses.replace(cfg.diffusion, **{k: v for k, v in change.items() if k != "keep"})
        generator = train_generator(data, settings, replicate=seed, progress=False)
        samples = [1000 * seed + i for i in range(cfg.diffusion.samples_per_requirement)]
        generated = pd.concat([rows("padirec", eval_grid, adapters)
                               for adapters in generate(generator, eval_grid, cfg.diffusion.guidance, samples)])
        at_training = pd.concat([rows("padirec", subset.weights, adapters)
                                 for adapters in generate(generator, subset.weights, cfg.diffusion.guidance, samples)])
        record = {"check": check, "backbone": name, "seed": seed,
                  "gap": relative_gap(generated, reference, unseen),
                  **{f"gap, {region.replace('_', ' ')}": relative_gap(generated, reference, points)
                     for region, points in regions.items() if points},
                  "training, w_acc = 0 face": relative_gap(at_training, tuned, requirements.keys(subset.weights[face])),
                  "training, elsewhere": relative_gap(at_training, tuned, requirements.keys(subset.weights[~face])),
                  "final loss": float(np.mean(generator.losses[-100:]))}
        records.append(record)
    return records


def run_checks(cfg: configuration.Config, study_name: str, root: Path, seeds: list[int],
               checks: dict[str, dict] = CHECKS) -> pd.DataFrame:
    """Every check for every backbone and seed, one (backbone, seed) per worker; one row each."""
    units = [(name, seed, cfg, study_name, root, checks) for name in cfg.backbone.names for seed in seeds]
    found = run_units(check_unit, units, cfg.runtime.workers, desc="generator checks per (backbone, seed)")
    return pd.DataFrame([record for unit in found for record in unit])


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Means over seeds per check and backbone, and each check's mean difference from "as configured" on the
    validation gap with the number of (backbone, seed) pairs in which it was lower."""
    measures = [c for c in table.columns if c not in ("check", "backbone", "seed")]
    means = table.groupby(["check", "backbone"], sort=False)[measures].mean()
    base = table[table["check"] == "as configured"][["backbone", "seed", "gap"]]
    paired = table.merge(base, on=["backbone", "seed"], suffixes=("", "_configured"))
    paired["difference"] = paired["gap"] - paired["gap_configured"]
    means["gap vs as configured"] = paired.groupby(["check", "backbone"], sort=False)["difference"].mean()
    means["lower in"] = paired.groupby(["check", "backbone"], sort=False)["difference"].agg(
        lambda d: f"{int((d < 0).sum())} of {len(d)}")
    return means


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--root", default=".", help="the repository whose data/ holds the dataset, backbones, sweeps")
    parser.add_argument("--study", default="acc_div_tail")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--checks", nargs="+", choices=list(CHECKS), default=list(CHECKS),
                        help="which checks ('as configured', the reference, always runs)")
    parser.add_argument("--out", type=Path, required=True, help="a Markdown file for the table")
    args = parser.parse_args(argv)
    cfg = configuration.load_config(args.params)
    runtime.setup(cfg.runtime, start_workers=True)
    chosen = {name: CHECKS[name] for name in CHECKS if name in args.checks or name == "as configured"}
    table = run_checks(cfg, args.study, Path(args.root).resolve(), args.seeds, chosen)
    table.to_csv(args.out.with_suffix(".csv"), index=False)
    args.out.write_text(summary(table).reset_index().to_markdown(index=False, floatfmt=".4f") + "\n")
    print(args.out.read_text())


if __name__ == "__main__":
    main()
