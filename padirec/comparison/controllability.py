"""Can a third objective be controlled? The sweep's check before a study builds on it.

    python -m padirec.comparison.controllability                  (about 6 minutes on 2 CPU cores)

For each candidate third objective (`fair`, `fair_gap`, `tail`) and each user grouping of the
fairness objectives (`gender`, `activity`), adapters are tuned on (acc, div, third) at the 15
requirements of the step-1/4 simplex lattice, on both frozen backbones and two seeds, as the
sweep stage tunes them; the test metrics of their last checkpoints give the controllability r
of each objective: Pearson and Spearman r between its weight and its metric over the
per-requirement means, signed so that +1 is perfect control for every metric.

Writes figures/objectives/controllability.{md,csv} (r per objective), requirements.csv (every
adapter's metrics) and controllability.png (each third objective's metric against its weight).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys

import pandas as pd

from padirec.data import dataset as data
from padirec.evaluation import protocol as evaluation
from padirec.objectives import registry as objectives, requirements
from padirec.pipeline import artifacts, config, io, paths, runtime
from padirec.report import figures as report
from padirec.training import adapters, sweep

CANDIDATES = {"gender": ("fair", "fair_gap", "tail"), "activity": ("fair", "fair_gap")}  # tail has no groups
SEEDS = (0, 1)


def measure(cfg: config.Config, out: paths.Paths, device, seeds=SEEDS, candidates=CANDIDATES) -> pd.DataFrame:
    """Test metrics of every lattice adapter, per grouping, backbone, third objective and seed."""
    dataset = data.Dataset.load(out.dataset)
    weights = requirements.lattice(3, 4)
    rows = []
    for grouping, thirds in candidates.items():
        test = evaluation.EvaluationSet.from_split(dataset, dataset.test, grouping)
        for name in cfg.backbone.names:
            model, _ = artifacts.load_backbone(out.backbone(name), name, device)
            test_states = evaluation.backbone_states(model, test.history)
            tuning = adapters.TuningSet.of(model, dataset)
            for third in thirds:
                listed = ["acc", "div", third]
                needed = objectives.objective_data(dataset, listed, grouping, device)
                for seed in seeds:
                    run = adapters.tune_adapters(dataclasses.replace(tuning, data=needed), weights, cfg.sweep,
                                                 seed, listed, progress=False)
                    metrics = adapters.evaluate_adapters(model, test_states, run.checkpoints[:, -1], test)
                    rows += [{"grouping": grouping, "backbone": name, "third": third, "seed": seed,
                              "w_acc": w[0], "w_div": w[1], "w_third": w[2], **m} for w, m in zip(weights, metrics)]
                print(f"{grouping} {name} {third}: done", file=sys.stderr, flush=True)
    return pd.DataFrame(rows)


def control_table(rows: pd.DataFrame) -> pd.DataFrame:
    """`sweep.controllability` per grouping, backbone and third objective: signed Pearson and Spearman r of each
    objective on the 100-candidate protocol, and the third metric's range over the requirements."""
    records = []
    for (grouping, backbone, third), frame in rows.groupby(["grouping", "backbone", "third"], sort=False):
        summary = sweep.controllability(frame.rename(columns={"w_third": f"w_{third}"}), ["acc", "div", third])
        metric = objectives.OBJECTIVES[third].metric
        records.append({"grouping": grouping, "backbone": backbone, "third": third, "third_metric": metric,
                        "pearson_acc": summary["pearson_acc"], "pearson_div": summary["pearson_div"],
                        "pearson_third": summary[f"pearson_{third}"], "spearman_third": summary[f"spearman_{third}"],
                        "min": summary[f"{metric}_min"], "max": summary[f"{metric}_max"],
                        "seed_std": summary[f"{metric}_seed_std"]})
    return pd.DataFrame(records).set_index(["grouping", "backbone", "third"])


def control_figure(rows: pd.DataFrame):
    """Each third objective's metric against its weight (means over seeds and the other weights, bands: sd over
    seeds), one panel per (grouping, third objective) in a grid of three columns, one legend."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    cases = rows[["grouping", "third"]].drop_duplicates().values.tolist()
    columns = 3
    rows_of_panels = -(-len(cases) // columns)
    figure, axes = plt.subplots(rows_of_panels, columns, figsize=(3.8 * columns, 3.2 * rows_of_panels), squeeze=False)
    for index, (grouping, third) in enumerate(cases):
        axis = axes.flat[index]
        frame = rows[(rows["grouping"] == grouping) & (rows["third"] == third)]
        objective = objectives.OBJECTIVES[third]
        sns.lineplot(frame, x="w_third", y=objective.metric, hue="backbone", marker="o", errorbar="sd", ax=axis,
                     legend=index == 0)
        better = "higher" if objective.higher_is_better else "lower"
        axis.set(title=f"{third}, users grouped by {grouping}" if third != "tail" else "tail (no user groups)",
                 xlabel=f"weight of {third} (w_{third})", ylabel=f"{objective.metric} ({better} is better)")
    for axis in axes.flat[len(cases):]:
        axis.set_visible(False)
    if axes.flat[0].get_legend() is not None:
        sns.move_legend(axes.flat[0], "upper left", bbox_to_anchor=(0, 1), frameon=False, title="backbone")
    figure.suptitle("does the third objective's metric follow its weight? (test split; line: mean, band: sd over "
                    "seeds and the other two weights)")
    sns.despine(figure)
    figure.tight_layout()
    return figure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m padirec.comparison.controllability", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="figures/objectives", help="folder for the tables and the figure")
    parser.add_argument("--redraw", action="store_true", help="draw the figure again from the folder's "
                        "requirements.csv instead of measuring (seconds, not minutes); the tables stay as measured")
    args = parser.parse_args(argv)
    root = paths.repo_root()
    folder = root / args.out
    if args.redraw:
        report.save_figure(control_figure(pd.read_csv(folder / "requirements.csv")), folder / "controllability.png")
        return 0
    cfg = config.load_config(root / "params.yaml")
    rows = measure(cfg, paths.Paths(root), runtime.setup(cfg.runtime))
    io.write_text(folder / "requirements.csv", rows.round(6).to_csv(index=False))
    table = control_table(rows)
    report.save_table(table, folder / "controllability")
    report.save_figure(control_figure(rows), folder / "controllability.png")
    print(table.round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
