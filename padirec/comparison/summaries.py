"""Summaries of the evaluation rows: per requirement, per (backbone, method, seed), and the gap to Retrain.

Summaries are per (backbone, method, seed). The gap to Retrain is the mean relative difference of each
objective's metric at the named requirements (`padirec.objectives.requirements.key`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from padirec.evaluation.control import requirement_means, signed_correlations
from padirec.evaluation.metrics import hypervolume, monotonicity_violations
from padirec.objectives import requirements
from padirec.objectives.registry import OBJECTIVES, metrics_of

SUMMARY_KEYS = ("hv", "pearson_*", "spearman_*", "monotonicity_violations", "rel_gap_unseen", "rel_gap_near_ends",
                "rel_gap_middle")  # pearson_* and spearman_*: one per objective


def summary_columns(columns) -> list[str]:
    """The SUMMARY_KEYS present in `columns`, in order (pearson_* and spearman_* expanded)."""
    found = []
    for name in SUMMARY_KEYS:
        found += [c for c in columns if c.startswith(name[:-1])] if name.endswith("*") else [name] * (name in columns)
    return found


def objectives_of(rows: pd.DataFrame) -> list[str]:
    """The objectives whose weight columns (w_<objective>) `rows` carries, in order."""
    return [column[2:] for column in rows.columns if column.startswith("w_")]


def _by_key(means: pd.DataFrame) -> dict[tuple[float, ...], dict]:
    """`requirement_means` as {requirement key: its metrics}."""
    weights = [c for c in means.columns if c.startswith("w_")]
    return {requirements.key([row[w] for w in weights]): row for row in means.to_dict("records")}


def relative_gap(method: pd.DataFrame, reference: pd.DataFrame, points: list[tuple[float, ...]]) -> float:
    """Mean |m - ref| / ref over the requirements `points` (their keys) and each objective's metric."""
    found, wanted = _by_key(requirement_means(method)), _by_key(requirement_means(reference))
    metrics = metrics_of(objectives_of(method))
    return float(np.mean([abs(found[w][m] - wanted[w][m]) / wanted[w][m] for w in points for m in metrics]))


def summarise(rows: pd.DataFrame, reference: pd.DataFrame | None, unseen: list,
              hv_reference: tuple[float, ...] = (0.0, 0.0), prefix: str = "",
              regions: dict[str, list] | None = None) -> dict:
    """One method's control over the grid: Pearson and Spearman r of each objective's weight against its metric
    (signed: +1 is perfect control), hypervolume over the objectives' metrics, monotonicity (two objectives),
    gap (over all unseen requirements, and per region of `regions`).

    `prefix` selects the protocol: "" for the 100 candidates, "full_" for full ranking.
    """
    means = requirement_means(rows)
    objectives = objectives_of(means)
    metrics = [means[prefix + OBJECTIVES[objective].metric] for objective in objectives]
    better = [OBJECTIVES[objective].higher_is_better for objective in objectives]
    summary = signed_correlations(means, objectives, prefix)
    summary["hv"] = hypervolume(np.stack(metrics, axis=1), hv_reference, better)
    # Two objectives: as the first weight rises, its metric should rise and the other's fall (each metric signed
    # so that higher is better).
    summary["monotonicity_violations"] = (monotonicity_violations(
        means[f"w_{objectives[0]}"], *[metric if higher else -metric for metric, higher in zip(metrics, better)])
        if len(objectives) == 2 else float("nan"))
    if reference is not None and unseen and not prefix:
        summary["rel_gap_unseen"] = relative_gap(rows, reference, unseen)
        for region, points in (regions or {}).items():  # NaN for a region with no requirement in it
            summary[f"rel_gap_{region}"] = relative_gap(rows, reference, points) if points else float("nan")
    return summary


def seed_summaries(rows: pd.DataFrame, unseen: list, hv_reference: tuple[float, ...], prefix: str = "",
                   reference_rows: pd.DataFrame | None = None, by: tuple[str, ...] = (),
                   regions: dict[str, list] | None = None) -> pd.DataFrame:
    """summarise() per (backbone, method, *by, seed). The gap reference of seed s is Retrain's mean over the
    *other* seeds in `reference_rows` (default: `rows`), for every method alike: Retrain's own gap is then its
    seed-to-seed noise floor, and a method that reproduced Retrain exactly would score that floor, not less (a
    reference that included seed s would share that seed's initialisation, batches and negatives with the sweep's
    methods and credit them with part of its noise)."""
    reference_rows = rows if reference_rows is None else reference_rows
    keys = ["backbone", "method", *by, "seed"]
    records = []
    for values, frame in rows.groupby(keys):
        record = dict(zip(keys, values))
        retrain = reference_rows[(reference_rows["backbone"] == record["backbone"])
                                 & (reference_rows["method"] == "retrain")]
        reference = retrain[retrain["seed"] != record["seed"]]
        records.append({**record, **summarise(frame, reference, unseen, hv_reference, prefix, regions)})
    return pd.DataFrame(records)
