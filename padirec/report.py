"""Tables and figures written by the notebooks (atomically, as markdown + CSV and PNG)."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
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
