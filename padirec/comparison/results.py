"""The evaluation's results file (figures/<study>/evaluate/metrics.json) and the headline numbers DVC lists."""
from __future__ import annotations

import json

import pandas as pd

from padirec.comparison.summaries import summary_columns
from padirec.evaluation.control import requirement_means
from padirec.comparison.tables import seconds_per_requirement
from padirec.methods.registry import TABLE_ORDER
from padirec.objectives.registry import metrics_of
from padirec.pipeline import environment
from padirec.pipeline.io import write_json


def method_summary(rows: pd.DataFrame, summaries: pd.DataFrame, backbone: str, method: str,
                   full_summaries: pd.DataFrame | None = None, seconds: pd.DataFrame | None = None) -> dict:
    """The metrics.json entry of one method on one backbone: the seed-averaged grid, every SUMMARY_KEYS value
    as the mean over seeds, with its standard deviation under `std`; with `full_summaries` the full-ranking
    HV, r-a, r-d and monotonicity under `full_ranking`, with `seconds` (as `method_rows` records them) the
    mean `seconds_per_requirement`."""
    def of(table: pd.DataFrame) -> pd.DataFrame:
        return table[(table["backbone"] == backbone) & (table["method"] == method)]

    frame, per_seed = of(rows), of(summaries)
    numeric = [c for c in frame.columns if "@" in c]
    weights = [c for c in frame.columns if c.startswith("w_")]
    entry = {"grid": [{key: round(float(value), 6) for key, value in row.items()}
                      for row in requirement_means(frame[[*weights, *numeric]]).to_dict("records")]}
    keys = summary_columns(per_seed.columns)
    for key in keys:
        entry[key] = round(float(per_seed[key].mean()), 6)
    entry["std"] = {key: round(float(per_seed[key].std(ddof=1)), 6) for key in keys}
    entry["seeds"] = int(per_seed["seed"].nunique())
    if full_summaries is not None:
        full = of(full_summaries)
        entry["full_ranking"] = {key: round(float(full[key].mean()), 6) for key in summary_columns(full.columns)
                                 if not key.startswith(("spearman", "rel_gap"))}
    if seconds is not None:
        entry["seconds_per_requirement"] = float(of(seconds_per_requirement(seconds))["seconds"].mean())
    return entry


def write_results(results: dict, rows: pd.DataFrame, summaries: pd.DataFrame, full_summaries: pd.DataFrame,
                  primary: pd.DataFrame, study, sweep_metrics, target, device) -> dict:
    """metrics.json: the sweep stage's metrics (path `sweep_metrics`) with, per backbone, every method's
    `method_summary` and the chosen guidance scale, the reference points, the environment and the primary
    verdicts; written to `target` and returned."""
    metrics = json.loads(sweep_metrics.read_text())
    present = [method for method in TABLE_ORDER if method in set(rows["method"])]
    for name, result in results.items():
        metrics["backbones"][name]["methods"] = {method: method_summary(rows, summaries, name, method, full_summaries)
                                                 for method in present}
        metrics["backbones"][name]["generator"] = {"guidance": result.guidance}
    metrics["hv_reference"] = {"metrics": metrics_of(study.objectives),
                               "sampled": list(study.hv_reference), "full_ranking": list(study.hv_reference_full)}
    metrics["environment"] = environment.record(device)
    columns = ["comparison", "test", "margin", "effect", "ci95_low", "ci95_high", "ci90_low", "ci90_high", "p",
               "p_adjusted", "verdict", "seeds_needed"]
    metrics["verdicts"] = [{key: (round(value, 6) if isinstance(value, float) else value) for key, value in record.items()}
                           for record in primary[columns].to_dict("records")]
    write_json(target, metrics)
    return metrics

