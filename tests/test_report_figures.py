"""The evaluation's figures on hand-made rows: what each draws, its labels and legend (padirec.report.figures)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from comparison_rows import rows  # noqa: E402
from padirec.methods.registry import METHODS  # noqa: E402
from padirec.report import figures  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def evaluation_rows() -> pd.DataFrame:
    extra = {"coverage@10": [0.5, 0.6, 0.7], "ild@10": [0.8, 0.8, 0.8]}
    frames = [rows([0.1, 0.2, 0.3], [0.7, 0.6, 0.5], "retrain", seed, **extra) for seed in (0, 1)]
    frames += [rows([0.12, 0.2, 0.31], [0.69, 0.6, 0.52], "padirec", seed, **extra) for seed in (0, 1)]
    frames += [rows([0.1, 0.25, 0.3], [0.7, 0.55, 0.5], "interpolate", seed, **extra) for seed in (0, 1)]
    return pd.concat(frames, ignore_index=True)


def test_method_curves_draw_each_methods_difference_from_retrain():
    figure = figures.method_curves_figure(evaluation_rows())
    first = figure.axes[0]
    lines = {line.get_label(): line for line in first.get_lines()}
    assert np.allclose(lines["PaDiRec"].get_ydata(), [0.02, 0.0, 0.01])  # ndcg@10 minus Retrain's
    assert np.allclose(lines["Interpolate"].get_ydata(), [0.0, 0.05, 0.0])
    assert lines["PaDiRec"].get_color() == METHODS["padirec"].colour
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == ["Retrain's seed-to-seed sd", "Retrain", "PaDiRec", "Interpolate"]
    assert "NDCG@10" in first.get_title() and first.get_ylabel() == "method − Retrain"


def test_guidance_figure_marks_the_chosen_scale_per_backbone():
    table = pd.DataFrame({"mean": [0.05, 0.03, 0.04], "std": [0.01, 0.01, 0.01]},
                         index=pd.MultiIndex.from_product([["b"], [0.0, 1.0, 2.0]], names=["backbone", "guidance"]))
    figure = figures.guidance_gap_figure(table, {"b": 1.0})
    axis = figure.axes[0]
    assert list(axis.get_xticks()) == [0.0, 1.0, 2.0]
    chosen = [collection.get_offsets() for collection in axis.collections if len(collection.get_offsets()) == 1]
    assert any(np.allclose(offsets, [[1.0, 0.03]]) for offsets in chosen)


def test_density_figure_ticks_the_training_grids_in_order_of_size():
    summary = pd.DataFrame({"backbone": "b", "method": ["padirec", "padirec", "interpolate", "interpolate"] * 2,
                            "grid_size": [10, 6, 10, 6] * 2, "grid": ["10 adaptive", "6 listed"] * 4,
                            "seed": [0] * 4 + [1] * 4,
                            "rel_gap_unseen": [0.05, 0.03, 0.04, 0.035] * 2, "hv": [0.01] * 8})
    figure = figures.density_figure(summary)
    assert [tick.get_text() for tick in figure.axes[0].get_xticklabels()] == ["6 listed", "10 adaptive"]
    assert figure.axes[0].get_xlabel() == "training grid"
    padirec = figure.axes[0].lines[0].get_ydata()  # the first method's means, in the ticks' order
    assert list(padirec) == pytest.approx([0.03, 0.05])


def test_every_method_has_its_own_colour():
    colours = [method.colour for method in METHODS.values()]
    assert len(set(colours)) == len(colours)
