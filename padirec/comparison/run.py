"""Every method over one study: the guidance choice, every registered method, MMR and the grid-density
ablation, per (backbone, seed) replicate, side by side on single-threaded worker processes."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from padirec.comparison.replicate import Replicate, density_rows, guidance_rows, loss_tuning_rows, method_rows
from padirec.comparison.summaries import relative_gap
from padirec.data.dataset import Dataset
from padirec.evaluation.protocol import EvaluationSet, backbone_states
from padirec.methods import mmr
from padirec.methods.registry import METHODS, requirement_seconds
from padirec.objectives import requirements
from padirec.objectives.registry import objective_data
from padirec.pipeline.artifacts import AdapterSweep, load_backbone
from padirec.pipeline.config import Config
from padirec.pipeline.sections import StudyConfig
from padirec.pipeline.paths import Paths
from padirec.pipeline.workers import run_units
from padirec.training.adapters import TuningSet
from padirec.training.generators import Generator, ablation_grids


@dataclass
class BackboneEvaluation:
    """Everything notebook 05 shows for one backbone."""

    rows: pd.DataFrame  # every method on the test split, both protocols
    guidance_rows: pd.DataFrame  # generated adapters per guidance scale, and Retrain, on the validation split
    guidance: float  # the scale chosen on the validation split
    guidance_table: pd.DataFrame  # validation gap to Retrain per scale
    anchor_weight: float | None  # PaDiRec + loss tuning's anchor weight, chosen on the validation split
    anchor_table: pd.DataFrame  # validation gap to Retrain per anchor weight (empty without the method)
    density_rows: pd.DataFrame  # grid-density ablation on the test split, every seed
    seconds: pd.DataFrame  # per seed: seconds to obtain one requirement's adapter, per method
    replicates: list[Replicate]
    unseen: list[tuple[float, ...]]  # the evaluation requirements the backbone's generators never saw


def choose_guidance(rows: pd.DataFrame, unseen: list, method: str = "padirec",
                    setting: str = "guidance") -> tuple[float, pd.DataFrame]:
    """The value of `setting` (the guidance scale; or PaDiRec + loss tuning's anchor weight) whose generated
    adapters are closest to Retrain at the unseen requirements (mean over seeds); the smallest value on a tie."""
    retrain = rows[rows["method"] == "retrain"]
    gaps = []
    for (scale, seed), frame in rows[rows["method"] == method].groupby([setting, "seed"]):
        gaps.append({setting: scale, "seed": seed,
                     "rel_gap_unseen": relative_gap(frame, retrain[retrain["seed"] == seed], unseen)})
    table = pd.DataFrame(gaps).groupby(setting)["rel_gap_unseen"].agg(["mean", "std"])
    return float(table["mean"].idxmin()), table


def retrain_and_guidance_unit(replicate: Replicate, weights: np.ndarray, cfg: Config, valid: EvaluationSet,
                              anchor: AdapterSweep | None) -> tuple[np.ndarray, dict, pd.DataFrame, dict]:
    """One replicate's first phase: Retrain at `weights`, and the generated adapters of every guidance scale on
    the validation split (for the choice of scale); with an `anchor` (the replicate's training checkpoints),
    PaDiRec + loss tuning at every anchor weight too, returned for the choice of weight."""
    replicate.retrain(weights, cfg)
    rows = guidance_rows(replicate, weights, cfg.diffusion.guidance_scales, cfg.diffusion.samples_per_requirement,
                         valid)
    tuned = {}
    if anchor is not None:
        tuned, loss_rows = loss_tuning_rows(replicate, anchor, weights, cfg, valid)
        rows = pd.concat([rows, loss_rows], ignore_index=True)
    return replicate.retrain_adapters, replicate.seconds, rows, tuned


def methods_unit(replicate: Replicate, weights: np.ndarray, guidance: float, cfg: Config, test: EvaluationSet,
                 density_generators: dict, sweep: AdapterSweep, study: StudyConfig) -> tuple[pd.DataFrame, pd.DataFrame, dict, dict]:
    """One replicate's second phase, at the chosen guidance scale: every method on the test split, then the
    grid-density ablation; returns the rows, the ablation's rows, the seconds and the generated adapters."""
    rows = method_rows(replicate, weights, guidance, cfg, test)
    density = density_rows(replicate, {**density_generators, None: replicate.generator}, sweep, study, weights,
                           guidance, cfg.diffusion.samples_per_requirement, test)
    return rows, density, replicate.seconds, replicate.generated


def mmr_unit(model, weights: np.ndarray, evaluation: EvaluationSet, pool: int,
             timed: bool) -> tuple[pd.DataFrame, float]:
    """MMR's rows on `evaluation` (it re-ranks the bare backbone, so one backbone's seeds share them) and, when
    `timed`, its median seconds per requirement (NaN otherwise)."""
    states = backbone_states(model, evaluation.history)
    rows = mmr.mmr_rows(model, states, weights, evaluation, pool, seed=0)
    seconds = requirement_seconds(lambda w: mmr.mmr_metrics(model, states, float(w[0, 0]), evaluation, pool),
                                  weights) if timed else float("nan")
    return rows, seconds


def _unit_of_kind(kind: str, arguments: tuple):
    return {"methods": methods_unit, "mmr": mmr_unit}[kind](*arguments)


def load_replicates(name: str, cfg: Config, study: StudyConfig, out: Paths, dataset: Dataset,
                    device: torch.device | str) -> tuple[list[Replicate], AdapterSweep]:
    """One backbone's replicates, one per study seed: its sweep adapters, generator and tuning set."""
    made_for = {"backbone": name, "objectives": study.objectives}
    model, _ = load_backbone(out.backbone(name), name, device)
    sweep = AdapterSweep.load(out.sweep(name), **made_for)
    data = objective_data(dataset, list(study.objectives), cfg.sweep.fair_groups, model.item_embedding.weight.device)
    tuning = TuningSet.of(model, dataset, data)
    replicates = [Replicate(seed, sweep.training_weights, sweep.last_adapters(seed),
                            Generator.load(out.generator(name, seed), cfg.diffusion, device=device, **made_for), tuning,
                            tuple(study.objectives), timed=seed == study.seeds[0], skip=tuple(study.skip_methods))
                  for seed in study.seeds]
    return replicates, sweep


def evaluate_backbones(cfg: Config, study: StudyConfig, out: Paths, dataset: Dataset, test: EvaluationSet,
                       valid: EvaluationSet, device: torch.device | str = "cpu") -> dict[str, BackboneEvaluation]:
    """Load each backbone, its sweep and generators onto `device`; run the guidance choice, every method, the
    ablation. Each (backbone, seed) replicate is a unit of work, run side by side on `cfg.runtime.workers`
    single-threaded processes (padirec.pipeline.workers), so the worker count never changes a result: first
    Retrain and the guidance rows of every replicate, then (with each backbone's chosen scale) its methods and
    ablation, beside the per-backbone methods (MMR) where the study's objectives admit them."""
    names, weights, workers = cfg.backbone.names, np.asarray(study.eval_grid), cfg.runtime.workers
    loaded = {name: load_replicates(name, cfg, study, out, dataset, device) for name in names}
    replicates = {name: replicas for name, (replicas, _) in loaded.items()}
    unseen = {name: requirements.unseen(weights, sweep.training_weights) for name, (_, sweep) in loaded.items()}
    every = [(name, replicate) for name in names for replicate in replicates[name]]

    loss_tuned = study.serves(METHODS["padirec_loss"])
    first = run_units(retrain_and_guidance_unit,
                      [(r, weights, cfg, valid, loaded[name][1].subset(r.seed) if loss_tuned else None)
                       for name, r in every], workers,
                      desc="Retrain, guidance scales and loss tuning per (backbone, seed)")
    guidance, chosen, tables, anchors, anchor_tables = {name: [] for name in names}, {}, {}, {}, {}
    for (name, replicate), (retrained, seconds, rows, _) in zip(every, first):
        replicate.retrain_adapters, replicate.seconds = retrained, seconds
        guidance[name].append(rows)
    for name in names:
        guidance[name] = pd.concat(guidance[name], ignore_index=True)
        chosen[name], tables[name] = choose_guidance(guidance[name], unseen[name])
        anchors[name], anchor_tables[name] = (choose_guidance(guidance[name], unseen[name], "padirec_loss",
                                                              "anchor_weight") if loss_tuned else (None, pd.DataFrame()))
    for (name, replicate), (*_, tuned) in zip(every, first):
        replicate.loss_tuned = tuned.get(anchors[name])
        tuned.clear()  # the other anchor weights' generators are not needed any more

    units = [(replicate, weights, chosen[name], cfg, test, _density_generators(name, replicate.seed, cfg, study, out,
                                                                                device), loaded[name][1], study)
             for name, replicate in every]
    with_mmr = study.serves(METHODS["mmr"])
    mmr_units = [(replicates[name][0].model, weights, test, cfg.evaluate.mmr_pool, True) for name in names] \
        if with_mmr else []
    # One pool for both kinds of unit: the methods of every replicate, then MMR of every backbone.
    second = run_units(_unit_of_kind, [("methods", unit) for unit in units] + [("mmr", unit) for unit in mmr_units],
                       workers, desc="every method per (backbone, seed), MMR per backbone")
    mmr_results = dict(zip(names, second[len(units):]))
    rows, density = {name: [] for name in names}, {name: [] for name in names}
    for (name, replicate), (method_frame, density_frame, seconds, generated) in zip(every, second[:len(units)]):
        replicate.seconds, replicate.generated = seconds, generated
        rows[name].append(method_frame)
        if with_mmr:  # listed under each seed, as scored once
            rows[name].append(mmr_results[name][0].assign(seed=replicate.seed))
            if replicate.timed:
                replicate.seconds["mmr"] = mmr_results[name][1]
        density[name].append(density_frame)
    return {name: BackboneEvaluation(
        pd.concat(rows[name], ignore_index=True).assign(backbone=name), guidance[name].assign(backbone=name),
        chosen[name], tables[name], anchors[name], anchor_tables[name],
        pd.concat(density[name], ignore_index=True).assign(backbone=name),
        pd.DataFrame([{"seed": r.seed, **r.seconds} for r in replicates[name]]).assign(backbone=name),
        replicates[name], unseen[name]) for name in names}


def _density_generators(name: str, seed: int, cfg: Config, study: StudyConfig, out: Paths,
                        device: torch.device | str) -> dict[str, Generator]:
    """The ablation generators of one replicate, keyed by their training grid's label (`ablation_grids`)."""
    return {grid: Generator.load(out.generator(name, seed, grid), cfg.diffusion, device=device, backbone=name,
                                 objectives=study.objectives) for grid in ablation_grids(study)}
