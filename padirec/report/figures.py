"""Tables and figures written by the notebooks (atomically, as markdown + CSV and PNG)."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from padirec.pipeline import io
from padirec.pipeline.io import atomic_path, write_text


def save_table(table: pd.DataFrame, stem: Path) -> None:
    """Write `stem`.md (for reading on the web) and `stem`.csv (for reuse)."""
    readable = table.map(format_number)
    write_text(stem.with_suffix(".md"), readable.to_markdown(disable_numparse=True) + "\n")
    write_text(stem.with_suffix(".csv"), table.to_csv())


def save_metric_files(entries: dict[tuple[str, ...], dict], folder: Path) -> None:
    """One small JSON per key (`folder`/a/b.json for key (a, b)): `dvc metrics show` then lists one
    row per file with the same few columns, instead of one row of hundreds."""
    for key, values in entries.items():
        io.write_json(folder.joinpath(*key[:-1], f"{key[-1]}.json"), values)


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


def tradeoff_figure(grid: pd.DataFrame, metrics: tuple[str, ...] = ("ndcg@10", "alpha_ndcg@10")) -> plt.Figure:
    """Achieved metrics against the requested accuracy weight, per backbone (mean and seed std)."""
    import seaborn as sns

    figure, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.6))
    for axis, metric in zip(np.atleast_1d(axes), metrics):
        sns.lineplot(data=grid, x="w_acc", y=metric, hue="backbone", marker="o", errorbar="sd", ax=axis)
        axis.set(xlabel="requested accuracy weight w_acc (w_div = 1 - w_acc)", ylabel=metric,
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


def guidance_figure(rows: pd.DataFrame) -> plt.Figure:
    """NDCG@10 and alpha-NDCG@10 against w_acc, one line per guidance scale, per backbone."""
    return backbone_grid_figure(rows, "w_acc", ("ndcg@10", "alpha_ndcg@10"), "guidance", "generated adapters, {metric}",
                                palette="viridis", errorbar=None)


def backbone_grid_figure(data: pd.DataFrame, x: str, metrics: tuple[str, ...], hue: str, title: str,
                         width: float = 4.5, height: float = 3.3, **lineplot) -> plt.Figure:
    """One row of line plots per backbone, one column per metric (`title` may use {metric}); the legend
    sits once, right of the top-right plot. Extra keyword arguments go to seaborn.lineplot."""
    import seaborn as sns

    backbones = list(dict.fromkeys(data["backbone"]))
    figure, axes = plt.subplots(len(backbones), len(metrics), figsize=(width * len(metrics), height * len(backbones)),
                                squeeze=False)
    for row, name in enumerate(backbones):
        for column, metric in enumerate(metrics):
            axis = axes[row, column]
            sns.lineplot(data=data[data["backbone"] == name], x=x, y=metric, hue=hue, marker="o", ax=axis,
                         legend=(row == 0 and column == len(metrics) - 1), **lineplot)
            axis.set(title=f"{name}: {title.format(metric=metric)}")
    if axes[0, -1].get_legend() is not None:
        sns.move_legend(axes[0, -1], "upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    sns.despine(figure)
    figure.tight_layout()
    return figure


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------- evaluation (notebook 05)


def method_palette(methods: list[str]) -> dict[str, tuple]:
    import seaborn as sns

    return dict(zip(methods, sns.color_palette("tab10", len(methods))))


def method_curves_figure(rows: pd.DataFrame, metrics: tuple[str, ...] = ("ndcg@10", "alpha_ndcg@10", "coverage@10",
                                                                         "ild@10")) -> plt.Figure:
    """Each metric against w_acc, one line per method (mean over seeds, band: standard deviation), per backbone."""
    methods = list(dict.fromkeys(rows["method"]))
    per_seed = rows.groupby(["backbone", "method", "seed", "w_acc"], sort=False)[list(metrics)].mean().reset_index()
    return backbone_grid_figure(per_seed, "w_acc", metrics, "method", "{metric}", width=3.6, height=3.2,
                                hue_order=methods, palette=method_palette(methods), errorbar="sd", markersize=3)


def pareto_figure(rows: pd.DataFrame, reference: tuple[float, float], prefix: str = "") -> plt.Figure:
    """Achieved (NDCG@10, alpha-NDCG@10) across the grid per method (seed means), with the HV reference point."""
    import seaborn as sns

    backbones = list(dict.fromkeys(rows["backbone"]))
    methods = list(dict.fromkeys(rows["method"]))
    x, y = f"{prefix}ndcg@10", f"{prefix}alpha_ndcg@10"
    means = rows.groupby(["backbone", "method", "w_acc"], sort=False)[[x, y]].mean().reset_index()
    figure, axes = plt.subplots(1, len(backbones), figsize=(5.2 * len(backbones), 4.2), squeeze=False)
    for column, name in enumerate(backbones):
        axis = axes[0, column]
        subset = means[means["backbone"] == name].sort_values("w_acc")
        sns.lineplot(data=subset, x=x, y=y, hue="method", hue_order=methods, palette=method_palette(methods),
                     sort=False, marker="o", markersize=4, ax=axis, legend=(column == len(backbones) - 1))
        axis.scatter(*reference, marker="x", color="black", label="HV reference")
        axis.set(title=f"{name}: trade-off fronts ({'full ranking' if prefix else '100 candidates'})")
    if axes[0, -1].get_legend() is not None:
        sns.move_legend(axes[0, -1], "upper left", bbox_to_anchor=(1.02, 1), frameon=False)
    sns.despine(figure)
    figure.tight_layout()
    return figure


def density_figure(summary: pd.DataFrame) -> plt.Figure:
    """Grid-density ablation: gap to Retrain at the unseen requirements and hypervolume, against grid size."""
    figure = backbone_grid_figure(summary, "grid_size", ("rel_gap_unseen", "hv"), "method",
                                  "{metric} by training-grid size", height=3.2, errorbar="sd")
    for axis in figure.axes:
        axis.set(xlabel="training requirements")
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
