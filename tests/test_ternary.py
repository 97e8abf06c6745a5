"""Ternary figures on a hand-made rows frame: a step-1/4 simplex lattice, metrics simple formulas of the weights."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from padirec.report import ternary  # noqa: E402

OBJECTIVES = ("acc", "div", "tail")
LATTICE = [(a / 4, d / 4, (4 - a - d) / 4) for a in range(5) for d in range(5 - a)]
OFFSETS = {"retrain": 0.0, "padirec": 0.02, "interpolate": 0.05}


def make_rows(methods=OFFSETS, seeds=2, samples=2) -> pd.DataFrame:
    """Metrics linear in the weights, shifted per method; seed and sample noise that averages to zero."""
    rows = []
    for method in methods:
        offset = OFFSETS[method]
        for seed in range(seeds):
            for sample in range(samples):
                noise = 0.01 * (seed - (seeds - 1) / 2) + 0.004 * (sample - (samples - 1) / 2)
                for acc, div, tail in LATTICE:
                    rows.append({"method": method, "seed": seed, "sample": sample,
                                 "w_acc": acc, "w_div": div, "w_tail": tail,
                                 "ndcg@10": 0.2 + 0.1 * acc + offset + noise,
                                 "alpha_ndcg@10": 0.3 + 0.2 * div - offset + noise,
                                 "aplt@10": 0.1 + 0.3 * tail + 2 * offset + noise})
    return pd.DataFrame(rows)


@pytest.fixture
def rows():
    yield make_rows()
    plt.close("all")


def ternary_axes(figure: plt.Figure) -> list:
    return [axis for axis in figure.axes if axis.name == "ternary"]


def test_lattice_has_fifteen_requirements():
    assert len(LATTICE) == 15
    assert np.allclose(np.sum(LATTICE, axis=1), 1.0)


def test_requirement_means_average_seeds_and_samples(rows):
    means = ternary.requirement_means(rows, OBJECTIVES)
    assert len(means) == 3 * 15
    assert list(means.columns) == ["method", "w_acc", "w_div", "w_tail", "ndcg@10", "alpha_ndcg@10", "aplt@10"]
    top = means[(means["method"] == "padirec") & (means["w_acc"] == 1.0)].iloc[0]
    assert top["ndcg@10"] == pytest.approx(0.2 + 0.1 + 0.02)
    assert top["aplt@10"] == pytest.approx(0.1 + 2 * 0.02)


def test_requirement_means_merge_weights_written_differently(rows):
    shifted = rows.copy()
    shifted["w_acc"] = shifted["w_acc"] + 1e-9  # the same requirement, up to rounding
    means = ternary.requirement_means(pd.concat([rows, shifted]), OBJECTIVES)
    assert len(means) == 3 * 15


def test_relative_errors_match_hand_computation(rows):
    errors = ternary.relative_errors(rows, OBJECTIVES, methods=("interpolate",), reference="retrain")
    assert len(errors) == 15
    point = errors[(errors["w_acc"] == 0.5) & (errors["w_div"] == 0.25)].iloc[0]
    # at (0.5, 0.25, 0.25): retrain 0.25 / 0.35 / 0.175, interpolate adds +0.05 / -0.05 / +0.10
    expected = np.mean([0.05 / 0.25, 0.05 / 0.35, 0.10 / 0.175])
    assert point["ndcg@10"] == pytest.approx(0.05 / 0.25)
    assert point["rel_error"] == pytest.approx(expected)


def test_relative_errors_keep_only_shared_requirements(rows):
    partial = rows[~((rows["method"] == "padirec") & (rows["w_acc"] == 0.0))]  # drops the 5 w_acc = 0 requirements
    errors = ternary.relative_errors(partial, OBJECTIVES, methods=("padirec",))
    assert len(errors) == 10
    assert (errors["w_acc"] > 0).all()


def test_metric_maps_figure_grid(rows):
    figure = ternary.metric_maps_figure(rows, OBJECTIVES)
    assert isinstance(figure, plt.Figure)
    panels = ternary_axes(figure)
    assert len(panels) == 2 * 3  # methods x metrics
    assert len(figure.axes) == 6 + 3  # one colorbar per metric column
    assert panels[0].get_title() == "Retrain: NDCG@10 (accuracy)"
    assert panels[0].get_tlabel() == "w_acc" and panels[0].get_llabel() == "w_div" and panels[0].get_rlabel() == "w_tail"
    assert [tick for tick in panels[0].taxis.get_majorticklocs()] == [0.0, 0.5, 1.0]  # three upright ticks a side


def test_metric_maps_share_colour_scale_per_column(rows):
    figure = ternary.metric_maps_figure(rows, OBJECTIVES, methods=("retrain", "padirec", "interpolate"),
                                        metrics=["aplt@10"])
    panels = ternary_axes(figure)
    assert len(panels) == 3
    levels = [next(c for c in panel.collections if hasattr(c, "levels")).levels for panel in panels]
    assert all(np.array_equal(levels[0], other) for other in levels[1:])
    assert levels[0][0] <= 0.1 and levels[0][-1] >= 0.4 + 0.1  # covers every method's values


def test_error_maps_figure(rows):
    figure = ternary.error_maps_figure(rows, OBJECTIVES)
    assert isinstance(figure, plt.Figure)
    assert len(ternary_axes(figure)) == 2
    assert "relative error" in figure.get_suptitle()
    figure.canvas.draw()  # renders (the slow part of ternary figures: ~1 s)


def test_achieved_points_figure_joins_each_methods_point_to_retrains_at_the_same_requirement(rows):
    figure = ternary.achieved_points_figure(rows, OBJECTIVES, ["padirec", "interpolate"])
    assert isinstance(figure, plt.Figure)
    assert len(figure.axes) == 3 and not ternary_axes(figure)
    first = figure.axes[0]
    assert first.get_xlabel().startswith("NDCG@10") and first.get_ylabel().startswith("alpha-NDCG@10")
    points = sum(len(collection.get_offsets()) for collection in first.collections)
    assert points == 3 * 15  # Retrain's and each method's point at every requirement
    segments = [line for line in first.get_lines() if len(line.get_xdata()) == 2]
    assert len(segments) == 2 * 15  # one per (method, requirement)
    means = ternary.requirement_means(rows, OBJECTIVES)
    retrain = means[means["method"] == "retrain"].iloc[0]
    padirec = means[(means["method"] == "padirec") & (means["w_acc"] == retrain["w_acc"])
                    & (means["w_div"] == retrain["w_div"])].iloc[0]
    assert any(np.allclose(line.get_xdata(), [retrain["ndcg@10"], padirec["ndcg@10"]]) for line in segments)
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend[:2] == ["PaDiRec", "Interpolate"] and legend[-1].startswith("Retrain")


def test_needs_three_objectives(rows):
    with pytest.raises(ValueError, match="ternary maps need three objectives, got 2"):
        ternary.metric_maps_figure(rows, ("acc", "div"))
    with pytest.raises(ValueError, match="ternary maps need three objectives, got 4"):
        ternary.error_maps_figure(rows, ("acc", "div", "tail", "fair"))
    with pytest.raises(ValueError, match="ternary maps need three objectives"):
        ternary.achieved_points_figure(rows, ("acc",), ["retrain"])


def test_needs_three_requirements_per_method(rows):
    few = rows[(rows["method"] != "padirec") | (rows["w_acc"] == 1.0) | (rows["w_div"] == 1.0)]
    with pytest.raises(ValueError, match="'padirec' has 2 requirement"):
        ternary.metric_maps_figure(few, OBJECTIVES)
    with pytest.raises(ValueError, match="'padirec' has 2 requirement"):
        ternary.error_maps_figure(few, OBJECTIVES)
    with pytest.raises(ValueError, match="'missing' has 0 requirement"):
        ternary.achieved_points_figure(rows, OBJECTIVES, ["retrain", "missing"])


def test_collinear_requirements_are_refused(rows):
    edge = rows[(rows["method"] != "padirec") | (rows["w_tail"] == 0.0)]  # padirec only on the acc-div edge
    with pytest.raises(ValueError, match="non-collinear"):
        ternary.metric_maps_figure(edge, OBJECTIVES)
