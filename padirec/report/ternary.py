"""Figures for three-objective requirement studies, drawn on the requirement simplex with mpltern.

`rows` is the long evaluation frame: one row per (method, seed, sample, requirement), the requirement
in weight columns w_<objective> (summing to 1) and the achieved metrics as further columns. Every figure
first averages over seeds and samples per (method, requirement) with `requirement_means`. On the ternary
panels the first objective is the top corner, the second the left and the third the right one.
"""
from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import mpltern  # noqa: F401  (registers the "ternary" projection)
import numpy as np
import pandas as pd
from matplotlib.ticker import FixedLocator, MaxNLocator

from padirec.objectives.registry import OBJECTIVES, metrics_of
from padirec.methods.registry import METHODS, label
from padirec.report.figures import method_palette, metric_words
from padirec.objectives import requirements

__all__ = ["weight_columns", "requirement_means", "relative_errors", "metric_maps_figure", "error_maps_figure",
           "achieved_points_figure"]

WEIGHT_DECIMALS = requirements.DECIMALS  # weights are rounded before grouping: 1/3 written two ways is one requirement
LEVELS = 12  # colour bands of each filled contour


def weight_columns(objectives: list[str] | tuple[str, ...]) -> list[str]:
    """The requirement columns w_<objective> (padirec.objectives.requirements.columns) of three known objectives."""
    objectives = list(objectives)
    if len(objectives) != 3:
        raise ValueError(f"ternary maps need three objectives, got {len(objectives)}")
    unknown = [name for name in objectives if name not in OBJECTIVES]
    if unknown:
        raise ValueError(f"unknown objective(s) {unknown}; known: {', '.join(OBJECTIVES)}")
    return requirements.columns(objectives)


def requirement_means(rows: pd.DataFrame, objectives: list[str] | tuple[str, ...],
                      metrics: list[str] | tuple[str, ...] | None = None) -> pd.DataFrame:
    """Mean of `metrics` (default: the objectives' metrics) over seeds and samples, one row per
    (method, requirement): columns method, w_<objective> x 3, then the metrics."""
    weights = weight_columns(objectives)
    metrics = list(metrics) if metrics is not None else _objective_metrics(objectives)
    missing = [column for column in ["method", *weights, *metrics] if column not in rows.columns]
    if missing:
        raise ValueError(f"rows lack the column(s) {missing}")
    keys = rows[["method", *weights]].copy()
    keys[weights] = keys[weights].astype(float).round(WEIGHT_DECIMALS)
    frame = pd.concat([keys, rows[metrics]], axis=1)
    return frame.groupby(["method", *weights], sort=False)[metrics].mean().reset_index()


def relative_errors(rows: pd.DataFrame, objectives: list[str] | tuple[str, ...],
                    methods: list[str] | tuple[str, ...] = ("padirec", "interpolate"),
                    reference: str = "retrain") -> pd.DataFrame:
    """|m - m_reference| / |m_reference| per objective metric (of the seed/sample means) at each requirement
    both a method and `reference` have, and their mean over the metrics in column rel_error."""
    weights = weight_columns(objectives)
    metrics = _objective_metrics(objectives)
    means = requirement_means(rows, objectives, metrics)
    target = _method_means(means, reference).drop(columns="method")
    parts = []
    for method in methods:
        joined = _method_means(means, method).merge(target, on=weights, suffixes=("", "_reference"))
        errors = joined[["method", *weights]].copy()
        for metric in metrics:
            reference_values = joined[f"{metric}_reference"]
            errors[metric] = (joined[metric] - reference_values).abs() / reference_values.abs()
        errors["rel_error"] = errors[metrics].mean(axis=1)
        parts.append(errors)
    return pd.concat(parts, ignore_index=True)


def metric_maps_figure(rows: pd.DataFrame, objectives: list[str] | tuple[str, ...],
                       methods: list[str] | tuple[str, ...] = ("retrain", "padirec"),
                       metrics: list[str] | tuple[str, ...] | None = None) -> plt.Figure:
    """One ternary panel per (method: row, metric: column): the filled contour of the seed/sample-mean
    metric over the requirement simplex, requirements marked, one colour scale and colorbar per metric."""
    weights = weight_columns(objectives)
    metrics = list(metrics) if metrics is not None else _objective_metrics(objectives)
    means = requirement_means(rows, objectives, metrics)
    per_method = {method: _method_means(means, method) for method in methods}
    placed = _placed_points(rows, weights) if "placed" in rows else {}
    figure = plt.figure(figsize=(4.2 * len(metrics), 3.8 * len(methods) + 0.8), layout="constrained")
    for column, metric in enumerate(metrics):
        values = pd.concat([frame[metric] for frame in per_method.values()]).dropna()
        levels = _levels(values.min(), values.max())
        cmap = "viridis" if _higher_is_better(metric, objectives) is not False else "viridis_r"
        axes = []
        for row, method in enumerate(methods):
            axis = figure.add_subplot(len(methods), len(metrics), row * len(metrics) + column + 1,
                                      projection="ternary")
            contour = _ternary_panel(axis, per_method[method], weights, metric, objectives, levels, cmap,
                                     f"{label(method)}: {metric_words(metric)}", method)
            for kind, points in placed.get(method, {}).items():
                axis.scatter(*points.T, zorder=4, label=PLACED_WORDS[kind], **PLACED_MARKERS[kind])
            axes.append(axis)
        figure.colorbar(contour, ax=axes, location="bottom", shrink=0.8, aspect=25, ticks=MaxNLocator(5),
                        label=_metric_label(metric, objectives))
    if placed:
        handles, names = figure.axes[0].get_legend_handles_labels()
        figure.legend(handles, names, loc="outside upper right", frameon=False, fontsize=9)
    figure.suptitle("achieved metrics over the requirement simplex (mean over seeds and samples)")
    return figure


# The requirements a sweep added to its grid (`placed` column of its rows), marked over the black grid dots.
PLACED_MARKERS = {"adaptive": {"marker": "*", "s": 120, "color": "#d7301f", "edgecolors": "white", "linewidths": 0.6},
                  "random": {"marker": "o", "s": 36, "facecolors": "white", "edgecolors": "black", "linewidths": 1.0}}
PLACED_WORDS = {"adaptive": "placed by the adaptive grid", "random": "random control"}


def _placed_points(rows: pd.DataFrame, weights: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """Per method (a backbone, on the sweep's maps): the weights [N, 3] of its requirements of each kind of
    `PLACED_MARKERS`."""
    found: dict[str, dict[str, np.ndarray]] = {}
    for (method, kind), frame in rows[rows["placed"].isin(list(PLACED_MARKERS))].groupby(["method", "placed"]):
        found.setdefault(method, {})[kind] = frame[weights].drop_duplicates().to_numpy(dtype=float)
    return found


def error_maps_figure(rows: pd.DataFrame, objectives: list[str] | tuple[str, ...],
                      methods: list[str] | tuple[str, ...] = ("padirec", "interpolate"),
                      reference: str = "retrain") -> plt.Figure:
    """One ternary panel per method: the mean relative error to `reference` over the objectives' metrics
    (`relative_errors`) at each shared requirement, requirements marked, one colour scale for all."""
    weights = weight_columns(objectives)
    errors = relative_errors(rows, objectives, methods, reference)
    per_method = {method: errors[errors["method"] == method] for method in methods}
    values = errors["rel_error"].replace([np.inf, -np.inf], np.nan).dropna()
    levels = _levels(0.0, values.max() if len(values) else 1.0)
    figure = plt.figure(figsize=(4.6 * len(methods), 4.4), layout="constrained")
    axes = []
    for column, method in enumerate(methods):
        axis = figure.add_subplot(1, len(methods), column + 1, projection="ternary")
        contour = _ternary_panel(axis, per_method[method], weights, "rel_error", objectives, levels, "magma_r",
                                 method, f"{method} (requirements shared with {reference})")
        axes.append(axis)
    figure.colorbar(contour, ax=axes, shrink=0.8, aspect=25, ticks=MaxNLocator(6),
                    label="mean relative error")
    metric_names = ", ".join(_objective_metrics(objectives))
    figure.suptitle(f"mean relative error to {reference}, |m - m_{reference}| / m_{reference}, "
                    f"averaged over {metric_names}")
    return figure


def achieved_points_figure(rows: pd.DataFrame, objectives: list[str] | tuple[str, ...],
                           methods: list[str] | tuple[str, ...] = ("padirec", "interpolate", "nearest",
                                                                   "hypernetwork")) -> plt.Figure:
    """Achieved points in metric space (seed/sample means), one panel per pair of the objectives' metrics:
    Retrain's point at each requirement, and a segment from it to each method's point at the same
    requirement, so a segment's length is the method's error there."""
    metrics = _objective_metrics(objectives)
    weights = weight_columns(objectives)
    means = requirement_means(rows, objectives, metrics)
    reference = _method_means(means, "retrain")
    palette = method_palette(list(methods))
    pairs = list(itertools.combinations(metrics, 2))
    figure, axes = plt.subplots(1, len(pairs), figsize=(5.0 * len(pairs), 4.2), squeeze=False)
    for column, (x, y) in enumerate(pairs):
        axis = axes[0, column]
        for method in methods:
            joined = _method_means(means, method).merge(reference, on=weights, suffixes=("", "_retrain"))
            for _, point in joined.iterrows():
                axis.plot([point[f"{x}_retrain"], point[x]], [point[f"{y}_retrain"], point[y]],
                          color=palette[method], lw=1, alpha=0.8)
            axis.scatter(joined[x], joined[y], s=14, color=palette[method], label=label(method), zorder=3)
        axis.scatter(reference[x], reference[y], s=22, color=METHODS["retrain"].colour, marker="s",
                     label="Retrain (a segment joins it to the same requirement)", zorder=4)
        short = [metric_words(metric).split(" (")[0] for metric in (y, x)]
        axis.set(xlabel=_metric_label(x, objectives), ylabel=_metric_label(y, objectives),
                 title=f"{short[0]} against {short[1]}")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper center", ncol=len(labels), frameon=False, bbox_to_anchor=(0.5, 1.02))
    figure.suptitle("achieved points at the unseen requirements (mean over seeds and samples)", y=1.09)
    import seaborn as sns

    sns.despine(figure)
    figure.tight_layout()
    return figure


# ----------------------------------------------------------------------------- helpers


def _objective_metrics(objectives) -> list[str]:
    weight_columns(objectives)
    return list(dict.fromkeys(metrics_of(objectives)))


def _higher_is_better(metric: str, objectives) -> bool | None:
    """The direction of `metric` if one of `objectives` owns it, else None."""
    for name in objectives:
        if OBJECTIVES[name].metric == metric:
            return OBJECTIVES[name].higher_is_better
    return None


def _metric_label(metric: str, objectives) -> str:
    direction = _higher_is_better(metric, objectives)
    words = metric_words(metric)
    return words if direction is None else f"{words}, {'higher' if direction else 'lower'} is better"


def _method_means(means: pd.DataFrame, method: str) -> pd.DataFrame:
    """The requirement means of one method; a ValueError when it has fewer than 3 requirements."""
    frame = means[means["method"] == method]
    if len(frame) < 3:
        raise ValueError(f"method {method!r} has {len(frame)} requirement(s); ternary maps need at least 3 "
                         "(non-collinear) requirements")
    return frame


def _levels(low: float, high: float) -> np.ndarray:
    if not np.isfinite(low) or not np.isfinite(high):
        raise ValueError("no finite values to map")
    if high - low < 1e-12:  # a constant map still needs increasing levels
        pad = max(abs(high), 1.0) * 1e-3
        low, high = low - pad, high + pad
    return MaxNLocator(LEVELS).tick_values(low, high)  # round band edges covering [low, high]


def _ternary_panel(axis, frame: pd.DataFrame, weights: list[str], column: str, objectives, levels: np.ndarray,
                   cmap: str, title: str, name: str):
    """Filled contour of `column` over the requirements in `frame`, the requirements as black dots."""
    frame = frame[np.isfinite(frame[column].to_numpy(dtype=float))]
    points = frame[weights].to_numpy(dtype=float)
    if len(points) < 3 or np.linalg.matrix_rank(points[:, :2] - points[0, :2], tol=1e-9) < 2:
        raise ValueError(f"{name} has {len(points)} requirement(s) with finite {column}; ternary maps need at "
                         "least 3 non-collinear requirements")
    t, l, r = points.T
    contour = axis.tricontourf(t, l, r, frame[column].to_numpy(dtype=float), levels=levels, cmap=cmap,
                               extend="neither")
    axis.scatter(t, l, r, s=9, color="black", zorder=3)
    axis.set_tlabel(f"w_{objectives[0]}")
    axis.set_llabel(f"w_{objectives[1]}")
    axis.set_rlabel(f"w_{objectives[2]}")
    for ternary_axis in (axis.taxis, axis.laxis, axis.raxis):  # three ticks a side, upright and readable
        ternary_axis.set_major_locator(FixedLocator([0.0, 0.5, 1.0]))
        ternary_axis.set_tick_params(labelsize=8, labelrotation="horizontal")
    axis.set_title(title, pad=22, fontsize=10)
    return contour
