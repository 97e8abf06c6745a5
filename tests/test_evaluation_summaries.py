"""Summaries of the evaluation rows (padirec.comparison.compare) on hand-made long-format tables."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from padirec.comparison import compare
from padirec.evaluation.metrics import hypervolume

W_ACC = [0.0, 0.5, 1.0]


def rows(ndcg, alpha, method="retrain", seed=0, backbone="b", sample=0, **extra) -> pd.DataFrame:
    """Long-format rows of one (backbone, method, seed, sample) on the grid w_acc = 0, 0.5, 1."""
    w = np.array(W_ACC)
    return pd.DataFrame({"backbone": backbone, "method": method, "seed": seed, "sample": sample, "w_acc": w,
                         "w_div": 1 - w, "ndcg@10": ndcg, "alpha_ndcg@10": alpha, **extra})


# ----------------------------------------------------------------------------- gap and summary


REFERENCE = rows([0.1, 0.2, 0.3], [0.7, 0.6, 0.5])


def test_relative_gap_by_hand() -> None:
    method = rows([0.1, 0.22, 0.3], [0.7, 0.66, 0.5], method="padirec")
    # At w_acc = 0.5: |0.22 - 0.2| / 0.2 = 0.1 and |0.66 - 0.6| / 0.6 = 0.1 -> 0.1.
    assert compare.relative_gap(method, REFERENCE, [0.5]) == pytest.approx(0.1)
    # Adding w_acc = 0 (no gap in either metric): mean of 0, 0, 0.1, 0.1 = 0.05.
    assert compare.relative_gap(method, REFERENCE, [0.0, 0.5]) == pytest.approx(0.05)


def test_relative_gap_averages_samples_and_seeds_first() -> None:
    # Two samples 0.18 and 0.26 at w_acc = 0.5 average to 0.22: the gap is that of the mean, 0.1, not
    # the mean of the gaps (0.1 + 0.3) / 2 = 0.2 for NDCG.
    method = pd.concat([rows([0.1, 0.18, 0.3], [0.7, 0.66, 0.5], method="padirec", sample=0),
                        rows([0.1, 0.26, 0.3], [0.7, 0.66, 0.5], method="padirec", sample=1)])
    assert compare.relative_gap(method, REFERENCE, [0.5]) == pytest.approx(0.1)


def test_summarise_on_a_three_point_grid() -> None:
    method = rows([0.1, 0.35, 0.3], [0.7, 0.66, 0.68], method="padirec")
    summary = compare.summarise(method, REFERENCE, [0.5])
    # Gap at 0.5: |0.35 - 0.2| / 0.2 = 0.75, |0.66 - 0.6| / 0.6 = 0.1 -> 0.425.
    assert summary["rel_gap_unseen"] == pytest.approx(0.425)
    # HV over (0, 0), points sorted by NDCG descending:
    #   (0.35, 0.66): 0.35 * 0.66          = 0.231
    #   (0.30, 0.68): 0.30 * (0.68 - 0.66) = 0.006
    #   (0.10, 0.70): 0.10 * (0.70 - 0.68) = 0.002   -> 0.239
    assert summary["hv"] == pytest.approx(0.239)
    assert summary["hv"] == pytest.approx(hypervolume([[0.1, 0.7], [0.35, 0.66], [0.3, 0.68]], (0.0, 0.0)))
    # NDCG falls 0.35 -> 0.3 as w_acc rises 0.5 -> 1; alpha-NDCG rises 0.66 -> 0.68 as w_div falls: 2.
    assert summary["monotonicity_violations"] == 2
    # Spearman: ranks of NDCG (1, 3, 2) against (1, 2, 3): 1 - 6 * (0 + 1 + 1) / (3 * 8) = 0.5;
    #   alpha-NDCG ranks (3, 1, 2) against w_div's (3, 2, 1): the same 0.5.
    assert summary["spearman_acc"] == pytest.approx(0.5)
    assert summary["spearman_div"] == pytest.approx(0.5)
    # Pearson r-a: dx = (-.5, 0, .5), dy = (-.15, .1, .05): 0.1 / sqrt(0.5 * 0.035) = 0.755929.
    assert summary["pearson_acc"] == pytest.approx(0.1 / math.sqrt(0.5 * 0.035))
    # Pearson r-d: dx = (.5, 0, -.5), dy = (.02, -.02, 0): 0.01 / sqrt(0.5 * 0.0008) = 0.5.
    assert summary["pearson_div"] == pytest.approx(0.5)
    assert set(summary) == {"hv", "pearson_acc", "pearson_div", "spearman_acc", "spearman_div",
                            "monotonicity_violations", "rel_gap_unseen"}  # no regions given
    assert compare.summary_columns(list(summary)) == ["hv", "pearson_acc", "pearson_div", "spearman_acc",
                                                      "spearman_div", "monotonicity_violations", "rel_gap_unseen"]


def test_gaps_per_region_average_only_their_requirements() -> None:
    method = rows([0.1, 0.35, 0.3], [0.7, 0.66, 0.68], method="padirec")
    summary = compare.summarise(method, REFERENCE, [0.0, 0.5], regions={"near_ends": [0.0], "middle": [0.5]})
    assert summary["rel_gap_middle"] == pytest.approx(compare.relative_gap(method, REFERENCE, [0.5]))
    assert summary["rel_gap_near_ends"] == pytest.approx(compare.relative_gap(method, REFERENCE, [0.0]))
    assert summary["rel_gap_unseen"] == pytest.approx((summary["rel_gap_middle"] + summary["rel_gap_near_ends"]) / 2)


def test_requirement_regions_split_the_unseen_points_by_their_grid_neighbours() -> None:
    grid = [0.0, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 1.0]
    unseen = [0.05, 0.1, 0.2, 0.5, 0.8, 0.9, 0.95]
    assert compare.requirement_regions(grid, unseen) == {"near_ends": [0.05, 0.1, 0.9, 0.95],
                                                        "middle": [0.2, 0.5, 0.8]}


def test_summarise_hv_reference_and_full_protocol() -> None:
    full = {"full_ndcg@10": [0.2, 0.3, 0.4], "full_alpha_ndcg@10": [0.6, 0.5, 0.4]}
    method = rows([0.1, 0.2, 0.3], [0.7, 0.6, 0.5], method="padirec", **full)
    # The 100-candidate staircase over (0.05, 0.45): 0.25 * 0.05 + 0.15 * 0.1 + 0.05 * 0.1 = 0.0325.
    assert compare.summarise(method, REFERENCE, [0.5], (0.05, 0.45))["hv"] == pytest.approx(0.0325)
    # "full_" reads the full-ranking columns: over (0, 0) 0.4 * 0.4 + 0.3 * 0.1 + 0.2 * 0.1 = 0.21,
    # and leaves out the gap (Retrain's gap reference is the 100-candidate one).
    summary = compare.summarise(method, REFERENCE, [0.5], prefix="full_")
    assert summary["hv"] == pytest.approx(0.21)
    assert "rel_gap_unseen" not in summary
    assert "rel_gap_unseen" not in compare.summarise(method, None, [0.5])


# ----------------------------------------------------------------------------- per seed


def seed_rows() -> pd.DataFrame:
    """Retrain seeds 0, 1, 2 and PaDiRec seeds 0, 1 on backbone b; Retrain of another backbone c.

    Only NDCG at w_acc = 0.5 differs between Retrain seeds: 0.2, 0.18, 0.22 (alpha-NDCG 0.6 throughout).
    """
    def at_half(value, **keys):
        return rows([0.1, value, 0.3], [0.7, 0.6, 0.5], **keys)

    return pd.concat([at_half(0.2, seed=0), at_half(0.18, seed=1), at_half(0.22, seed=2),
                      at_half(0.25, method="padirec", seed=0), at_half(0.2, method="padirec", seed=1),
                      at_half(0.4, backbone="c", seed=0), at_half(0.5, backbone="c", seed=1)], ignore_index=True)


def test_seed_summaries_retrain_gap_uses_the_other_seeds() -> None:
    summaries = compare.seed_summaries(seed_rows(), [0.5], (0.0, 0.0)).set_index(["backbone", "method", "seed"])
    gap = summaries["rel_gap_unseen"]
    # Retrain seed 0 against mean(0.18, 0.22) = 0.2: 0; seed 1 against mean(0.2, 0.22) = 0.21:
    # |0.18 - 0.21| / 0.21 / 2 = 1/14; seed 2 against mean(0.2, 0.18) = 0.19: 0.03 / 0.19 / 2 = 3/38.
    assert gap[("b", "retrain", 0)] == pytest.approx(0.0, abs=1e-12)
    assert gap[("b", "retrain", 1)] == pytest.approx(1 / 14)
    assert gap[("b", "retrain", 2)] == pytest.approx(3 / 38)
    # PaDiRec against all three Retrain seeds of b, mean 0.2 (not backbone c's): 0.05 / 0.2 / 2 = 0.125, and 0.
    assert gap[("b", "padirec", 0)] == pytest.approx(0.125)
    assert gap[("b", "padirec", 1)] == pytest.approx(0.0, abs=1e-12)
    # Backbone c's two Retrain seeds reference each other: |0.4 - 0.5| / 0.5 / 2 = 0.1, |0.5 - 0.4| / 0.4 / 2 = 0.125.
    assert gap[("c", "retrain", 0)] == pytest.approx(0.1)
    assert gap[("c", "retrain", 1)] == pytest.approx(0.125)
    assert len(summaries) == 7
    # Every row also carries the seed's own HV: PaDiRec seed 0 over (0, 0) is
    #   (0.3, 0.5): 0.15 + (0.25, 0.6): 0.25 * 0.1 + (0.1, 0.7): 0.1 * 0.1 = 0.185.
    assert summaries.loc[("b", "padirec", 0), "hv"] == pytest.approx(0.185)


# ----------------------------------------------------------------------------- paired tests


def summary_table() -> pd.DataFrame:
    """HV per (backbone, seed): PaDiRec and Retrain on 3 pairs, Nearest on 2 of them."""
    records = [("b", 0, "padirec", 0.5), ("b", 1, "padirec", 0.6), ("c", 0, "padirec", 0.4),
               ("b", 0, "retrain", 0.4), ("b", 1, "retrain", 0.45), ("c", 0, "retrain", 0.3),
               ("b", 0, "nearest", 0.3), ("b", 1, "nearest", 0.5)]
    return pd.DataFrame(records, columns=["backbone", "seed", "method", "hv"])


def test_paired_tests_by_hand() -> None:
    table = compare.paired_tests(summary_table(), "hv").set_index("baseline")
    # Only methods present, in METHODS order (retrain before nearest).
    assert table.index.tolist() == ["retrain", "nearest"]
    # Retrain: d = (0.1, 0.15, 0.1), mean 0.35 / 3 = 0.116667; deviations (-1/60, 1/30, -1/60),
    #   sd = sqrt((1 + 4 + 1) / 3600 / 2) = 0.028868; se = sd / sqrt(3) = 1/60 -> t = 7.
    #   With 2 degrees of freedom the t cdf is 1/2 + t / (2 sqrt(2 + t^2)): p = 1 - 7 / sqrt(51) = 0.019804.
    retrain = table.loc["retrain"]
    assert retrain["pairs"] == 3
    assert retrain["t"] == pytest.approx(7.0)
    assert retrain["p"] == pytest.approx(1 - 7 / math.sqrt(51))
    assert retrain["mean_difference"] == pytest.approx(0.35 / 3)
    assert retrain["mean_padirec"] == pytest.approx(0.5)
    assert retrain["mean_baseline"] == pytest.approx(1.15 / 3)
    # Nearest: pairs (b, 0), (b, 1) only: d = (0.2, 0.1), mean 0.15, sd 0.070711, se 0.05 -> t = 3.
    #   1 degree of freedom: p = 1 - 2 atan(3) / pi = 0.204833.
    nearest = table.loc["nearest"]
    assert nearest["pairs"] == 2
    assert nearest["t"] == pytest.approx(3.0)
    assert nearest["p"] == pytest.approx(1 - 2 * math.atan(3) / math.pi)
    assert nearest["mean_padirec"] == pytest.approx(0.55)
    assert nearest["mean_baseline"] == pytest.approx(0.4)


def test_paired_tests_one_sided_halves_p() -> None:
    # t = 7 > 0: the "greater" alternative has half the two-sided p.
    table = compare.paired_tests(summary_table(), "hv", alternative="greater").set_index("baseline")
    assert table.loc["retrain", "p"] == pytest.approx((1 - 7 / math.sqrt(51)) / 2)


# ----------------------------------------------------------------------------- guidance choice


def test_choose_guidance_takes_the_smallest_mean_gap() -> None:
    def at_half(ndcg, alpha, method, seed, guidance):
        return rows([0.1, ndcg, 0.3], [0.7, alpha, 0.5], method=method, seed=seed, guidance=guidance)

    # Retrain at w_acc = 0.5: seed 0 (0.2, 0.6), seed 1 (0.25, 0.5). Each seed is compared with its own Retrain:
    #   scale 0: seed 0 (0.3, 0.6):  (0.1 / 0.2 + 0) / 2 = 0.25;   seed 1 (0.25, 0.6): (0 + 0.1 / 0.5) / 2 = 0.1
    #            mean 0.175, sd 0.15 / sqrt(2)
    #   scale 1: seed 0 (0.22, 0.6): (0.02 / 0.2) / 2 = 0.05;      seed 1 (0.25, 0.55): (0.05 / 0.5) / 2 = 0.05
    #            mean 0.05, sd 0
    #   scale 2: seed 0 (0.2, 0.3):  (0 + 0.3 / 0.6) / 2 = 0.25;   seed 1 (0.25, 0.5): 0 -> mean 0.125
    frames = [at_half(0.2, 0.6, "retrain", 0, np.nan), at_half(0.25, 0.5, "retrain", 1, np.nan),
              at_half(0.3, 0.6, "padirec", 0, 0.0), at_half(0.25, 0.6, "padirec", 1, 0.0),
              at_half(0.22, 0.6, "padirec", 0, 1.0), at_half(0.25, 0.55, "padirec", 1, 1.0),
              at_half(0.2, 0.3, "padirec", 0, 2.0), at_half(0.25, 0.5, "padirec", 1, 2.0)]
    chosen, table = compare.choose_guidance(pd.concat(frames, ignore_index=True), [0.5])
    assert chosen == 1.0
    assert table["mean"].tolist() == pytest.approx([0.175, 0.05, 0.125])
    assert table["std"].tolist() == pytest.approx([0.15 / math.sqrt(2), 0.0, 0.25 / math.sqrt(2)])
    assert table.index.tolist() == [0.0, 1.0, 2.0]


# ----------------------------------------------------------------------------- grid density


def test_density_summary_one_row_per_grid_size() -> None:
    def at_half(ndcg, alpha, method, seed, grid_size=None):
        extra = {} if grid_size is None else {"grid_size": grid_size}
        return rows([0.1, ndcg, 0.3], [0.7, alpha, 0.5], method=method, seed=seed, **extra)

    # Retrain (test rows) at 0.5: seeds (0.2, 0.6) and (0.3, 0.6) -> mean (0.25, 0.6).
    retrain = pd.concat([at_half(0.2, 0.6, "retrain", 0), at_half(0.3, 0.6, "retrain", 1),
                         at_half(0.9, 0.9, "nearest", 0)], ignore_index=True)
    # padirec, 2 grid points, (0.2, 0.6):  (0.05 / 0.25 + 0) / 2 = 0.1
    # padirec, 3 grid points, samples (0.2, 0.66) and (0.3, 0.66) -> (0.25, 0.66): (0 + 0.06 / 0.6) / 2 = 0.05
    # interpolate, 2 grid points, (0.25, 0.54): (0 + 0.06 / 0.6) / 2 = 0.05
    density = pd.concat([at_half(0.2, 0.6, "padirec", 0, 2),
                         at_half(0.2, 0.66, "padirec", 0, 3), at_half(0.3, 0.66, "padirec", 0, 3).assign(sample=1),
                         at_half(0.25, 0.54, "interpolate", 0, 2)], ignore_index=True)
    table = compare.density_summary(density, retrain, [0.5], (0.0, 0.0))
    assert list(zip(table["method"], table["grid_size"])) == [("interpolate", 2), ("padirec", 2), ("padirec", 3)]
    assert table["rel_gap_unseen"].tolist() == pytest.approx([0.05, 0.1, 0.05])
    assert (table["backbone"] == "b").all()
    # HV of padirec with 2 grid points over (0, 0): 0.3 * 0.5 + 0.2 * 0.1 + 0.1 * 0.1 = 0.18.
    assert table["hv"].iloc[1] == pytest.approx(0.18)
    assert table["monotonicity_violations"].tolist() == [0, 0, 0]
    assert table["seed"].tolist() == [0, 0, 0]


def test_density_table_means_and_paired_tests_per_grid_size() -> None:
    summary = pd.DataFrame({
        "backbone": "b", "grid_size": [3] * 6,
        "method": ["padirec", "interpolate"] * 3, "seed": [0, 0, 1, 1, 2, 2],
        "rel_gap_unseen": [0.01, 0.03, 0.02, 0.05, 0.03, 0.04],
    })
    table = compare.density_table(summary)
    # padirec mean (0.01 + 0.02 + 0.03) / 3 = 0.02, sd 0.01; interpolate mean 0.04.
    assert table.loc[3, "padirec_mean"] == pytest.approx(0.02)
    assert table.loc[3, "padirec_sd"] == pytest.approx(0.01)
    assert table.loc[3, "interpolate_mean"] == pytest.approx(0.04)
    # Differences -0.02, -0.03, -0.01: mean -0.02, sd 0.01, t = -0.02 / (0.01 / sqrt 3) = -2 sqrt 3.
    expected = stats.t.sf(2 * 3 ** 0.5, df=2) * 2
    assert table.loc[3, "p_padirec_vs_interpolate"] == pytest.approx(expected)
    assert table.loc[3, "pairs"] == 3


# ----------------------------------------------------------------------------- tables


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
    table = compare.main_table(summaries)
    # METHODS order, not first appearance: padirec, retrain, mmr.
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
    efficiency = compare.efficiency_table(seconds)
    assert efficiency.loc[["padirec", "retrain", "mmr"], "b"].tolist() == pytest.approx([2.0, 15.0, 0.5])
    assert "retrain_stacked" not in efficiency.index


def test_method_summary_entry() -> None:
    rows_ = pd.concat([rows([0.1, 0.2, 0.3], [0.7, 0.6, 0.5], method="padirec", seed=0),
                       rows([0.3, 0.4, 0.5], [0.5, 0.4, 0.3], method="padirec", seed=1),
                       rows([0.9, 0.9, 0.9], [0.9, 0.9, 0.9], method="retrain", seed=0),
                       rows([0.9, 0.9, 0.9], [0.9, 0.9, 0.9], method="padirec", seed=0, backbone="c")],
                      ignore_index=True)
    keys = dict.fromkeys(["hv", "pearson_acc", "pearson_div", "spearman_acc", "spearman_div", "monotonicity_violations",
                          "rel_gap_unseen", "rel_gap_near_ends", "rel_gap_middle"], 0.0)
    summaries = pd.DataFrame([{"backbone": "b", "method": "padirec", "seed": 0, **keys, "hv": 0.5,
                               "rel_gap_unseen": 0.1},
                              {"backbone": "b", "method": "padirec", "seed": 1, **keys, "hv": 0.7,
                               "rel_gap_unseen": 0.3},
                              {"backbone": "b", "method": "retrain", "seed": 0, **keys, "hv": 9.0},
                              {"backbone": "c", "method": "padirec", "seed": 0, **keys, "hv": 9.0}])
    entry = compare.method_summary(rows_, summaries, "b", "padirec")
    assert set(entry) == {"grid", *compare.summary_columns(summaries.columns), "std", "seeds"}
    # Seed means per requirement: NDCG (0.2, 0.3, 0.4), alpha-NDCG (0.6, 0.5, 0.4); other backbones/methods left out.
    assert [row["w_acc"] for row in entry["grid"]] == [0.0, 0.5, 1.0]
    assert [row["w_div"] for row in entry["grid"]] == [1.0, 0.5, 0.0]
    assert [row["ndcg@10"] for row in entry["grid"]] == pytest.approx([0.2, 0.3, 0.4])
    assert [row["alpha_ndcg@10"] for row in entry["grid"]] == pytest.approx([0.6, 0.5, 0.4])
    assert set(entry["grid"][0]) == {"w_acc", "w_div", "ndcg@10", "alpha_ndcg@10"}
    # HV mean 0.6, sd 0.2 / sqrt(2) = 0.141421; gap mean 0.2, sd the same; two seeds.
    assert entry["hv"] == pytest.approx(0.6)
    assert entry["rel_gap_unseen"] == pytest.approx(0.2)
    assert entry["std"]["hv"] == pytest.approx(0.141421)
    assert entry["std"]["rel_gap_unseen"] == pytest.approx(0.141421)
    assert entry["std"]["pearson_acc"] == 0.0
    assert entry["seeds"] == 2


def test_unseen_requirements_are_those_on_no_training_grid() -> None:
    weights = np.array([[0.0, 1.0], [0.05, 0.95], [0.5, 0.5], [0.475, 0.525], [1.0, 0.0]])
    assert compare.unseen_requirements(weights, [0.0, 0.475, 1.0]) == [0.05, 0.5]


# ----------------------------------------------------------------------------- three objectives

SIMPLEX = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.4, 0.3, 0.3]])


def rows3(ndcg, alpha, aplt, method="retrain", seed=0) -> pd.DataFrame:
    return pd.DataFrame({"backbone": "b", "method": method, "seed": seed, "sample": 0, "w_acc": SIMPLEX[:, 0],
                         "w_div": SIMPLEX[:, 1], "w_tail": SIMPLEX[:, 2], "ndcg@10": ndcg,
                         "alpha_ndcg@10": alpha, "aplt@10": aplt})


def test_three_objective_keys_gaps_and_regions() -> None:
    eval_weights = np.array([[0.4, 0.3, 0.3], [0.05, 0.05, 0.9], [1.0, 0.0, 0.0]])
    unseen = compare.unseen_requirements(eval_weights, SIMPLEX[:3])
    assert unseen == [(0.4, 0.3, 0.3), (0.05, 0.05, 0.9)]
    assert compare.requirement_regions([1.0, 0.0, 0.0], unseen) == {"near_ends": [(0.05, 0.05, 0.9)],
                                                                    "middle": [(0.4, 0.3, 0.3)]}
    reference = rows3([0.3, 0.1, 0.05, 0.2], [0.5, 0.7, 0.6, 0.6], [0.5, 0.6, 1.0, 0.8])
    method = rows3([0.3, 0.1, 0.05, 0.22], [0.5, 0.7, 0.6, 0.6], [0.5, 0.6, 1.0, 0.72], method="padirec")
    # At (0.4, 0.3, 0.3): NDCG 0.02 / 0.2 = 0.1, alpha-NDCG 0, APLT 0.08 / 0.8 = 0.1 -> mean over 3 metrics 1/15.
    assert compare.relative_gap(method, reference, [(0.4, 0.3, 0.3)]) == pytest.approx(0.2 / 3)


def test_three_objective_summary_has_r_per_objective_and_a_3d_hypervolume() -> None:
    frame = rows3([0.3, 0.1, 0.05, 0.2], [0.5, 0.7, 0.6, 0.6], [0.5, 0.6, 1.0, 0.8])
    summary = compare.summarise(frame, None, [], hv_reference=(0.0, 0.4, 0.4))
    assert summary["pearson_tail"] == pytest.approx(stats.pearsonr(SIMPLEX[:, 2], [0.5, 0.6, 1.0, 0.8]).statistic)
    assert summary["spearman_div"] == pytest.approx(stats.spearmanr(SIMPLEX[:, 1], [0.5, 0.7, 0.6, 0.6]).statistic)
    assert summary["hv"] == pytest.approx(hypervolume(frame[["ndcg@10", "alpha_ndcg@10", "aplt@10"]].to_numpy().copy(),
                                                      (0.0, 0.4, 0.4)))
    assert math.isnan(summary["monotonicity_violations"])  # defined along one weight only
    assert compare.gap_metrics(["acc", "div", "tail"]) == ["ndcg@10", "alpha_ndcg@10", "aplt@10"]
