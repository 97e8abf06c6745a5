"""The evaluation stage's tables and figures, saved where DVC expects them and returned for notebook 05 to show.

`EvaluationReport` holds one study's evaluation (padirec.comparison.run.evaluate_backbones) and computes each
section once: the seed summaries feed the main table, the near-end table and the verdicts.
Sections that only make sense along one axis (curves against w_acc, the 2-D front, the PCA picture) are
two-objective features; with three or more objectives the ternary maps take their place.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from padirec.comparison import results, summaries, tables, verdicts
from padirec.comparison.run import BackboneEvaluation
from padirec.objectives import requirements
from padirec.methods.registry import label, methods_for
from padirec.objectives.registry import metrics_of
from padirec.pipeline import io, workers
from padirec.pipeline.artifacts import AdapterSweep
from padirec.pipeline.notebook import OpenStage
from padirec.report import figures, ternary
from padirec.training import generators

TERNARY_METHODS = ("retrain", "padirec", "interpolate", "nearest", "soup", "hypernetwork")
# What a section shows, for a study of two objectives and of more (notebook 05 prints the one for its study).
SECTION_TEXT = {
    "requirement_figures": (
        "Each method's metric minus Retrain's at every requirement (the paper's Figure 4a, as differences), for "
        "PaDiRec and the baselines closest to it; the grey band is Retrain's own seed-to-seed standard deviation, "
        "so a line inside it is as close to Retrain as a re-run of Retrain. Genre coverage@10 and intra-list "
        "distance@10 do not reward multi-genre items the way alpha-NDCG does; the table gives r(w_div, measure) per "
        "method.",
        "Ternary maps of each objective's metric over the requirement simplex (each corner is one objective alone; "
        "a point is an unseen requirement, its colour the seed-mean metric there) for Retrain and PaDiRec on the "
        "first backbone; then PaDiRec's and Interpolate's relative error against Retrain at the same points, and "
        "the error per method."),
    "fronts": (
        "Each method's achieved (NDCG@10, alpha-NDCG@10) points across the grid; the cross is the hypervolume "
        "reference point.",
        "Retrain's achieved point at each unseen requirement and a segment from it to each method's point at the "
        "same requirement, on each pair of the objectives' metrics: a segment's length is the method's error."),
    "memorisation": (
        "Distance from each generated adapter to its nearest training checkpoint, beside the distance between the "
        "adapters of two neighbouring grid requirements; and the first seed's training checkpoints and generated "
        "adapters on the checkpoints' first two principal axes. A generator that only memorised would put its "
        "unseen-requirement adapters on top of training checkpoints.",
        "Not drawn for this study: the picture orders adapters along one weight, which needs two objectives."),
}


def methods_markdown(objectives, skip=()) -> str:
    """The registered methods that serve a study of these objectives (less `skip`), with how each gets its adapter."""
    return "\n".join(["| method | how it gets an adapter for requirement w |", "|---|---|"]
                     + [f"| {m.name} | {m.description} |" for m in methods_for(objectives, skip)])


@dataclass
class EvaluationReport:
    stage: OpenStage
    results: dict[str, BackboneEvaluation]

    @property
    def study(self):
        return self.stage.study

    @property
    def two_objectives(self) -> bool:
        return len(self.study.objectives) == 2

    def text(self, section: str) -> str:
        """What `section` shows for this study's number of objectives (SECTION_TEXT)."""
        if len(self.study.objectives) > 3:
            return f"No figure for a study of {len(self.study.objectives)} objectives: the tables hold its numbers."
        return SECTION_TEXT[section][0 if self.two_objectives else 1]

    @cached_property
    def rows(self) -> pd.DataFrame:
        return pd.concat([r.rows for r in self.results.values()], ignore_index=True)

    @cached_property
    def seconds(self) -> pd.DataFrame:
        return pd.concat([r.seconds for r in self.results.values()], ignore_index=True)

    @cached_property
    def unseen(self) -> list[tuple[float, ...]]:
        """The evaluation requirements no backbone's generator saw (the study's grid and the placed ones)."""
        training = np.concatenate([AdapterSweep.load(self.stage.out.sweep(name), name, self.study.objectives)
                                   .training_weights for name in self.results])
        return requirements.unseen(self.study.eval_grid, training)

    @cached_property
    def regions(self) -> dict[str, list]:
        return requirements.regions(self.study.grid, self.unseen)

    @cached_property
    def summaries(self) -> pd.DataFrame:
        return summaries.seed_summaries(self.rows, self.unseen, tuple(self.study.hv_reference), regions=self.regions)

    @cached_property
    def full_summaries(self) -> pd.DataFrame:
        return summaries.seed_summaries(self.rows, self.unseen, tuple(self.study.hv_reference_full), prefix="full_")

    def _save(self, table: pd.DataFrame, name: str) -> pd.DataFrame:
        figures.save_table(table, self.stage.out.tables / name)
        return table

    def guidance(self) -> pd.DataFrame:
        """The validation gap per guidance scale (table and figure)."""
        table = pd.concat({name: r.guidance_table for name, r in self.results.items()}, names=["backbone"])
        figure = figures.guidance_gap_figure(table, {name: r.guidance for name, r in self.results.items()})
        figures.save_figure(figure, self.stage.out.figures / "guidance_ablation.png")
        return self._save(table, "guidance_ablation")

    def loss_tuning(self) -> pd.DataFrame:
        """PaDiRec + loss tuning's validation gap per anchor weight (0: the losses alone) and the weight chosen."""
        table = pd.concat({name: r.anchor_table.assign(chosen=r.anchor_table.index == r.anchor_weight)
                           for name, r in self.results.items() if len(r.anchor_table)}, names=["backbone"])
        return self._save(table, "loss_tuning_choice")

    def main_table(self) -> pd.DataFrame:
        main = self._save(tables.main_table(self.summaries), "main_results")
        self._save(tables.readable_main_table(main), "main_results_ci")
        return main

    @staticmethod
    def readable_main_table(main: pd.DataFrame) -> pd.DataFrame:
        """A main table's few headline columns as text, each mean with its 95% CI half-width."""
        return tables.readable_main_table(main)

    def full_ranking_table(self) -> pd.DataFrame:
        return self._save(tables.main_table(self.full_summaries), "main_results_full_ranking")

    def seed_table(self) -> pd.DataFrame:
        """The numbers every verdict is built on: HV and the gaps per backbone, method and seed (tables/seed_summaries)."""
        keep = ["hv", *[c for c in self.summaries.columns if c.startswith("rel_gap_")],
                *[c for c in self.summaries.columns if c.startswith("pearson_")]]
        table = self.summaries.set_index(["backbone", "method", "seed"])[keep]
        return self._save(table, "seed_summaries")

    def seed_pivot(self, metric: str, methods=("padirec", "retrain", "interpolate", "nearest", "hypernetwork")):
        """One metric per (backbone, seed) for a few methods, side by side, for the notebook."""
        wide = self.summaries.pivot_table(index=["backbone", "seed"], columns="method", values=metric)
        return wide[[m for m in methods if m in wide]].rename(columns=label)

    def near_ends(self) -> pd.DataFrame:
        return self._save(tables.near_end_table(tables.main_table(self.summaries)), "near_end_gaps")

    def per_requirement(self) -> pd.DataFrame:
        return self._save(tables.per_requirement_table(self.rows, self.study.objectives), "per_requirement")

    def requirement_figures(self) -> pd.DataFrame | None:
        """Two objectives: each metric against the first weight and, with diversity among them, r(w_div, diversity
        measure) per method. Three: ternary maps of the metrics and of the relative error against Retrain on the
        first backbone, and those errors. More: no figure (a simplex of four or more weights has no map here)."""
        out, rows, objectives = self.stage.out, self.rows, self.study.objectives
        if self.two_objectives:
            metrics = [*dict.fromkeys([*metrics_of(objectives), "coverage@10", "ild@10"])]
            figures.save_figure(figures.method_curves_figure(rows, tuple(metrics), weight=f"w_{objectives[0]}"),
                                out.figures / "method_curves.png")
            return self._save(tables.diversity_control(rows), "diversity_measures") if "div" in objectives else None
        if len(objectives) != 3:
            return None
        first = self.stage.cfg.backbone.names[0]
        on_first = rows[rows["backbone"] == first]
        figure = ternary.metric_maps_figure(on_first, objectives, methods=("retrain", "padirec"))
        figure.suptitle(f"{first}: metrics over the simplex (unseen requirements)", y=1.02)
        figures.save_figure(figure, out.figures / "metric_maps.png")
        figures.save_figure(ternary.error_maps_figure(on_first, objectives, methods=("padirec", "interpolate")),
                            out.figures / "error_maps.png")
        errors = ternary.relative_errors(rows, objectives, methods=TERNARY_METHODS[1:])
        return errors.groupby("method")["rel_error"].describe()[["mean", "50%", "max"]]

    def fronts(self) -> None:
        """Two objectives: the trade-off front and the reference point. More: the achieved points per metric pair."""
        out, rows, objectives = self.stage.out, self.rows, self.study.objectives
        if self.two_objectives:
            figures.save_figure(figures.pareto_figure(rows, tuple(self.study.hv_reference),
                                                      metrics=tuple(metrics_of(objectives)),
                                                      weight=f"w_{objectives[0]}"), out.figures / "pareto.png")
            return
        if len(objectives) != 3:
            return
        first = rows[rows["backbone"] == self.stage.cfg.backbone.names[0]]
        figures.save_figure(ternary.achieved_points_figure(first, self.study.objectives),
                            out.figures / "achieved_points.png")

    @cached_property
    def density(self) -> pd.DataFrame:
        rows = pd.concat([r.density_rows for r in self.results.values()], ignore_index=True)
        density = tables.density_summary(rows, self.rows, self.unseen, tuple(self.study.hv_reference), self.regions)
        self._save(density.set_index(["backbone", "method", "grid", "seed"]), "grid_density")
        return density

    def grid_density(self) -> pd.DataFrame:
        """The ablation's tests per training grid; its figure only when there are several grids to compare."""
        if self.density["grid"].nunique() > 1:
            figures.save_figure(figures.density_figure(self.density), self.stage.out.figures / "grid_density.png")
        return self._save(tables.density_table(self.density), "grid_density_tests")

    def gap_by_grid(self) -> pd.DataFrame:
        return self._save(tables.gap_by_grid(self.density), "gap_by_grid")

    def before_after(self) -> pd.DataFrame:
        """Every training grid's gaps and HV beside the methods that use none (`tables.before_after`)."""
        return self._save(tables.before_after(self.density, self.summaries, self.study.main_grid), "before_after")

    @cached_property
    def verdicts(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(primary, secondary) verdicts (padirec.comparison.verdicts): the full tables in tables/verdicts.csv, the
        compact ones in tables/verdicts_primary.md and tables/verdicts_secondary.md."""
        primary, secondary = verdicts.verdict_tables(self.summaries, self.study.primary, self.density)
        self._save(pd.concat([primary, secondary], ignore_index=True).set_index(["family", "comparison"]), "verdicts")
        for name, table in (("primary", primary), ("secondary", secondary)):
            self._save(verdicts.compact(table).set_index("comparison"), f"verdicts_{name}")
        return primary, secondary

    def findings(self) -> str:
        """The verdicts in words (tables/findings.md, copied into the README)."""
        primary, secondary = self.verdicts
        findings = verdicts.findings_markdown(primary, secondary, list(self.results), len(self.study.seeds))
        io.write_text(self.stage.out.tables / "findings.md", findings)
        return findings

    def memorisation(self) -> pd.DataFrame | None:
        """Two objectives (the PCA picture orders adapters by w_acc): distance from each generated adapter to its
        nearest training checkpoint, and the first backbone's adapters on their first two principal axes."""
        if not self.two_objectives:
            return None
        out, weights = self.stage.out, np.asarray(self.study.eval_grid)
        found, sweeps = [], {}
        seen = {w[0] for w in requirements.keys(np.concatenate([
            AdapterSweep.load(out.sweep(name), name, self.study.objectives).training_weights for name in self.results]))}
        for name, result in self.results.items():
            sweeps[name] = AdapterSweep.load(out.sweep(name), name, self.study.objectives).subset(result.replicates[0].seed)
            found.append(generators.memorisation(result.replicates[0].generated["padirec"], sweeps[name], weights, seen)
                         .assign(backbone=name))
        table = pd.concat(found).groupby(["backbone", "unseen"])[["nearest_training_distance",
                                                                  "neighbour_grid_distance"]].mean()
        name = self.stage.cfg.backbone.names[0]
        first, checkpoints = self.results[name].replicates[0], sweeps[name].checkpoints[0]  # [R, keep, P]
        figure = figures.memorisation_figure(checkpoints.reshape(-1, checkpoints.shape[-1]),
                                             np.repeat(sweeps[name].weights[:, 0], checkpoints.shape[1]),
                                             first.generated["padirec"][0].numpy(), weights[:, 0],
                                             f"{name}, seed {first.seed}: adapters on PCA axes")
        figures.save_figure(figure, out.figures / "memorisation_pca.png")
        return self._save(table, "generator_memorisation")

    def what_this_shows(self) -> str:
        """The stage's reading in a few sentences, from the main table and the verdicts."""
        main = tables.main_table(self.summaries)
        lines = []
        for name in self.results:
            padirec, retrain = main.loc[(name, "padirec")], main.loc[(name, "retrain")]
            lines.append(f"- **{name}**: PaDiRec's gap to Retrain at the unseen requirements is "
                         f"{padirec['rel_gap_unseen']:.4f} ± {padirec['rel_gap_unseen_ci95']:.4f} (Retrain against its own "
                         f"other seeds: {retrain['rel_gap_unseen']:.4f}); its hypervolume is "
                         f"{100 * padirec['hv_vs_retrain']:.1f}% of Retrain's.")
        primary, secondary = self.verdicts
        counts = primary["verdict"].value_counts()
        said = ", ".join(f"{counts[v]} {v}" for v in ("equivalent", "not worse", "better", "worse", "not resolved") if v in counts)
        lines.append(f"- Of the {len(primary)} declared comparisons: {said} (Holm over the family, blocked by backbone).")
        for _, row in primary[primary["verdict"] != "not resolved"].iterrows():
            lines.append(f"  - {row['comparison']}: {row['verdict']}.")
        found = int((secondary["verdict"] != "not resolved").sum()) if len(secondary) else 0
        lines.append(f"- Secondary (Benjamini-Hochberg over {len(secondary)}): {found} with a direction on both "
                     "backbones; the rest not resolved. A comparison without a finding is not a tie.")
        return "**What this shows.**\n\n" + "\n".join(lines)

    def efficiency(self) -> pd.DataFrame:
        """Seconds to serve one requirement per method, the one-off costs, and each unit's wall time."""
        timing, seconds = self.stage.out.timing, self.seconds
        figures.save_figure(figures.efficiency_figure(tables.seconds_per_requirement(seconds)),
                            timing / "efficiency.png")
        one_off = pd.DataFrame({"retrain_stacked_s_per_requirement": seconds.groupby("backbone")["retrain_stacked"].mean()})
        if "hypernetwork_training" in seconds:
            one_off.insert(0, "hypernetwork_training_s", seconds.groupby("backbone")["hypernetwork_training"].mean())
        if "loss_tuning_training" in seconds:
            one_off["loss_tuning_s_per_anchor_weight"] = seconds.groupby("backbone")["loss_tuning_training"].mean()
        efficiency = tables.efficiency_table(seconds)
        figures.save_table(efficiency, timing / "efficiency")
        io.write_text(timing / "headline.md", tables.headline_markdown(
            tables.main_table(self.summaries), efficiency, self.stage.study_name, len(self.study.seeds),
            list(self.results)))
        figures.save_table(one_off, timing / "one_off_seconds")
        figures.save_table(workers.unit_seconds(), timing / "units")
        return one_off

    def write_results(self) -> list[str]:
        """metrics.json, the headline numbers `dvc metrics show` lists, and the per-requirement curves."""
        out, objectives = self.stage.out, self.study.objectives
        metrics = results.write_results(self.results, self.rows, self.summaries, self.full_summaries,
                                        self.verdicts[0], self.study,
                                        out.of_stage("sweep").figures / "sweep_metrics.json",
                                        out.figures / "metrics.json", self.stage.device)
        io.write_json(out.headline, tables.headline(tables.main_table(self.summaries)))
        figures.save_curves(self.rows, out.figures / "plots" / "tradeoff", ["backbone", "method"],
                            [f"w_{o}" for o in objectives] + metrics_of(objectives))
        return sorted(metrics["backbones"][self.stage.cfg.backbone.names[0]]["methods"])
