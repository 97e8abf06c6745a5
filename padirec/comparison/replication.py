"""Conclusions that survive a re-run: confidence intervals, verdicts, and a split-half replication check.

A verdict compares PaDiRec with another method on one summary metric by a paired t-test over the
(backbone, seed) pairs. It is computed three times: on all seeds and on each of two disjoint
halves of the seeds. Only a direction (better or worse) that all three agree on counts as a
finding; the rest are "not resolved at this sample size" and are reported with their effect size
and confidence interval. The sentences the README shows are written here from the table, so
the text cannot drift from the numbers.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from padirec.methods.registry import TABLE_ORDER, label

LEVEL = 0.95
SIGNIFICANCE = 0.05
LOWER_IS_BETTER = {"rel_gap_unseen", "rel_gap_near_ends", "rel_gap_middle", "monotonicity_violations"}
METRIC_NAMES = {"hv": "hypervolume", "rel_gap_unseen": "gap to Retrain at the unseen requirements",
                "rel_gap_near_ends": "gap to Retrain near the ends of the simplex",
                "rel_gap_middle": "gap to Retrain in the middle of the simplex"}



def confidence_interval(values, level: float = LEVEL) -> tuple[float, float]:
    """(mean, half-width) of the t-based confidence interval of the mean; half-width NaN below 2 values."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) < 2:
        return (float(values.mean()) if len(values) else float("nan")), float("nan")
    half = stats.t.ppf(0.5 + level / 2, df=len(values) - 1) * stats.sem(values)
    return float(values.mean()), float(half)


def halves(seeds: list[int]) -> tuple[list[int], list[int]]:
    """Two disjoint halves of the seeds, in their order (the first gets the smaller half when odd)."""
    seeds = list(seeds)
    middle = len(seeds) // 2
    return seeds[:middle], seeds[middle:]


def verdict(difference: np.ndarray, lower_is_better: bool) -> tuple[str, float]:
    """("better" | "worse" | "no difference shown", p) for paired differences PaDiRec - other."""
    difference = np.asarray(difference, dtype=float)
    if len(difference) < 2 or np.allclose(difference, 0):
        return "no difference shown", float("nan")
    p = float(stats.ttest_1samp(difference, 0.0).pvalue)
    if not p < SIGNIFICANCE:
        return "no difference shown", p
    higher = difference.mean() > 0
    return ("worse" if higher == lower_is_better else "better"), p


def compare_pairs(summaries: pd.DataFrame, metric: str, other: str, seeds: list[int],
                  method: str = "padirec", by: dict | None = None) -> dict:
    """The paired comparison of `method` with `other` on `metric`, over the (backbone, seed) pairs of `seeds`."""
    frame = summaries[summaries["seed"].isin(seeds)]
    for key, value in (by or {}).items():
        frame = frame[frame[key] == value]
    wide = frame.pivot_table(index=["backbone", "seed"], columns="method", values=metric).dropna(subset=[method, other])
    difference = (wide[method] - wide[other]).to_numpy()
    said, p = verdict(difference, metric in LOWER_IS_BETTER)
    mean, half = confidence_interval(difference)
    spread = difference.std(ddof=1) if len(difference) > 1 else float("nan")
    return {"verdict": said, "p": p, "pairs": len(difference), "mean_difference": mean, "ci95": half,
            "effect_size_dz": mean / spread if spread and spread > 0 else float("nan")}


def replication_table(summaries: pd.DataFrame, comparisons: list[dict], seeds: list[int]) -> pd.DataFrame:
    """One row per comparison ({metric, other[, by][, summaries]}): the verdict on each half of the seeds and
    on all, whether they agree, and the effect (mean difference PaDiRec - other, its 95% CI, dz) on all seeds.
    A comparison's own `summaries` (e.g. the grid-density ablation's) replace the shared ones."""
    first, second = halves(seeds)
    shared, records = summaries, []
    for comparison in comparisons:
        metric, other, by = comparison["metric"], comparison["other"], comparison.get("by")
        summaries = comparison.get("summaries", shared)
        on_all = compare_pairs(summaries, metric, other, seeds, by=by)
        on_first = compare_pairs(summaries, metric, other, first, by=by)
        on_second = compare_pairs(summaries, metric, other, second, by=by)
        agreed = on_all["verdict"] == on_first["verdict"] == on_second["verdict"]
        records.append({
            "comparison": comparison.get("name", "main"), "metric": metric, "other": other,
            **{key: value for key, value in (by or {}).items()},
            "half_1_seeds": " ".join(map(str, first)), "verdict_half_1": on_first["verdict"], "p_half_1": on_first["p"],
            "half_2_seeds": " ".join(map(str, second)), "verdict_half_2": on_second["verdict"],
            "p_half_2": on_second["p"],
            "verdict_all": on_all["verdict"], "p_all": on_all["p"], "pairs_all": on_all["pairs"],
            "mean_difference": on_all["mean_difference"], "ci95": on_all["ci95"],
            "effect_size_dz": on_all["effect_size_dz"],
            "replicated": agreed, "finding": agreed and on_all["verdict"] != "no difference shown",
        })
    return pd.DataFrame(records)


def _number(value: float) -> str:
    return f"{value:.2g}" if abs(value) < 1e-3 and value != 0 else f"{value:.4f}"


def sentence(row: pd.Series) -> str:
    """One verdict in words, from a row of `replication_table`."""
    other = label(row["other"])
    metric = METRIC_NAMES.get(row["metric"], row["metric"])
    where = f" with {int(row['grid_size'])} training requirements" if "grid_size" in row and pd.notna(row.get("grid_size")) else ""
    effect = (f"mean difference PaDiRec - {other} {_number(row['mean_difference'])}, 95% CI "
              f"[{_number(row['mean_difference'] - row['ci95'])}, {_number(row['mean_difference'] + row['ci95'])}], "
              f"{int(row['pairs_all'])} pairs")
    halves_said = (f"seeds {row['half_1_seeds']}: {row['verdict_half_1']} (p {_number(row['p_half_1'])}); "
                   f"seeds {row['half_2_seeds']}: {row['verdict_half_2']} (p {_number(row['p_half_2'])}); "
                   f"all: {row['verdict_all']} (p {_number(row['p_all'])})")
    if row["finding"]:
        return f"- **PaDiRec is {row['verdict_all']} than {other}** on the {metric}{where}: {effect}; {halves_said}."
    if row["replicated"]:
        return (f"- No difference shown between PaDiRec and {other} on the {metric}{where}, on either half or on all "
                f"seeds: {effect}.")
    return f"- Not resolved at this sample size: PaDiRec against {other} on the {metric}{where}: {effect}; {halves_said}."


def findings_markdown(table: pd.DataFrame) -> str:
    """The README's verdicts: replicated findings first, then replicated nulls, then the unresolved."""
    parts = []
    for title, rows in (("Findings (the same verdict on both halves of the seeds and on all of them)",
                         table[table["finding"]]),
                        ("No difference shown on either half or on all seeds",
                         table[table["replicated"] & ~table["finding"]]),
                        ("Not resolved at this sample size (the halves or all seeds disagree)",
                         table[~table["replicated"]])):
        if len(rows):
            parts.append(f"{title}:\n\n" + "\n".join(sentence(row) for _, row in rows.iterrows()))
    return "\n\n".join(parts) + "\n"


def paired_tests(summaries: pd.DataFrame, metric: str, method: str = "padirec",
                 alternative: str = "two-sided") -> pd.DataFrame:
    """Paired t-tests (scipy.stats.ttest_rel) of `method` against every other method on `metric`,
    paired over (backbone, seed)."""
    wide = summaries.pivot_table(index=["backbone", "seed"], columns="method", values=metric)
    records = []
    for other in [m for m in TABLE_ORDER if m in wide.columns and m != method]:
        pairs = wide[[method, other]].dropna()
        difference = pairs[method] - pairs[other]
        test = stats.ttest_rel(pairs[method], pairs[other], alternative=alternative)
        records.append({"baseline": other, "metric": metric, "pairs": len(pairs),
                        f"mean_{method}": pairs[method].mean(), "mean_baseline": pairs[other].mean(),
                        "mean_difference": difference.mean(), "t": float(test.statistic), "p": float(test.pvalue)})
    return pd.DataFrame(records)


def replication_comparisons(summaries: pd.DataFrame, density: pd.DataFrame) -> list[dict]:
    """Every verdict the evaluation states: PaDiRec against each other method on HV and on the gaps (overall,
    near the ends), and against Interpolate and Nearest at each grid-density size."""
    others = [m for m in TABLE_ORDER if m != "padirec" and m in set(summaries["method"])]
    found = [{"name": "main", "metric": metric, "other": other}
             for metric in ("hv", "rel_gap_unseen", "rel_gap_near_ends")
             if metric in summaries and summaries[metric].notna().any() for other in others]
    for size in sorted(density["grid_size"].unique()):
        found += [{"name": "grid density", "metric": "rel_gap_unseen", "other": other, "by": {"grid_size": int(size)},
                   "summaries": density} for other in ("interpolate", "nearest")]
    return found
