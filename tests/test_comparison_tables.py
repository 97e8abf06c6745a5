"""The evaluation's tables (padirec.comparison.tables) on hand-made numbers: the main table and its text with
confidence intervals, near-end gaps, timings, the grid-density ablation's summaries and gaps by grid."""
from __future__ import annotations

import pandas as pd
import pytest
from scipy import stats

from comparison_rows import AT, rows
from padirec.comparison import tables


def summaries() -> pd.DataFrame:
    records = []
    for method, near, middle in (("padirec", [0.06, 0.08, 0.07], [0.01, 0.02, 0.015]),
                                 ("retrain", [0.02, 0.03, 0.025], [0.01, 0.012, 0.011])):
        for seed in range(3):
            records.append({"backbone": "b", "method": method, "seed": seed, "hv": 0.07 + 0.001 * seed,
                            "pearson_acc": 0.98, "pearson_div": 0.95, "rel_gap_unseen": (near[seed] + middle[seed]) / 2,
                            "rel_gap_near_ends": near[seed], "rel_gap_middle": middle[seed]})
    return pd.DataFrame(records)


def seconds() -> pd.DataFrame:
    return pd.DataFrame({"backbone": "b", "seed": [0, 1, 2], "padirec": [0.004] * 3, "retrain": [2.0] * 3})


def test_near_end_table_divides_by_retrains_own_gap_and_checks_the_target():
    table = tables.near_end_table(tables.main_table(summaries()))
    padirec = table.loc[("b", "padirec")]
    assert padirec["near_ends"] == pytest.approx(0.07) and padirec["middle"] == pytest.approx(0.015)
    assert padirec["near_ends_vs_retrain_noise"] == pytest.approx(0.07 / 0.025)
    assert not padirec["target_met_1.5x"] and table.loc[("b", "retrain"), "target_met_1.5x"]
    half = stats.t.ppf(0.975, 2) * stats.sem([0.06, 0.08, 0.07])
    assert padirec["near_ends_ci95"] == pytest.approx(half)


def test_readable_main_table_writes_each_mean_with_its_interval():
    text = tables.readable_main_table(tables.main_table(summaries()))
    half = stats.t.ppf(0.975, 2) * stats.sem([0.07, 0.071, 0.072])
    assert text.loc[("b", "padirec"), "HV"] == f"{0.071:.5f} ± {half:.5f}"
    assert text.loc[("b", "padirec"), "gap, near ends"].startswith("0.0700 ± ")
    assert "ms / requirement" not in text  # timings live in the efficiency table, apart from the results


def test_efficiency_table_is_the_mean_seconds_per_method_and_backbone():
    table = tables.efficiency_table(seconds())
    assert table.loc["retrain", "b"] == 2.0 and table.loc["padirec", "b"] == pytest.approx(0.004)


def test_gap_by_grid_means_and_intervals_per_training_grid():
    # Two grids of 10 requirements (adaptive and random) beside a listed one of 3: ordered by size, then kind.
    density = pd.DataFrame({"backbone": "b", "method": "padirec", "grid_size": [10, 10, 10, 3, 3, 3, 10, 10, 10],
                            "grid": ["10 random"] * 3 + ["3 listed"] * 3 + ["10 adaptive"] * 3,
                            "seed": [0, 1, 2] * 3, "rel_gap_unseen": [0.2, 0.2, 0.2, 0.05, 0.07, 0.06, 0.01, 0.02, 0.03],
                            "rel_gap_near_ends": [0.3] * 3 + [0.1, 0.12, 0.11, 0.05, 0.04, 0.06]})
    table = tables.gap_by_grid(density)
    assert [grid for *_, grid in table.index] == ["3 listed", "10 adaptive", "10 random"]
    assert table.loc[("b", "padirec", "3 listed"), "rel_gap_unseen"] == pytest.approx(0.06)
    assert table.loc[("b", "padirec", "10 adaptive"), "rel_gap_near_ends"] == pytest.approx(0.05)
    assert table.loc[("b", "padirec", "10 adaptive"), "rel_gap_unseen_ci95"] == pytest.approx(
        stats.t.ppf(0.975, 2) * stats.sem([0.01, 0.02, 0.03]))
    assert list(table.columns) == ["rel_gap_unseen", "rel_gap_unseen_ci95", "rel_gap_near_ends", "rel_gap_near_ends_ci95"]


def test_before_after_lists_every_grid_beside_the_methods_without_one_with_hv_as_a_share_of_retrains():
    density = pd.DataFrame({"backbone": "b", "method": ["padirec"] * 4 + ["interpolate"] * 4,
                            "grid": ["3 listed", "3 listed", "5 adaptive", "5 adaptive"] * 2,
                            "grid_size": [3, 3, 5, 5] * 2, "seed": [0, 1] * 4,
                            "rel_gap_unseen": [0.3, 0.5, 0.1, 0.2, 0.4, 0.4, 0.3, 0.3], "hv": [0.5] * 8})
    main = pd.DataFrame({"backbone": "b", "method": ["retrain", "retrain", "hypernetwork", "hypernetwork", "padirec",
                                                     "padirec"],
                         "seed": [0, 1] * 3, "rel_gap_unseen": [0.01, 0.03, 0.2, 0.2, 0.1, 0.2],
                         "hv": [0.4, 0.6, 0.55, 0.55, 0.5, 0.5]})
    table = tables.before_after(density, main, "5 adaptive")
    assert list(table.index) == [("padirec", "3 listed"), ("padirec", "5 adaptive"), ("interpolate", "3 listed"),
                                 ("interpolate", "5 adaptive"), ("hypernetwork", "5 adaptive"), ("retrain", "5 adaptive")]
    assert table.loc[("padirec", "3 listed"), "gap, b"] == pytest.approx(0.4)
    assert table.loc[("retrain", "5 adaptive"), "gap, b"] == pytest.approx(0.02)
    assert table.loc[("hypernetwork", "5 adaptive"), "HV / Retrain's, b"] == pytest.approx(1.1)  # 0.55 / 0.5


def test_main_table_seed_confidence_intervals_and_method_order() -> None:
    summaries = pd.DataFrame({
        "backbone": "b",
        "method": ["mmr", "mmr", "retrain", "retrain", "padirec", "padirec"],
        "seed": [0, 1, 0, 1, 0, 1],
        "hv": [0.1, 0.3, 0.4, 0.4, 0.5, 0.7],
        "monotonicity_violations": [2, 0, 0, 0, 1, 0],
        "rel_gap_unseen": [0.3, 0.5, 0.0, 0.1, 0.1, 0.2],
    })
    seconds = pd.DataFrame({"backbone": "b", "seed": [0, 1], "padirec": [1.0, 3.0], "retrain": [10.0, 20.0],
                            "mmr": [0.5, 0.5], "retrain_stacked": [99.0, 99.0]})
    table = tables.main_table(summaries)
    # TABLE_ORDER (padirec.methods.registry), not first appearance: padirec, retrain, mmr.
    assert [method for _, method in table.index] == ["padirec", "retrain", "mmr"]
    assert table.columns.tolist()[:2] == ["hv", "hv_ci95"]
    # padirec HV 0.5, 0.7: mean 0.6, sd 0.2 / sqrt(2); retrain 0.4, 0.4: sd 0; mmr 0.1, 0.3: mean 0.2.
    # 95% t interval of 2 values: half-width t(0.975, 1 df) * sd / sqrt(2).
    t = stats.t.ppf(0.975, df=1)
    assert table["hv"].tolist() == pytest.approx([0.6, 0.4, 0.2])
    assert table["hv_ci95"].tolist() == pytest.approx([t * 0.1, 0.0, t * 0.1])
    assert table["monotonicity_violations"].tolist() == pytest.approx([0.5, 0.0, 1.0])
    # Gap 0.1, 0.2 -> sd 0.1 / sqrt(2); 0, 0.1 -> the same; 0.3, 0.5 -> 0.2 / sqrt(2).
    assert table["rel_gap_unseen_ci95"].tolist() == pytest.approx([t * 0.05, t * 0.05, t * 0.1])
    # Seconds: mean over seeds, in their own table; retrain_stacked is not a method.
    assert "seconds_per_requirement" not in table
    efficiency = tables.efficiency_table(seconds)
    assert efficiency.loc[["padirec", "retrain", "mmr"], "b"].tolist() == pytest.approx([2.0, 15.0, 0.5])
    assert "retrain_stacked" not in efficiency.index


# ----------------------------------------------------------------------------- grid density


def test_density_summary_one_row_per_grid_size() -> None:
    def at_half(ndcg, alpha, method, seed, grid_size=None):
        extra = {} if grid_size is None else {"grid_size": grid_size, "grid": f"{grid_size} listed"}
        return rows([0.1, ndcg, 0.3], [0.7, alpha, 0.5], method=method, seed=seed, **extra)

    # Retrain (test rows) at 0.5: seeds (0.2, 0.6) and (0.3, 0.6). Seed 0's reference is Retrain's mean over the
    # other seeds: seed 1's (0.3, 0.6).
    retrain = pd.concat([at_half(0.2, 0.6, "retrain", 0), at_half(0.3, 0.6, "retrain", 1),
                         at_half(0.9, 0.9, "nearest", 0)], ignore_index=True)
    # padirec, 2 grid points, (0.2, 0.6):  (0.1 / 0.3 + 0) / 2 = 1/6
    # padirec, 3 grid points, samples (0.2, 0.66) and (0.3, 0.66) -> (0.25, 0.66): (0.05 / 0.3 + 0.06 / 0.6) / 2 = 2/15
    # interpolate, 2 grid points, (0.25, 0.54): (0.05 / 0.3 + 0.06 / 0.6) / 2 = 2/15
    density = pd.concat([at_half(0.2, 0.6, "padirec", 0, 2),
                         at_half(0.2, 0.66, "padirec", 0, 3), at_half(0.3, 0.66, "padirec", 0, 3).assign(sample=1),
                         at_half(0.25, 0.54, "interpolate", 0, 2)], ignore_index=True)
    table = tables.density_summary(density, retrain, [AT[0.5]], (0.0, 0.0))
    assert list(zip(table["method"], table["grid"])) == [("interpolate", "2 listed"), ("padirec", "2 listed"),
                                                          ("padirec", "3 listed")]
    assert table["rel_gap_unseen"].tolist() == pytest.approx([2 / 15, 1 / 6, 2 / 15])
    assert (table["backbone"] == "b").all()
    # HV of padirec with 2 grid points over (0, 0): 0.3 * 0.5 + 0.2 * 0.1 + 0.1 * 0.1 = 0.18.
    assert table["hv"].iloc[1] == pytest.approx(0.18)
    assert table["monotonicity_violations"].tolist() == [0, 0, 0]
    assert table["seed"].tolist() == [0, 0, 0]


def test_density_table_means_and_paired_tests_per_grid_size() -> None:
    summary = pd.DataFrame({
        "backbone": "b", "grid_size": [3] * 6, "grid": "3 listed",
        "method": ["padirec", "interpolate"] * 3, "seed": [0, 0, 1, 1, 2, 2],
        "rel_gap_unseen": [0.01, 0.03, 0.02, 0.05, 0.03, 0.04],
    })
    table = tables.density_table(summary)
    # padirec mean (0.01 + 0.02 + 0.03) / 3 = 0.02, sd 0.01; interpolate mean 0.04.
    assert table.loc["3 listed", "padirec_mean"] == pytest.approx(0.02)
    assert table.loc["3 listed", "padirec_sd"] == pytest.approx(0.01)
    assert table.loc["3 listed", "interpolate_mean"] == pytest.approx(0.04)
    # Differences -0.02, -0.03, -0.01: mean -0.02, sd 0.01, t = -0.02 / (0.01 / sqrt 3) = -2 sqrt 3.
    expected = stats.t.sf(2 * 3 ** 0.5, df=2) * 2
    assert table.loc["3 listed", "p_padirec_vs_interpolate"] == pytest.approx(expected)
    assert table.loc["3 listed", "pairs"] == 3


def test_headline_is_padirecs_gap_hv_share_and_correlations_per_backbone():
    headline = tables.headline(tables.main_table(summaries()))
    assert list(headline) == ["b"]  # one entry per backbone: PaDiRec's numbers only
    assert headline["b"]["gap"] == pytest.approx(round((0.07 + 0.015) / 2, 4))
    assert headline["b"]["hv_pct"] == pytest.approx(100.0)  # PaDiRec's HV equals Retrain's in these numbers
    assert headline["b"]["r_acc"] == pytest.approx(0.98) and headline["b"]["r_div"] == pytest.approx(0.95)
    assert tables.headline(tables.main_table(summaries()), method="retrain")["b"]["gap"] == pytest.approx(
        round((0.025 + 0.011) / 2, 4))


def test_headline_markdown_lists_padirec_retrain_then_baselines_by_gap_with_milliseconds():
    main = tables.main_table(pd.concat([summaries(), summaries().replace({"padirec": "nearest"}).assign(
        rel_gap_unseen=lambda frame: frame["rel_gap_unseen"] * 3)], ignore_index=True))
    efficiency = pd.DataFrame({"b": [0.0042, 3.3, 1.2e-5]}, index=["padirec", "retrain", "nearest"])
    text = tables.headline_markdown(main, efficiency, "paper", 3, ["b"])
    lines = text.splitlines()
    assert lines[0] == "| `paper`, 3 seeds | gap, b | HV %, b | ms, b |"
    assert [line.split(" | ")[0] for line in lines[2:]] == ["| PaDiRec", "| Retrain", "| Nearest"]
    padirec = lines[2].split(" | ")
    assert padirec[1].startswith(f"{(0.07 + 0.015) / 2:.4f} ± ") and padirec[2] == "100.0" and padirec[3] == "4.2 |"
    assert lines[3].endswith("| 3,300 |") and lines[4].endswith("| 0.012 |")


def test_per_requirement_table_names_a_two_objective_requirement_by_its_first_weight():
    rows_of = pd.DataFrame({"backbone": "b", "method": "padirec", "w_acc": [0.0, 1.0], "w_tail": [1.0, 0.0],
                            "ndcg@10": [0.1, 0.3], "aplt@10": [0.9, 0.5], "coverage@10": [0.5, 0.4],
                            "ild@10": [0.8, 0.7], "full_ndcg@10": [0.02, 0.05], "full_aplt@10": [0.8, 0.4]})
    table = tables.per_requirement_table(rows_of, ["acc", "tail"])
    assert table.index.names == ["backbone", "method", "w_acc"]
    assert list(table.columns) == ["ndcg@10", "aplt@10", "coverage@10", "ild@10", "full_ndcg@10", "full_aplt@10"]
