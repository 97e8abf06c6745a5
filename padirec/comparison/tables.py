"""The evaluation's tables: the main table and its readable form, near-end gaps, grid density, diversity
measures, per-requirement means, timings. A results table holds nothing that changes from run to run;
timings have their own tables."""
from __future__ import annotations

import pandas as pd
from scipy import stats

from padirec.comparison.verdicts import BACKBONE_NAMES, Comparison, blocked_contrast, confidence_interval, differences
from padirec.comparison.summaries import seed_summaries, summary_columns
from padirec.evaluation.control import requirement_means
from padirec.methods.registry import TABLE_ORDER, label
from padirec.objectives import requirements
from padirec.objectives.registry import metrics_of
from padirec.pipeline.sections import grid_order


def main_table(summaries: pd.DataFrame) -> pd.DataFrame:
    """Methods by backbone: HV, r-a, r-d, monotonicity violations, gaps to Retrain (means over seeds, with the
    half-width of their 95% t confidence interval for HV, r-a, r-d and the gaps). Timings are in
    `efficiency_table`: a results table holds nothing that changes from run to run."""
    grouped = summaries.groupby(["backbone", "method"], sort=False)
    table = grouped[summary_columns(summaries.columns)].mean()
    half_width = lambda values: confidence_interval(values)[1]  # noqa: E731
    table.insert(1, "hv_ci95", grouped["hv"].agg(half_width))
    retrain_hv = table.xs("retrain", level="method")["hv"] if "retrain" in table.index.get_level_values("method") else None
    if retrain_hv is not None:
        table.insert(2, "hv_vs_retrain", table["hv"] / table.index.get_level_values("backbone").map(retrain_hv))
    for key in [c for c in summaries.columns if c.startswith("pearson_")] + \
            ["rel_gap_unseen", "rel_gap_near_ends", "rel_gap_middle"]:
        if key in summaries:
            table.insert(table.columns.get_loc(key) + 1, f"{key}_ci95", grouped[key].agg(half_width))
    order = {method: index for index, method in enumerate(TABLE_ORDER)}
    return table.sort_index(key=lambda index: index.map(order) if index.name == "method" else index)


def headline(main: pd.DataFrame, method: str = "padirec") -> dict[str, dict[str, float]]:
    """`method`'s few numbers per backbone of `main_table`, the study's `dvc metrics show` row: gap to Retrain at the
    unseen requirements, HV as % of Retrain's, the signed r of each objective (r_acc, r_div, ...)."""
    columns = {"gap": ("rel_gap_unseen", 1, 4), "hv_pct": ("hv_vs_retrain", 100, 1),
               **{f"r_{c[len('pearson_'):]}": (c, 1, 3) for c in main.columns
                  if c.startswith("pearson_") and not c.endswith("_ci95")}}
    return {backbone: {name: round(float(row[column]) * scale, digits)
                       for name, (column, scale, digits) in columns.items() if column in row and pd.notna(row[column])}
            for (backbone, name_of_method), row in main.iterrows() if name_of_method == method}


HEADLINE_METHODS = ("padirec", "retrain", "interpolate", "hypernetwork", "nearest")  # PaDiRec, the reference, the closest


def _milliseconds(seconds: float) -> str:
    ms = 1000 * seconds
    return f"{ms:,.0f}" if ms >= 1000 else f"{ms:.1f}" if ms >= 1 else f"{ms:#.2g}"


def headline_markdown(main: pd.DataFrame, efficiency: pd.DataFrame, study: str, seeds: int,
                      backbones: list[str]) -> str:
    """The README's compact table of a study: PaDiRec, Retrain and the closest baselines (by mean gap), with the gap to
    Retrain at the unseen requirements (mean ± 95% CI), HV as % of Retrain's and milliseconds per new requirement,
    per backbone. It holds timings, so it lives with them (figures/<study>/timing/evaluate/)."""
    present = [m for m in HEADLINE_METHODS if m in set(main.index.get_level_values("method"))]
    gap = main["rel_gap_unseen"].groupby(level="method").mean()
    methods = present[:2] + sorted(present[2:], key=lambda method: gap[method])
    names = [BACKBONE_NAMES.get(name, name) for name in backbones]
    header = [f"`{study}`, {seeds} seeds", *(f"gap, {n}" for n in names), *(f"HV %, {n}" for n in names),
              *(f"ms, {n}" for n in names)]
    lines = ["| " + " | ".join(header) + " |", "|:--" + "|--:" * (len(header) - 1) + "|"]
    for method in methods:
        cells = [label(method)]
        cells += [f"{main.loc[(b, method), 'rel_gap_unseen']:.4f} ± {main.loc[(b, method), 'rel_gap_unseen_ci95']:.4f}"
                  for b in backbones]
        cells += [f"{100 * main.loc[(b, method), 'hv_vs_retrain']:.1f}" for b in backbones]
        cells += [_milliseconds(efficiency.loc[method, b]) for b in backbones]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def seconds_per_requirement(seconds: pd.DataFrame) -> pd.DataFrame:
    """Long table (backbone, seed, method, seconds) of the methods' timings recorded by `method_rows`."""
    present = [m for m in TABLE_ORDER if m in seconds.columns]
    return seconds.melt(id_vars=["backbone", "seed"], value_vars=present, var_name="method", value_name="seconds")


def efficiency_table(seconds: pd.DataFrame) -> pd.DataFrame:
    """Seconds to obtain one requirement's adapter (or scores), mean over seeds, per method (rows) and backbone."""
    return seconds_per_requirement(seconds).groupby(["backbone", "method"])["seconds"].mean().unstack("backbone")


def _with_ci(mean: float, half: float, digits: int) -> str:
    return f"{mean:.{digits}f}" if pd.isna(half) else f"{mean:.{digits}f} ± {half:.{digits}f}"


def readable_main_table(main: pd.DataFrame) -> pd.DataFrame:
    """`main_table` as text: each mean with the half-width of its 95% confidence interval over the seeds."""
    table = pd.DataFrame(index=main.index)
    table["HV"] = [_with_ci(m, h, 5) for m, h in zip(main["hv"], main["hv_ci95"])]
    table["HV / Retrain %"] = (100 * main["hv_vs_retrain"]).round(1)
    for column in [c for c in main.columns if c.startswith("pearson_") and not c.endswith("_ci95")]:
        objective = column[len("pearson_"):]
        title = {"acc": "r-a", "div": "r-d"}.get(objective, f"r-{objective}")
        table[title] = [_with_ci(m, h, 3) for m, h in zip(main[column], main[f"{column}_ci95"])]
    for key, title in (("rel_gap_unseen", "gap, unseen"), ("rel_gap_near_ends", "gap, near ends"),
                       ("rel_gap_middle", "gap, middle")):
        if key in main:
            table[title] = [_with_ci(m, h, 4) for m, h in zip(main[key], main[f"{key}_ci95"])]
    return table


def near_end_table(main: pd.DataFrame, target: float = 1.5) -> pd.DataFrame:
    """Per backbone and method: the gap to Retrain near the ends and in the middle (95% CIs), and the near-end
    gap over Retrain's own seed-to-seed gap there; `target_met` says whether that ratio is at most `target`."""
    table = pd.DataFrame(index=main.index)
    table["near_ends"] = main["rel_gap_near_ends"]
    table["near_ends_ci95"] = main["rel_gap_near_ends_ci95"]
    table["middle"] = main["rel_gap_middle"]
    table["middle_ci95"] = main["rel_gap_middle_ci95"]
    retrain = main.xs("retrain", level="method")["rel_gap_near_ends"]
    table["near_ends_vs_retrain_noise"] = table["near_ends"] / table.index.get_level_values("backbone").map(retrain)
    table[f"target_met_{target:g}x"] = table["near_ends_vs_retrain_noise"] <= target
    return table


def density_summary(density: pd.DataFrame, rows: pd.DataFrame, unseen: list,
                    hv_reference: tuple[float, ...], regions: dict[str, list] | None = None) -> pd.DataFrame:
    """Per (backbone, method, training grid, seed): gap to Retrain (mean over seeds of `rows`) at the unseen
    requirements (and per region of `regions`), hypervolume and monotonicity violations, on the 100-candidate
    protocol; grids in order of size."""
    summaries = seed_summaries(density, unseen, hv_reference, reference_rows=rows, by=("grid_size", "grid"),
                               regions=regions)
    gaps = ["rel_gap_unseen", *[f"rel_gap_{region}" for region in (regions or {})]]
    summaries = summaries.assign(_order=summaries["grid"].map(grid_order)).sort_values(
        ["backbone", "method", "_order", "seed"], kind="stable").drop(columns="_order")
    return summaries[["backbone", "method", "grid", "grid_size", "seed", *gaps, "hv", "monotonicity_violations"]
                     ].reset_index(drop=True)


def gap_by_grid(density: pd.DataFrame) -> pd.DataFrame:
    """`density_summary` as mean gaps and hypervolume (95% CIs over seeds) per backbone, method and training grid,
    for every gap column it holds (all unseen requirements, near the ends, in the middle)."""
    gaps = [column for column in density.columns if column.startswith("rel_gap_")] + (["hv"] if "hv" in density else [])
    grouped = density.assign(grid_size=density["grid"].map(grid_order)).groupby(["backbone", "method", "grid_size", "grid"])
    table = grouped[gaps].mean()
    for gap in gaps:
        table.insert(table.columns.get_loc(gap) + 1, f"{gap}_ci95", grouped[gap].agg(lambda v: confidence_interval(v)[1]))
    return table.droplevel("grid_size")


BEFORE_AFTER_METHODS = ("padirec", "padirec_loss", "interpolate", "nearest", "hypernetwork", "retrain")


def before_after(density: pd.DataFrame, summaries: pd.DataFrame, main_grid: str) -> pd.DataFrame:
    """Per method and training grid: the gaps to Retrain (all unseen requirements, near the ends or edges, in the
    middle) and HV as a share of Retrain's, per backbone (means over seeds, 100 candidates). PaDiRec, Interpolate
    and Nearest come from every grid of the density ablation; the methods that use no grid of their own come
    from the main table under `main_grid` (PaDiRec + loss tuning starts from that grid's generator; the
    Hypernetwork and Retrain use none)."""
    columns = {"rel_gap_unseen": "gap", "rel_gap_near_ends": "gap, near", "rel_gap_middle": "gap, middle",
               "hv": "HV / Retrain's"}
    present = [c for c in columns if c in density and c in summaries]
    grid_free = summaries[summaries["method"].isin(set(BEFORE_AFTER_METHODS) - set(density["method"]))]
    frame = pd.concat([density.assign(order=density["grid_size"]),
                       grid_free.assign(grid=main_grid, order=float("inf"))], ignore_index=True)
    frame = frame[frame["method"].isin(BEFORE_AFTER_METHODS)]
    table = frame.groupby(["backbone", "method", "grid"])[present].mean()
    retrain_hv = summaries[summaries["method"] == "retrain"].groupby("backbone")["hv"].mean()
    table["hv"] = table["hv"] / table.index.get_level_values("backbone").map(retrain_hv)
    table = table.rename(columns=columns).unstack("backbone")
    table.columns = [f"{name}, {BACKBONE_NAMES.get(backbone, backbone)}" for name, backbone in table.columns]
    methods = {method: index for index, method in enumerate(BEFORE_AFTER_METHODS)}
    return table.sort_index(key=lambda index: index.map(methods) if index.name == "method" else index.map(grid_order))


def density_table(summary: pd.DataFrame, metric: str = "rel_gap_unseen") -> pd.DataFrame:
    """`density_summary` per training grid: mean and sd over seeds per method and backbone, and the p of PaDiRec
    against each other method on that grid (the blocked test of `padirec.comparison.verdicts`, not adjusted; the
    verdicts table holds the adjusted ones)."""
    records = []
    for grid, frame in sorted(summary.groupby("grid"), key=lambda item: grid_order(item[0])):
        spread = frame.groupby("method")[metric].agg(["mean", "std"])
        record = {"grid": grid}
        for method, (mean, sd) in spread.iterrows():
            record.update({f"{method}_mean": mean, f"{method}_sd": sd})
        for other in [m for m in TABLE_ORDER if m in spread.index and m != "padirec"]:
            record[f"p_padirec_vs_{other}"] = blocked_contrast(differences(frame, Comparison(other, metric))).p
        record["pairs"] = len(frame[["backbone", "seed"]].drop_duplicates())
        records.append(record)
    return pd.DataFrame(records).set_index("grid")


def diversity_control(rows: pd.DataFrame) -> pd.DataFrame:
    """Pearson r between w_div and each diversity measure (seed-mean grid), per backbone and method.

    alpha-NDCG rewards lists of multi-genre items whether or not they are relevant; genre coverage@10
    and intra-list distance@10 do not, so they tell whether the trade-off is more than that.
    """
    measures = ["alpha_ndcg@10", "coverage@10", "ild@10", "full_alpha_ndcg@10", "full_coverage@10", "full_ild@10"]
    records = []
    for (backbone, method), frame in rows.groupby(["backbone", "method"], sort=False):
        means = requirement_means(frame)
        records.append({"backbone": backbone, "method": method,
                        **{f"r(w_div, {m})": float(stats.pearsonr(means["w_div"], means[m]).statistic)
                           for m in measures}})
    return pd.DataFrame(records).set_index(["backbone", "method"])


def per_requirement_table(rows: pd.DataFrame, objectives) -> pd.DataFrame:
    """Means over seeds (and samples) of each objective's metric, genre coverage@10 and intra-list distance@10, and
    the objectives' full-ranking metrics, per backbone, method and requirement."""
    metrics = metrics_of(objectives)
    # With two objectives the first weight names the requirement (the second is 1 minus it).
    weights = requirements.columns(objectives)[:1 if len(objectives) == 2 else None]
    return (rows.groupby(["backbone", "method", *weights], sort=False)
            [[*metrics, "coverage@10", "ild@10", *("full_" + m for m in metrics)]].mean())
