"""Tables and figures written by the notebooks (atomically, as markdown + CSV and PNG)."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from padirec.io import atomic_path, write_text


def save_table(table: pd.DataFrame, stem: Path) -> None:
    """Write `stem`.md (for reading on the web) and `stem`.csv (for reuse)."""
    readable = table.map(format_number)
    write_text(stem.with_suffix(".md"), readable.to_markdown(disable_numparse=True) + "\n")
    write_text(stem.with_suffix(".csv"), table.to_csv())


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
    sns.lineplot(data=losses, x="step", y="loss", hue="backbone", ax=axis)
    axis.set(yscale="log", title="diffusion training loss", ylabel="L2 loss (smoothed)")
    sns.despine(figure)
    figure.tight_layout()
    return figure


def guidance_figure(rows: pd.DataFrame) -> plt.Figure:
    """NDCG@10 and alpha-NDCG@10 against w_acc, one line per guidance scale, per backbone."""
    import seaborn as sns

    backbones = list(dict.fromkeys(rows["backbone"]))
    figure, axes = plt.subplots(len(backbones), 2, figsize=(9, 3.3 * len(backbones)), squeeze=False)
    for row, name in enumerate(backbones):
        subset = rows[rows["backbone"] == name]
        for column, metric in enumerate(("ndcg@10", "alpha_ndcg@10")):
            sns.lineplot(data=subset, x="w_acc", y=metric, hue="guidance", palette="viridis", errorbar=None,
                         marker="o", ax=axes[row, column])
            axes[row, column].set(title=f"{name}: generated adapters, {metric}")
    sns.despine(figure)
    figure.tight_layout()
    return figure


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far (Linux reports ru_maxrss in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
