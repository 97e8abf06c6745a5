"""Verdicts: a declared primary family per study, a design blocked by backbone, and equivalence where it is claimed.

Every comparison is `method` against `other` on one per-seed summary metric (HV, or a gap to Retrain), paired
over (backbone, seed). The design is blocked by backbone: the effect is the mean of the per-backbone mean
paired differences, and its standard error comes from the pooled within-backbone variance (an OLS of the
differences on backbone indicators), so a difference between the backbones' effects never inflates the error.

- The **primary** comparisons are declared in params.yaml (`studies.<name>.primary`): each is a difference
  test, an equivalence test (TOST) or a non-inferiority test (its one-sided half on the side of "worse") with a
  stated margin. Holm's method adjusts their p-values over the family. A difference is a finding when the
  adjusted p < 0.05 and both backbones' differences have its sign; an equivalence ("equivalent") or a
  non-inferiority ("not worse") when its adjusted p < 0.05.
- Every other comparison the evaluation can make is **secondary**: its estimate, its 95% CI and a
  Benjamini-Hochberg adjusted p. Comparisons whose differences are all zero (the same adapters under
  two names) and repeats of another comparison's differences are dropped, not listed.
- A comparison that is not a finding is "not resolved", with the seeds per backbone that 80% power would need
  at the observed effect (statsmodels' one-sample t power, at the family's Bonferroni level for the primary).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import tt_solve_power

from padirec.methods.registry import TABLE_ORDER, label
from padirec.pipeline.sections import VERDICT_METRICS, Comparison, grid_order

ALPHA = 0.05
POWER = 0.8
LOWER_IS_BETTER = VERDICT_METRICS
METRIC_NAMES = {"hv": "hypervolume", "rel_gap_unseen": "gap to Retrain at the unseen requirements",
                "rel_gap_near_ends": "gap to Retrain near the ends or edges",
                "rel_gap_middle": "gap to Retrain in the middle"}
BACKBONE_NAMES = {"sasrec": "SASRec", "gru4rec": "GRU4Rec"}
SECONDARY_OTHERS = ("interpolate", "nearest")  # the grid-density ablation's comparisons, per grid size


def confidence_interval(values, level: float = 1 - ALPHA) -> tuple[float, float]:
    """(mean, half-width) of the t-based confidence interval of the mean; half-width NaN below 2 values."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) < 2:
        return (float(values.mean()) if len(values) else float("nan")), float("nan")
    half = stats.t.ppf(0.5 + level / 2, df=len(values) - 1) * stats.sem(values)
    return float(values.mean()), float(half)


def comparison_name(comparison: Comparison) -> str:
    where = f", {comparison.grid} training grid" if comparison.grid is not None else ""
    if comparison.other_grid is not None and comparison.other_grid != comparison.grid:
        where = f", {comparison.grid} against {comparison.other_grid} training grid"
    return (f"{label(comparison.method)} - {label(comparison.other)}, "
            f"{METRIC_NAMES.get(comparison.metric, comparison.metric)}{where}")


@dataclass(frozen=True)
class Blocked:
    """The blocked estimate of one comparison."""

    effect: float  # mean over backbones of the per-backbone mean difference (method - other)
    se: float
    df: int
    p: float  # two-sided, H0: effect = 0
    ci95: tuple[float, float]
    ci90: tuple[float, float]
    sd: float  # pooled within-backbone standard deviation of the differences
    backbones: dict[str, tuple[float, float, float, int]]  # name -> (mean, 95% low, 95% high, seeds)


def differences(summaries: pd.DataFrame, comparison: Comparison) -> pd.DataFrame:
    """(backbone, seed, difference) of `comparison.method` minus `comparison.other` on its metric (each on its
    training grid, for a grid-density comparison)."""
    def values(method: str, grid: str | None) -> pd.Series:
        frame = summaries if grid is None else summaries[summaries["grid"] == grid]
        frame = frame[frame["method"] == method]
        return frame.groupby(["backbone", "seed"])[comparison.metric].mean() if len(frame) else pd.Series(dtype=float)

    first = values(comparison.method, comparison.grid)
    second = values(comparison.other, comparison.other_grid or comparison.grid)
    if first.empty or second.empty:
        return pd.DataFrame(columns=["backbone", "seed", "difference"])
    wide = pd.concat([first.rename("method"), second.rename("other")], axis=1).dropna()
    return (wide["method"] - wide["other"]).rename("difference").reset_index()


def blocked_contrast(frame: pd.DataFrame) -> Blocked:
    """OLS of the differences on backbone indicators (no intercept): the coefficients are the per-backbone means,
    the residual variance the pooled within-backbone one; the effect is the coefficients' mean."""
    if frame.empty:
        nan = float("nan")
        return Blocked(nan, nan, 0, nan, (nan, nan), (nan, nan), nan, {})
    indicators = pd.get_dummies(frame["backbone"], dtype=float)
    fit = sm.OLS(frame["difference"].to_numpy(dtype=float), indicators.to_numpy()).fit()
    contrast = np.full((1, indicators.shape[1]), 1.0 / indicators.shape[1])
    df, effect = int(fit.df_resid), float((contrast @ fit.params)[0])
    if df > 0 and fit.scale > 0:
        test = fit.t_test(contrast)
        se, p = float(np.ravel(test.sd)[0]), float(np.ravel(test.pvalue)[0])
        ci95, ci90 = (tuple(float(v) for v in test.conf_int(alpha=level)[0]) for level in (0.05, 0.10))
        sd = math.sqrt(fit.scale)
    else:  # one seed per backbone (no residual degrees of freedom), or differences without spread
        se, p, sd = float("nan"), float("nan"), 0.0 if df > 0 else float("nan")
        ci95 = ci90 = (float("nan"), float("nan"))
    per_backbone = {}
    for name, group in frame.groupby("backbone"):
        values = group["difference"].to_numpy(dtype=float)
        if len(values) > 1 and values.std() > 0:
            low, high = stats.ttest_1samp(values, 0.0).confidence_interval(1 - ALPHA)
        else:
            low = high = float("nan")
        per_backbone[name] = (float(values.mean()), float(low), float(high), len(values))
    return Blocked(effect, se, df, p, ci95, ci90, sd, per_backbone)


def tost_p(blocked: Blocked, margin: float) -> float:
    """Two one-sided t-tests of |effect| < margin on the blocked estimate: the larger one-sided p."""
    if not blocked.df > 0 or not blocked.se > 0:
        return float("nan")
    lower = stats.t.sf((blocked.effect + margin) / blocked.se, blocked.df)
    upper = stats.t.cdf((blocked.effect - margin) / blocked.se, blocked.df)
    return float(max(lower, upper))


def noninferiority_p(blocked: Blocked, margin: float, lower_is_better: bool) -> float:
    """One-sided t-test that the effect is not worse than the margin: effect < margin where lower is better,
    effect > -margin where higher is better."""
    if not blocked.df > 0 or not blocked.se > 0:
        return float("nan")
    if lower_is_better:
        return float(stats.t.cdf((blocked.effect - margin) / blocked.se, blocked.df))
    return float(stats.t.sf((blocked.effect + margin) / blocked.se, blocked.df))


def seeds_needed(blocked: Blocked, alpha: float, test: str = "difference", margin: float = 0.0,
                 lower_is_better: bool = True) -> float:
    """Seeds per backbone for 80% power at the observed effect and spread: inf where the effect is zero (a
    difference) or at or beyond the margin (an equivalence or non-inferiority). The blocked design with B
    backbones of n seeds is taken as a one-sample t-test of B * n differences."""
    if not blocked.sd > 0:
        return float("nan")
    if test == "difference":
        distance = abs(blocked.effect)
    elif test == "equivalence":
        distance = margin - abs(blocked.effect)
    else:  # the distance from the effect to the margin on the side of "worse"
        distance = margin - (blocked.effect if lower_is_better else -blocked.effect)
    if distance <= 0:
        return float("inf")
    # TOST near a zero effect needs both one-sided tests to pass; the one nearer the margin sets the pace.
    alternative = "two-sided" if test == "difference" else "larger"
    try:
        total = tt_solve_power(effect_size=distance / blocked.sd, alpha=alpha, power=POWER, alternative=alternative)
    except (ValueError, RuntimeError):
        return float("nan")
    total = float(np.atleast_1d(total)[0])
    return float(max(2, math.ceil(total / len(blocked.backbones)))) if math.isfinite(total) else float("nan")


def margin_of(summaries: pd.DataFrame, comparison: Comparison) -> float:
    """The equivalence margin in the metric's units: `margin` times the mean of `margin_of` (default `other`)."""
    if comparison.test == "difference":
        return float("nan")
    reference = comparison.margin_of or comparison.other
    values = summaries.loc[summaries["method"] == reference, comparison.metric]
    return float(comparison.margin * values.mean())


def _direction(effect: float, metric: str) -> str:
    return "better" if (effect < 0) == LOWER_IS_BETTER[metric] else "worse"


def assess(summaries: pd.DataFrame, comparisons: list[Comparison], family: str,
           density: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per comparison: the blocked estimate, each backbone's own difference and CI, the adjusted p
    (Holm for the primary family, Benjamini-Hochberg for the secondary), the verdict and the seeds needed."""
    records = []
    for comparison in comparisons:
        source = density if comparison.grid is not None else summaries
        found = differences(source, comparison)
        blocked = blocked_contrast(found)
        margin = margin_of(summaries, comparison)
        if comparison.test == "equivalence":
            p = tost_p(blocked, margin)
        elif comparison.test == "noninferiority":
            p = noninferiority_p(blocked, margin, LOWER_IS_BETTER[comparison.metric])
        else:
            p = blocked.p
        record = {"family": family, "comparison": comparison_name(comparison), "method": comparison.method,
                  "other": comparison.other, "metric": comparison.metric, "grid": comparison.grid,
                  "other_grid": comparison.other_grid,
                  "test": comparison.test, "margin": margin, "effect": blocked.effect,
                  "ci95_low": blocked.ci95[0], "ci95_high": blocked.ci95[1],
                  "ci90_low": blocked.ci90[0], "ci90_high": blocked.ci90[1], "sd_within": blocked.sd,
                  "df": blocked.df, "p": p}
        for name, (mean, low, high, seeds) in blocked.backbones.items():
            record.update({f"{name}_effect": mean, f"{name}_ci95_low": low, f"{name}_ci95_high": high,
                           f"{name}_seeds": seeds})
        record["_blocked"] = blocked
        records.append(record)
    table = pd.DataFrame(records)
    if table.empty:
        return table
    testable = table["p"].notna()
    method = "holm" if family == "primary" else "fdr_bh"
    table["p_adjusted"] = np.nan
    if testable.any():
        table.loc[testable, "p_adjusted"] = multipletests(table.loc[testable, "p"], alpha=ALPHA, method=method)[1]
    power_alpha = ALPHA / max(1, int(testable.sum())) if family == "primary" else ALPHA
    verdicts, needed, reasons = [], [], []
    for _, row in table.iterrows():
        blocked = row["_blocked"]
        signs = {np.sign(mean) for mean, *_ in blocked.backbones.values()}
        significant = row["p_adjusted"] < ALPHA
        reason = ""
        if row["test"] != "difference":
            verdict = ("equivalent" if row["test"] == "equivalence" else "not worse") if significant else "not resolved"
        elif significant and len(signs) == 1 and 0 not in signs:
            verdict = _direction(row["effect"], row["metric"])
        else:
            verdict = "not resolved"
            reason = "the backbones differ in sign" if significant else ""
        seeds = float("nan")
        if verdict == "not resolved" and not reason:
            seeds = seeds_needed(blocked, power_alpha, row["test"], row["margin"], LOWER_IS_BETTER[row["metric"]])
            reason = ("the effect is at or beyond the margin" if math.isinf(seeds) and row["test"] != "difference"
                      else "too few seeds")
        verdicts.append(verdict)
        needed.append(seeds)
        reasons.append(reason)
    table["verdict"] = verdicts
    table["why_not_resolved"] = reasons
    table["seeds_needed"] = needed
    return table.drop(columns="_blocked")


def secondary_comparisons(summaries: pd.DataFrame, primary: list[Comparison],
                          density: pd.DataFrame | None = None, method: str = "padirec") -> list[Comparison]:
    """PaDiRec against every other method on each verdict metric the summaries hold, and against Interpolate and
    Nearest at each grid-density size; the primary ones left out."""
    present = set(summaries["method"])
    declared = {(c.method, c.other, c.metric, c.grid, c.other_grid) for c in primary}
    found = [Comparison(other, metric, method=method)
             for metric in LOWER_IS_BETTER if metric in summaries and summaries[metric].notna().any()
             for other in TABLE_ORDER if other != method and other in present]
    if density is not None and len(density):
        grids = sorted(density["grid"].unique(), key=grid_order)
        found += [Comparison(other, "rel_gap_unseen", method=method, grid=grid)
                  for grid in grids for other in SECONDARY_OTHERS]
        # Before and after: each method on the adaptive grid against itself on every other training grid.
        adaptive = [grid for grid in grids if grid.endswith(" adaptive")]
        found += [Comparison(same, metric, method=same, grid=adaptive[0], other_grid=grid)
                  for same in (method, *SECONDARY_OTHERS) for grid in grids if adaptive and grid != adaptive[0]
                  for metric in LOWER_IS_BETTER if metric in density and density[metric].notna().any()]
    return [c for c in found if (c.method, c.other, c.metric, c.grid, c.other_grid) not in declared]


def distinct(summaries: pd.DataFrame, comparisons: list[Comparison], density: pd.DataFrame | None = None,
             keep: list[Comparison] = ()) -> list[Comparison]:
    """`comparisons` without those whose differences are all zero (the same adapters under two names) and without
    repeats of an earlier comparison's (or one of `keep`'s) differences on the same metric (e.g. the grid-density
    ablation at the training grid's own size, which is the main comparison again)."""
    seen, kept = [], []
    def vector(comparison):
        found = differences(density if comparison.grid is not None else summaries, comparison)
        return comparison.metric, found.sort_values(["backbone", "seed"])["difference"].to_numpy(dtype=float)

    for comparison in keep:
        seen.append(vector(comparison))
    for comparison in comparisons:
        metric, values = vector(comparison)
        if not len(values) or np.all(values == 0):
            continue
        if any(metric == m and len(v) == len(values) and np.array_equal(v, values) for m, v in seen):
            continue
        seen.append((metric, values))
        kept.append(comparison)
    return kept


def verdict_tables(summaries: pd.DataFrame, primary: list[Comparison],
                   density: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(primary, secondary) `assess` tables of a study."""
    declared = distinct(summaries, primary, density)
    secondary = distinct(summaries, secondary_comparisons(summaries, primary, density), density, keep=declared)
    return assess(summaries, declared, "primary", density), assess(summaries, secondary, "secondary", density)


# ---------------------------------------------------------------------------------------------
# In words


def _number(value: float) -> str:
    return "nan" if pd.isna(value) else f"{value:.2g}" if abs(value) < 1e-3 and value != 0 else f"{value:.4f}"


def _interval(low: float, high: float) -> str:
    return f"[{_number(low)}, {_number(high)}]"


def _seeds(value: float, reason: str = "") -> str:
    if reason == "the backbones differ in sign":
        return "the backbones' differences have opposite signs (or one is exactly zero), so no direction holds on both"
    if pd.isna(value):
        return "the seeds it would need cannot be estimated (no spread)"
    if math.isinf(value):
        return "more seeds would not settle it at this effect"
    return f"about {int(value)} seeds per backbone would give 80% power at this effect"


def sentence(row: pd.Series, backbones: list[str]) -> str:
    """One comparison in words, from a row of `assess`."""
    method, other = label(row["method"]), label(row["other"])
    metric = METRIC_NAMES.get(row["metric"], row["metric"])
    where = f" on the {row['grid']} training grid" if isinstance(row.get("grid"), str) else ""
    if isinstance(row.get("other_grid"), str) and row["other_grid"] != row.get("grid"):  # one method, two grids
        method, other, where = f"{method} on the {row['grid']} grid", f"{other} on the {row['other_grid']} grid", ""
    adjusted = "Holm" if row["family"] == "primary" else "BH"
    each = "; ".join(f"{BACKBONE_NAMES.get(name, name)} {_number(row[f'{name}_effect'])} {_interval(row[f'{name}_ci95_low'], row[f'{name}_ci95_high'])}"
                     for name in backbones if f"{name}_effect" in row)
    if row["test"] == "noninferiority":
        effect = (f"difference {_number(row['effect'])}, 90% CI {_interval(row['ci90_low'], row['ci90_high'])} against "
                  f"the margin {_number(row['margin'])} on the side of worse, one-sided p {_number(row['p'])} "
                  f"({adjusted} {_number(row['p_adjusted'])})")
    elif row["test"] == "equivalence":
        effect = (f"difference {_number(row['effect'])}, 90% CI {_interval(row['ci90_low'], row['ci90_high'])} against "
                  f"the margin ±{_number(row['margin'])}, TOST p {_number(row['p'])} ({adjusted} {_number(row['p_adjusted'])})")
    else:
        effect = (f"difference {_number(row['effect'])}, 95% CI {_interval(row['ci95_low'], row['ci95_high'])}, "
                  f"p {_number(row['p'])} ({adjusted} {_number(row['p_adjusted'])})")
    said = f"{effect}; per backbone: {each}"
    if row["verdict"] == "equivalent":
        return f"- **{method} is equivalent to {other}** on the {metric}{where}: {said}."
    if row["verdict"] == "not worse":
        return f"- **{method} is not worse than {other}** (by the margin) on the {metric}{where}: {said}."
    if row["verdict"] in ("better", "worse"):
        return f"- **{method} is {row['verdict']} than {other}** on the {metric}{where}: {said}."
    question = {"equivalence": "equivalence", "noninferiority": "non-inferiority"}.get(row["test"], "a difference")
    return (f"- Not resolved ({question}): {method} against {other} on the {metric}{where}: {said}; "
            f"{_seeds(row['seeds_needed'], row.get('why_not_resolved', ''))}.")


def findings_markdown(primary: pd.DataFrame, secondary: pd.DataFrame, backbones: list[str], seeds: int) -> str:
    """The README's verdicts: the primary family in full, then the secondary findings, then a count of the rest."""
    parts = [f"Primary comparisons (declared in params.yaml; {len(primary)} of them, Holm-adjusted; blocked by "
             f"backbone, {seeds} seeds each; a difference must have the same sign on both backbones):\n\n"
             + "\n".join(sentence(row, backbones) for _, row in primary.iterrows())]
    found = secondary[secondary["verdict"] != "not resolved"] if len(secondary) else secondary
    if len(found):
        parts.append(f"Secondary findings (Benjamini-Hochberg over {len(secondary)} further comparisons; "
                     "exploratory):\n\n" + "\n".join(sentence(row, backbones) for _, row in found.iterrows()))
    rest = len(secondary) - len(found)
    if rest:
        parts.append(f"{rest} further secondary comparisons are not resolved (tables/verdicts_secondary.md).")
    return "\n\n".join(parts) + "\n"


def compact(table: pd.DataFrame) -> pd.DataFrame:
    """A verdict table for reading: comparison, test, verdict, effect with its CI, adjusted p, seeds needed."""
    if table.empty:
        return table
    equivalence = table["test"] != "difference"  # their 90% CI is the one the one-sided tests read
    low = table["ci90_low"].where(equivalence, table["ci95_low"])
    high = table["ci90_high"].where(equivalence, table["ci95_high"])
    return pd.DataFrame({
        "comparison": table["comparison"],
        "test": [{"equivalence": f"equivalence ±{_number(m)}", "noninferiority": f"non-inferiority {_number(m)}"}
                 .get(t, t) for t, m in zip(table["test"], table["margin"])],
        "verdict": table["verdict"],
        "effect": table["effect"].map(_number),
        "CI (90% for a margin, else 95%)": [_interval(lo, hi) for lo, hi in zip(low, high)],
        "adjusted p": table["p_adjusted"].map(_number),
        "seeds needed": [("" if verdict != "not resolved" else "n/a" if pd.isna(v)
                          else "never" if math.isinf(v) else str(int(v)))
                         for v, verdict in zip(table["seeds_needed"], table["verdict"])],
        "why not resolved": table["why_not_resolved"],
    })
