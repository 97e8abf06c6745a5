"""The evaluation's result tables with confidence intervals: main table text, near-end gaps, gaps by grid."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from padirec.comparison import compare


def summaries() -> pd.DataFrame:
    rows = []
    for method, near, middle in (("padirec", [0.06, 0.08, 0.07], [0.01, 0.02, 0.015]),
                                 ("retrain", [0.02, 0.03, 0.025], [0.01, 0.012, 0.011])):
        for seed in range(3):
            rows.append({"backbone": "b", "method": method, "seed": seed, "hv": 0.07 + 0.001 * seed,
                         "pearson_acc": 0.98, "pearson_div": 0.95, "rel_gap_unseen": (near[seed] + middle[seed]) / 2,
                         "rel_gap_near_ends": near[seed], "rel_gap_middle": middle[seed]})
    return pd.DataFrame(rows)


def seconds() -> pd.DataFrame:
    return pd.DataFrame({"backbone": "b", "seed": [0, 1, 2], "padirec": [0.004] * 3, "retrain": [2.0] * 3})


def test_near_end_table_divides_by_retrains_own_gap_and_checks_the_target():
    table = compare.near_end_table(compare.main_table(summaries()))
    padirec = table.loc[("b", "padirec")]
    assert padirec["near_ends"] == pytest.approx(0.07) and padirec["middle"] == pytest.approx(0.015)
    assert padirec["near_ends_vs_retrain_noise"] == pytest.approx(0.07 / 0.025)
    assert not padirec["target_met_1.5x"] and table.loc[("b", "retrain"), "target_met_1.5x"]
    half = stats.t.ppf(0.975, 2) * stats.sem([0.06, 0.08, 0.07])
    assert padirec["near_ends_ci95"] == pytest.approx(half)


def test_readable_main_table_writes_each_mean_with_its_interval():
    text = compare.readable_main_table(compare.main_table(summaries()))
    half = stats.t.ppf(0.975, 2) * stats.sem([0.07, 0.071, 0.072])
    assert text.loc[("b", "padirec"), "HV"] == f"{0.071:.5f} ± {half:.5f}"
    assert text.loc[("b", "padirec"), "gap, near ends"].startswith("0.0700 ± ")
    assert "ms / requirement" not in text  # timings live in the efficiency table, apart from the results


def test_efficiency_table_is_the_mean_seconds_per_method_and_backbone():
    table = compare.efficiency_table(seconds())
    assert table.loc["retrain", "b"] == 2.0 and table.loc["padirec", "b"] == pytest.approx(0.004)


def test_gap_by_grid_means_and_intervals_per_training_grid():
    density = pd.DataFrame({"backbone": "b", "method": "padirec", "grid_size": [3, 3, 3, 10, 10, 10],
                            "seed": [0, 1, 2] * 2, "rel_gap_unseen": [0.05, 0.07, 0.06, 0.01, 0.02, 0.03],
                            "rel_gap_near_ends": [0.1, 0.12, 0.11, 0.05, 0.04, 0.06]})
    table = compare.gap_by_grid(density)
    assert table.loc[("b", "padirec", 3), "rel_gap_unseen"] == pytest.approx(0.06)
    assert table.loc[("b", "padirec", 10), "rel_gap_near_ends"] == pytest.approx(0.05)
    assert table.loc[("b", "padirec", 10), "rel_gap_unseen_ci95"] == pytest.approx(
        stats.t.ppf(0.975, 2) * stats.sem([0.01, 0.02, 0.03]))
    assert list(table.columns) == ["rel_gap_unseen", "rel_gap_unseen_ci95", "rel_gap_near_ends", "rel_gap_near_ends_ci95"]
