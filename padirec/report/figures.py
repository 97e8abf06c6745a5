"""Tables and figures written by the notebooks (atomically, as markdown + CSV and PNG)."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator
import numpy as np
import pandas as pd

from padirec.pipeline import io
from padirec.methods.registry import METHODS, label
from padirec.pipeline.io import atomic_path, write_text
from padirec.pipeline.sections import grid_order


def save_table(table: pd.DataFrame, stem: Path) -> None:
    """Write `stem`.md (for reading on the web) and `stem`.csv (for reuse)."""
    readable = table.map(format_number)
    write_text(stem.with_suffix(".md"), readable.to_markdown(disable_numparse=True) + "\n")
    write_text(stem.with_suffix(".csv"), table.to_csv())


def save_curves(frame: pd.DataFrame, folder: Path, by: list[str], columns: list[str]) -> None:
    """The seed mean of `columns` per group of `by`, one CSV per group (`folder`/a-b.csv), ordered by the
    first column: the data `dvc plots show` draws."""
    for key, group in frame.groupby(by, sort=False):
        means = group.groupby(columns[0], sort=True)[columns[1:]].mean().reset_index()
        name = "-".join(str(part) for part in (key if isinstance(key, tuple) else (key,)))
        write_text(folder / f"{name}.csv", means.round(6).to_csv(index=False))


def format_number(value) -> str:
    """Whole numbers as integers, others to 4 significant digits; text unchanged."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "dtype"):
        return str(value)
    if float(value).is_integer():
        return str(int(value))
    return f"{float(value):.4g}"


def save_figure(figure: plt.Figure, path: Path) -> None:
    # No metadata: PNG bytes then depend only on the drawing, so re-runs give the same DVC hash.
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=120, bbox_inches="tight", metadata={"Software": None})


def category_frequency_figure(categories: pd.DataFrame, dataset_name: str) -> plt.Figure:
    """Bar chart of positive interactions per category, with item counts annotated."""
    import seaborn as sns

    figure, axis = plt.subplots(figsize=(7, 4.5))
    sns.barplot(data=categories, y="category", x="interactions", color="#4c72b0", ax=axis)
    for row, items in enumerate(categories["items"]):
        axis.text(categories["interactions"].iloc[row], row, f" {items} items", va="center", fontsize=7)
    axis.set(xlabel="positive interactions (an item counts once per genre)", ylabel="",
             title=f"{dataset_name}: genre frequency after preparation")
    sns.despine(figure)
    figure.tight_layout()
    return figure


# Columns of the compact metric tables: the paper's protocol, then full ranking.
HEADLINE = ["hr@10", "ndcg@10", "alpha_ndcg@10", "full_hr@10", "full_ndcg@10", "full_alpha_ndcg@10"]


def metric_table(results: dict[str, dict[str, float]], columns: list[str] = HEADLINE) -> pd.DataFrame:
    """One row per method, the headline metrics as columns."""
    return pd.DataFrame({name: {column: values[column] for column in columns} for name, values in results.items()}).T


def learning_curves_figure(curves: pd.DataFrame) -> plt.Figure:
    import seaborn as sns

    figure, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    sns.lineplot(data=curves, x="epoch", y="train_loss", hue="backbone", marker="o", ax=axes[0])
    sns.lineplot(data=curves, x="epoch", y="valid_ndcg@10", hue="backbone", marker="o", ax=axes[1])
    axes[0].set(title="training loss (BPR, softmax-weighted)", ylabel="loss")
    axes[1].set(title="validation NDCG@10 (100 candidates)", ylabel="NDCG@10")
    sns.despine(figure)
    figure.tight_layout()
    return figure


def tradeoff_figure(grid: pd.DataFrame, metrics: tuple[str, ...] = ("ndcg@10", "alpha_ndcg@10"),
                    weight: str = "w_acc") -> plt.Figure:
    """A two-objective study's achieved metrics against its first objective's weight, per backbone (mean and seed
    std)."""
    import seaborn as sns

    figure, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.6))
    for axis, metric in zip(np.atleast_1d(axes), metrics):
        sns.lineplot(data=grid, x=weight, y=metric, hue="backbone", marker="o", errorbar="sd", ax=axis)
        axis.set(xlabel=f"requested weight {weight} (the other weight is 1 - {weight})", ylabel=metric,
                 title=f"test {metric} (100 candidates)")
    sns.despine(figure)
    figure.tight_layout()
    return figure


def loss_curve_figure(losses: pd.DataFrame) -> plt.Figure:
    import seaborn as sns

    figure, axis = plt.subplots(figsize=(6, 3.5))
    # Band: the standard deviation over seeds (cheap, unlike a bootstrap over thousands of steps).
    sns.lineplot(data=losses, x="step", y="loss", hue="backbone", errorbar="sd", ax=axis)
    axis.set(yscale="log", title="diffusion training loss (mean over seeds)", ylabel="L2 loss (smoothed)")
    sns.despine(figure)
    figure.tight_layout()
    return figure


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------- evaluation (notebook 05)


# The methods the figures draw beside Retrain: PaDiRec and the baselines closest to it (every method is in the tables).
FIGURE_METHODS = ("padirec", "interpolate", "nearest", "hypernetwork")
METRIC_WORDS = {"ndcg@10": "NDCG@10 (accuracy)", "alpha_ndcg@10": "alpha-NDCG@10 (diversity)",
                "coverage@10": "genre coverage@10", "ild@10": "intra-list distance@10",
                "aplt@10": "APLT@10 (long-tail share)", "fair_gap@10": "group NDCG gap@10"}


def metric_words(metric: str) -> str:
    """A metric's name in words, for axis labels and titles (`full_` prefix: under full ranking)."""
    base = metric.removeprefix("full_")
    words = METRIC_WORDS.get(base, base)
    return f"{words}, full ranking" if metric.startswith("full_") else words


def method_palette(methods: list[str]) -> dict[str, str]:
    """Each method's colour from the registry, the same in every figure."""
    return {method: METHODS[method].colour if method in METHODS else "#7f7f7f" for method in methods}


def method_curves_figure(rows: pd.DataFrame, metrics: tuple[str, ...] = ("ndcg@10", "alpha_ndcg@10", "coverage@10",
                                                                         "ild@10"),
                         methods: tuple[str, ...] = FIGURE_METHODS, weight: str = "w_acc") -> plt.Figure:
    """Each method's metric minus Retrain's at every requirement (seed means) against a two-objective study's first
    weight, per backbone (rows) and metric (columns); the grey band is Retrain's own seed-to-seed standard
    deviation, the noise floor."""
    backbones = list(dict.fromkeys(rows["backbone"]))
    methods = [m for m in methods if m in set(rows["method"])]
    means = rows.groupby(["backbone", "method", weight])[list(metrics)].mean()
    retrain_seeds = rows[rows["method"] == "retrain"].groupby(["backbone", "seed", weight])[list(metrics)].mean()
    noise = retrain_seeds.groupby(["backbone", weight]).std(ddof=1)
    palette = method_palette(methods)
    figure, axes = plt.subplots(len(backbones), len(metrics), figsize=(3.5 * len(metrics), 3.0 * len(backbones)),
                                squeeze=False, sharex=True)
    for row, name in enumerate(backbones):
        reference = means.loc[(name, "retrain")]
        for column, metric in enumerate(metrics):
            axis = axes[row, column]
            floor = noise.loc[name, metric]
            axis.fill_between(floor.index, -floor, floor, color="#cccccc", alpha=0.6, lw=0,
                              label="Retrain's seed-to-seed sd")
            axis.axhline(0, color=METHODS["retrain"].colour, lw=1, label="Retrain")
            for method in methods:
                difference = means.loc[(name, method), metric] - reference[metric]
                axis.plot(difference.index, difference.to_numpy(), marker="o", markersize=3, lw=1.5,
                          color=palette[method], label=label(method))
            axis.set(title=f"{name}: {metric_words(metric)}", xlabel=f"{weight} (the first objective's weight)" if row else "",
                     ylabel="method − Retrain" if column == 0 else "")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper center", ncol=len(labels), frameon=False, bbox_to_anchor=(0.5, 1.0))
    figure.suptitle("difference from Retrain at each requirement (test split, mean over seeds)", y=1.04)
    _despine(figure)
    figure.tight_layout()
    return figure


def guidance_gap_figure(table: pd.DataFrame, chosen: dict[str, float]) -> plt.Figure:
    """The validation gap to Retrain at the unseen requirements against the guidance scale (mean and sd over
    seeds), one line per backbone, the chosen scale marked."""
    figure, axis = plt.subplots(figsize=(5.2, 3.6))
    for index, (name, frame) in enumerate(table.groupby(level="backbone", sort=False)):
        frame = frame.droplevel("backbone")
        colour = f"C{index}"
        axis.errorbar(frame.index, frame["mean"], yerr=frame["std"], marker="o", capsize=3, color=colour, label=name)
        axis.scatter([chosen[name]], [frame.loc[chosen[name], "mean"]], s=140, facecolors="none", edgecolors=colour,
                     linewidths=1.5, zorder=3)
    axis.scatter([], [], s=140, facecolors="none", edgecolors="black", label="chosen scale")
    axis.set_xticks(sorted(table.index.get_level_values("guidance").unique()))
    axis.set(xlabel="guidance scale s (0: requirement ignored, 1: plain conditional model)",
             ylabel="gap to Retrain, unseen requirements", title="guidance scale chosen on the validation split\n"
             "(mean relative gap; bars: sd over seeds)")
    axis.legend(frameon=False)
    _despine(figure)
    figure.tight_layout()
    return figure


def _despine(figure: plt.Figure) -> None:
    import seaborn as sns

    sns.despine(figure)


def pareto_figure(rows: pd.DataFrame, reference: tuple[float, float], prefix: str = "",
                  methods: tuple[str, ...] = ("retrain", *FIGURE_METHODS, "soup", "mmr"),
                  metrics: tuple[str, str] = ("ndcg@10", "alpha_ndcg@10"), weight: str = "w_acc") -> plt.Figure:
    """A two-objective study's achieved metrics across the grid per method (seed means), with the HV reference
    point."""
    backbones = list(dict.fromkeys(rows["backbone"]))
    methods = [m for m in methods if m in set(rows["method"])]
    x, y = (prefix + metric for metric in metrics)
    means = rows.groupby(["backbone", "method", weight], sort=False)[[x, y]].mean().reset_index()
    palette = method_palette(methods)
    figure, axes = plt.subplots(1, len(backbones), figsize=(4.8 * len(backbones), 4.2), squeeze=False)
    for column, name in enumerate(backbones):
        axis = axes[0, column]
        for method in methods:
            front = means[(means["backbone"] == name) & (means["method"] == method)].sort_values(weight)
            axis.plot(front[x], front[y], marker="o", markersize=3, lw=1.5, color=palette[method], label=label(method))
        axis.scatter(*reference, marker="x", color="black", label="hypervolume reference point")
        axis.set(title=name, xlabel=metric_words(x), ylabel=metric_words(y))
        axis.xaxis.set_major_locator(MaxNLocator(5))
    handles, labels = axes[0, -1].get_legend_handles_labels()
    axes[0, -1].legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    figure.suptitle(f"trade-off fronts across the grid ({'full ranking' if prefix else '100 candidates'}, "
                    "mean over seeds)")
    _despine(figure)
    figure.tight_layout()
    return figure


def density_figure(summary: pd.DataFrame) -> plt.Figure:
    """Grid-density ablation: gap to Retrain at the unseen requirements and hypervolume per training grid (mean and
    sd over seeds), per backbone; grids in order of size, each named by its size and how it was made."""
    backbones = list(dict.fromkeys(summary["backbone"]))
    grids = sorted(summary["grid"].unique(), key=grid_order)
    positions = np.arange(len(grids))
    methods = list(dict.fromkeys(summary["method"]))
    palette = method_palette(methods)
    figure, axes = plt.subplots(len(backbones), 2, figsize=(9.0, 3.2 * len(backbones)), squeeze=False)
    for row, name in enumerate(backbones):
        for column, (metric, words, unit) in enumerate((("rel_gap_unseen", "gap to Retrain", "relative gap, unseen"),
                                                        ("hv", "hypervolume", "hypervolume"))):
            axis = axes[row, column]
            for method in methods:
                frame = summary[(summary["backbone"] == name) & (summary["method"] == method)]
                stats = frame.groupby("grid")[metric].agg(["mean", "std"]).reindex(grids)
                axis.errorbar(positions, stats["mean"], yerr=stats["std"], marker="o", capsize=3,
                              color=palette[method], label=label(method))
            axis.set_xticks(positions, grids, rotation=20 if len(grids) > 3 else 0)
            axis.set(title=f"{name}: {words}", xlabel="training grid" if row == len(backbones) - 1 else "",
                     ylabel=unit)
    axes[0, -1].legend(loc="upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    figure.suptitle("training grids: generators and baselines from each grid's adapters (bars: sd over seeds)")
    _despine(figure)
    figure.tight_layout()
    return figure


def memorisation_figure(training: np.ndarray, training_w_acc: np.ndarray, generated: np.ndarray,
                        generated_w_acc: np.ndarray, title: str) -> plt.Figure:
    """Training and generated adapters projected on the first two principal axes of the training adapters."""
    centre = training.mean(0)
    _, _, axes_t = np.linalg.svd(training - centre, full_matrices=False)
    project = lambda vectors: (vectors - centre) @ axes_t[:2].T  # noqa: E731
    figure, axis = plt.subplots(figsize=(5.5, 4.2))
    points = axis.scatter(*project(training).T, c=training_w_acc, cmap="viridis", vmin=0, vmax=1, marker="o",
                          s=22, label="training checkpoints")
    axis.scatter(*project(generated).T, c=generated_w_acc, cmap="viridis", vmin=0, vmax=1, marker="*", s=90,
                 edgecolors="black", linewidths=0.5, label="generated")
    figure.colorbar(points, ax=axis, label="w_acc")
    axis.set(title=title, xlabel="PC 1", ylabel="PC 2")
    axis.legend(frameon=False, loc="best")
    figure.tight_layout()
    return figure


def efficiency_figure(seconds: pd.DataFrame) -> plt.Figure:
    """Seconds to obtain one requirement's adapter (or ranking, for MMR), per method, log scale."""
    import seaborn as sns

    figure, axis = plt.subplots(figsize=(7, 3.8))
    order = seconds.groupby("method")["seconds"].mean().sort_values().index
    sns.barplot(data=seconds, y="method", x="seconds", hue="backbone", order=order, errorbar=None, ax=axis)
    axis.set(xscale="log", xlabel="seconds per new requirement (log scale)", ylabel="",
             title="cost of serving a new requirement")
    sns.despine(figure)
    figure.tight_layout()
    return figure
