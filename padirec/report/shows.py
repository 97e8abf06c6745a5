"""Each notebook's closing "What this shows", written from its own numbers so that the text cannot drift, and
tables as Markdown with readable labels."""
from __future__ import annotations

import dataclasses

import pandas as pd

from padirec.methods.registry import label


def number(value, digits: int = 4) -> str:
    """A number as a reader wants it: counts whole, others to `digits` significant places, never a repr."""
    if isinstance(value, (bool, str)) or value is None or (isinstance(value, float) and value != value):
        return "" if value is None or (isinstance(value, float) and value != value) else str(value)
    value = float(value)
    if value.is_integer() and abs(value) >= 1:
        return f"{int(value):,}"
    return f"{value:,.0f}" if abs(value) >= 10 ** digits else f"{value:.{digits}g}"


def markdown_table(table: pd.DataFrame, digits: int = 4) -> str:
    """A DataFrame as a Markdown table: method names as labels, numbers by `number`."""
    shown = table.copy()
    if isinstance(shown.index, pd.MultiIndex):
        shown.index = [" · ".join(label(str(part)) for part in key) for key in shown.index]
    else:
        shown.index = [label(str(key)) for key in shown.index]
    shown = shown.map(lambda value: number(value, digits) if not isinstance(value, str) else value)
    return shown.to_markdown(disable_numparse=True)


def settings_markdown(section) -> str:
    """A config section's settings as a two-column Markdown table (nested sections flattened with dots)."""
    rows = []

    def walk(prefix: str, value) -> None:
        if dataclasses.is_dataclass(value):
            for field in dataclasses.fields(value):
                walk(f"{prefix}{field.name}.", getattr(value, field.name))
        elif isinstance(value, dict) and value:
            for key, inner in value.items():
                walk(f"{prefix}{key}.", inner)
        else:
            rows.append((prefix.rstrip("."), value))

    walk("", section)
    return "| setting | value |\n|---|---|\n" + "\n".join(f"| `{name}` | {value} |" for name, value in rows)


def data_shows(summary: pd.DataFrame, splits: pd.DataFrame) -> str:
    """From `statistics.summary_table` and `statistics.split_table`."""
    prepared = summary.iloc[-1]
    split = splits["value"]
    return (f"**What this shows.** After the filters, {int(prepared['users']):,} users rate "
            f"{int(prepared['items']):,} items {int(prepared['interactions']):,} times as positives (density "
            f"{float(prepared['density']):.2%}). Each user's last positive is the test target and the one before "
            f"it the validation target: {int(split['train examples']):,} training examples, "
            f"{int(split['test users']):,} test users with {int(split['negatives per evaluation user'])} sampled "
            f"negatives each, and {int(split['categories (genres)'])} genres, which the diversity objective and "
            "metrics read.")


def backbone_shows(results: dict[str, dict], runs: dict) -> str:
    popularity = results["popularity"]["ndcg@10"]
    parts = [f"{name} reaches NDCG@10 {results[name]['ndcg@10']:.3f} on the test split "
             f"({results[name]['ndcg@10'] / popularity:.1f} times the popularity ranking's {popularity:.3f}), "
             f"best at epoch {run.best_epoch}" for name, run in runs.items()]
    return ("**What this shows.** " + "; ".join(parts) + ". These frozen backbones are what every adapter, "
            "generator and baseline of the studies builds on.")


def sweep_shows(summary: pd.DataFrame, objectives: list[str]) -> str:
    """From the adapter-controllability table (rows: statistics, columns: backbones)."""
    parts = []
    for name in summary.columns:
        rs = ", ".join(f"{objective} {summary.loc[f'pearson_{objective}', name]:.3f}" for objective in objectives)
        parts.append(f"{name}: {rs}")
    return ("**What this shows.** Pearson r between each objective's weight and its test metric over the tuned "
            "adapters (+1: the metric follows the weight exactly): " + "; ".join(parts) + ". These adapters are "
            "the generator's training data, and Retrain's too at other requirements.")


def diffusion_shows(training: pd.DataFrame) -> str:
    full = training[training.index.get_level_values("grid") == "full"]
    return (f"**What this shows.** {len(training)} generators trained (one per backbone and seed on the training "
            f"requirements, plus the ablation grids'); the mean loss of the last 100 steps is "
            f"{training['final_loss'].mean():.3f} (from {training['final_loss'].min():.3f} to "
            f"{training['final_loss'].max():.3f}). {len(full)} of them serve the evaluation's main comparison.")
