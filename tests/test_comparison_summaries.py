"""Summaries of the evaluation rows (padirec.comparison.summaries) on hand-made long-format tables: the gap to
Retrain, the per-seed summaries, two and three objectives. Requirements are named by their keys
(padirec.objectives.requirements.key): K-tuples of weights."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from comparison_rows import AT, rows
from padirec.comparison import summaries
from padirec.evaluation import control
from padirec.evaluation.metrics import hypervolume
from padirec.objectives import registry


# ----------------------------------------------------------------------------- gap and summary


REFERENCE = rows([0.1, 0.2, 0.3], [0.7, 0.6, 0.5])


def test_relative_gap_by_hand() -> None:
    method = rows([0.1, 0.22, 0.3], [0.7, 0.66, 0.5], method="padirec")
    # At w_acc = 0.5: |0.22 - 0.2| / 0.2 = 0.1 and |0.66 - 0.6| / 0.6 = 0.1 -> 0.1.
    assert summaries.relative_gap(method, REFERENCE, [AT[0.5]]) == pytest.approx(0.1)
    # Adding w_acc = 0 (no gap in either metric): mean of 0, 0, 0.1, 0.1 = 0.05.
    assert summaries.relative_gap(method, REFERENCE, [AT[0.0], AT[0.5]]) == pytest.approx(0.05)


def test_relative_gap_averages_samples_and_seeds_first() -> None:
    # Two samples 0.18 and 0.26 at w_acc = 0.5 average to 0.22: the gap is that of the mean, 0.1, not
    # the mean of the gaps (0.1 + 0.3) / 2 = 0.2 for NDCG.
    method = pd.concat([rows([0.1, 0.18, 0.3], [0.7, 0.66, 0.5], method="padirec", sample=0),
                        rows([0.1, 0.26, 0.3], [0.7, 0.66, 0.5], method="padirec", sample=1)])
    assert summaries.relative_gap(method, REFERENCE, [AT[0.5]]) == pytest.approx(0.1)


def test_summarise_on_a_three_point_grid() -> None:
    method = rows([0.1, 0.35, 0.3], [0.7, 0.66, 0.68], method="padirec")
    summary = summaries.summarise(method, REFERENCE, [AT[0.5]])
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
    assert summaries.summary_columns(list(summary)) == ["hv", "pearson_acc", "pearson_div", "spearman_acc",
                                                        "spearman_div", "monotonicity_violations", "rel_gap_unseen"]
    # The r values are signed_correlations of the per-requirement means, over the objectives the rows carry.
    means = control.requirement_means(method)
    assert summaries.objectives_of(means) == ["acc", "div"]
    assert control.signed_correlations(means, ["acc", "div"]) == pytest.approx(
        {key: summary[key] for key in ("pearson_acc", "pearson_div", "spearman_acc", "spearman_div")})


def test_gaps_per_region_average_only_their_requirements() -> None:
    method = rows([0.1, 0.35, 0.3], [0.7, 0.66, 0.68], method="padirec")
    summary = summaries.summarise(method, REFERENCE, [AT[0.0], AT[0.5]],
                                  regions={"near_ends": [AT[0.0]], "middle": [AT[0.5]]})
    assert summary["rel_gap_middle"] == pytest.approx(summaries.relative_gap(method, REFERENCE, [AT[0.5]]))
    assert summary["rel_gap_near_ends"] == pytest.approx(summaries.relative_gap(method, REFERENCE, [AT[0.0]]))
    assert summary["rel_gap_unseen"] == pytest.approx((summary["rel_gap_middle"] + summary["rel_gap_near_ends"]) / 2)


def test_summarise_hv_reference_and_full_protocol() -> None:
    full = {"full_ndcg@10": [0.2, 0.3, 0.4], "full_alpha_ndcg@10": [0.6, 0.5, 0.4]}
    method = rows([0.1, 0.2, 0.3], [0.7, 0.6, 0.5], method="padirec", **full)
    # The 100-candidate staircase over (0.05, 0.45): 0.25 * 0.05 + 0.15 * 0.1 + 0.05 * 0.1 = 0.0325.
    assert summaries.summarise(method, REFERENCE, [AT[0.5]], (0.05, 0.45))["hv"] == pytest.approx(0.0325)
    # "full_" reads the full-ranking columns: over (0, 0) 0.4 * 0.4 + 0.3 * 0.1 + 0.2 * 0.1 = 0.21,
    # and leaves out the gap (Retrain's gap reference is the 100-candidate one).
    summary = summaries.summarise(method, REFERENCE, [AT[0.5]], prefix="full_")
    assert summary["hv"] == pytest.approx(0.21)
    assert "rel_gap_unseen" not in summary
    assert "rel_gap_unseen" not in summaries.summarise(method, None, [AT[0.5]])


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


def test_seed_summaries_every_gap_uses_retrains_other_seeds() -> None:
    per_seed = summaries.seed_summaries(seed_rows(), [AT[0.5]], (0.0, 0.0)).set_index(["backbone", "method", "seed"])
    gap = per_seed["rel_gap_unseen"]
    # Retrain seed 0 against mean(0.18, 0.22) = 0.2: 0; seed 1 against mean(0.2, 0.22) = 0.21:
    # |0.18 - 0.21| / 0.21 / 2 = 1/14; seed 2 against mean(0.2, 0.18) = 0.19: 0.03 / 0.19 / 2 = 3/38.
    assert gap[("b", "retrain", 0)] == pytest.approx(0.0, abs=1e-12)
    assert gap[("b", "retrain", 1)] == pytest.approx(1 / 14)
    assert gap[("b", "retrain", 2)] == pytest.approx(3 / 38)
    # PaDiRec, like Retrain, against backbone b's Retrain seeds other than its own (not backbone c's): seed 0 against
    # mean(0.18, 0.22) = 0.2: 0.05 / 0.2 / 2 = 0.125; seed 1 against mean(0.2, 0.22) = 0.21: 0.01 / 0.21 / 2 = 1/42.
    assert gap[("b", "padirec", 0)] == pytest.approx(0.125)
    assert gap[("b", "padirec", 1)] == pytest.approx(1 / 42)
    # Backbone c's two Retrain seeds reference each other: |0.4 - 0.5| / 0.5 / 2 = 0.1, |0.5 - 0.4| / 0.4 / 2 = 0.125.
    assert gap[("c", "retrain", 0)] == pytest.approx(0.1)
    assert gap[("c", "retrain", 1)] == pytest.approx(0.125)
    assert len(per_seed) == 7
    # Every row also carries the seed's own HV: PaDiRec seed 0 over (0, 0) is
    #   (0.3, 0.5): 0.15 + (0.25, 0.6): 0.25 * 0.1 + (0.1, 0.7): 0.1 * 0.1 = 0.185.
    assert per_seed.loc[("b", "padirec", 0), "hv"] == pytest.approx(0.185)


# ----------------------------------------------------------------------------- three objectives

SIMPLEX = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.4, 0.3, 0.3]])


def rows3(ndcg, alpha, aplt, method="retrain", seed=0) -> pd.DataFrame:
    return pd.DataFrame({"backbone": "b", "method": method, "seed": seed, "sample": 0, "w_acc": SIMPLEX[:, 0],
                         "w_div": SIMPLEX[:, 1], "w_tail": SIMPLEX[:, 2], "ndcg@10": ndcg,
                         "alpha_ndcg@10": alpha, "aplt@10": aplt})


def test_three_objective_gap_at_a_weight_tuple() -> None:
    # Which requirements are unseen, and their regions: test_requirements.py.
    reference = rows3([0.3, 0.1, 0.05, 0.2], [0.5, 0.7, 0.6, 0.6], [0.5, 0.6, 1.0, 0.8])
    method = rows3([0.3, 0.1, 0.05, 0.22], [0.5, 0.7, 0.6, 0.6], [0.5, 0.6, 1.0, 0.72], method="padirec")
    # At (0.4, 0.3, 0.3): NDCG 0.02 / 0.2 = 0.1, alpha-NDCG 0, APLT 0.08 / 0.8 = 0.1 -> mean over 3 metrics 1/15.
    assert summaries.relative_gap(method, reference, [(0.4, 0.3, 0.3)]) == pytest.approx(0.2 / 3)


def test_three_objective_summary_has_r_per_objective_and_a_3d_hypervolume() -> None:
    frame = rows3([0.3, 0.1, 0.05, 0.2], [0.5, 0.7, 0.6, 0.6], [0.5, 0.6, 1.0, 0.8])
    summary = summaries.summarise(frame, None, [], hv_reference=(0.0, 0.4, 0.4))
    assert summary["pearson_tail"] == pytest.approx(stats.pearsonr(SIMPLEX[:, 2], [0.5, 0.6, 1.0, 0.8]).statistic)
    assert summary["spearman_div"] == pytest.approx(stats.spearmanr(SIMPLEX[:, 1], [0.5, 0.7, 0.6, 0.6]).statistic)
    assert summary["hv"] == pytest.approx(hypervolume(frame[["ndcg@10", "alpha_ndcg@10", "aplt@10"]].to_numpy().copy(),
                                                      (0.0, 0.4, 0.4)))
    assert math.isnan(summary["monotonicity_violations"])  # defined along one weight only
    # The gap to Retrain averages over each objective's test metric.
    assert registry.metrics_of(["acc", "div", "tail"]) == ["ndcg@10", "alpha_ndcg@10", "aplt@10"]


def test_relative_gap_and_summary_of_rows_without_backbone_or_method() -> None:
    def bare(values_ndcg, values_div, seed=0):
        w = np.array([0.0, 0.5, 1.0])
        return pd.DataFrame({"w_acc": w, "w_div": 1 - w, "seed": seed,
                             "ndcg@10": values_ndcg, "alpha_ndcg@10": values_div})

    method = bare([0.1, 0.22, 0.3], [0.7, 0.66, 0.5])
    reference = bare([0.1, 0.2, 0.3], [0.7, 0.6, 0.5])
    # At w_acc = 0.5: |0.22 - 0.2| / 0.2 = 0.1 and |0.66 - 0.6| / 0.6 = 0.1 -> mean 0.1.
    assert summaries.relative_gap(method, reference, [(0.5, 0.5)]) == pytest.approx(0.1)
    summary = summaries.summarise(method, reference, [(0.5, 0.5)])
    assert summary["rel_gap_unseen"] == pytest.approx(0.1)
    assert summary["spearman_acc"] == pytest.approx(1.0) and summary["spearman_div"] == pytest.approx(1.0)
    assert summary["monotonicity_violations"] == 0


def test_gap_points_are_keys_so_unrounded_weights_are_found() -> None:
    # Rows at w_acc = 1/3 (as a grid written in floats holds it) are found under the key (0.333333, 0.666667).
    w = np.array([0.0, 1 / 3, 1.0])
    method = pd.DataFrame({"w_acc": w, "w_div": 1 - w, "ndcg@10": [0.1, 0.22, 0.3], "alpha_ndcg@10": [0.7, 0.66, 0.5]})
    reference = method.assign(**{"ndcg@10": [0.1, 0.2, 0.3], "alpha_ndcg@10": [0.7, 0.6, 0.5]})
    assert summaries.relative_gap(method, reference, [(0.333333, 0.666667)]) == pytest.approx(0.1)


def test_a_two_objective_study_without_diversity_is_summarised_on_its_own_weights_and_metrics():
    w = [0.0, 0.5, 1.0]
    tail_study = pd.DataFrame({"backbone": "b", "method": "padirec", "seed": 0, "sample": 0, "w_acc": w,
                               "w_tail": [1 - x for x in w], "ndcg@10": [0.1, 0.2, 0.3], "aplt@10": [0.9, 0.6, 0.7]})
    summary = summaries.summarise(tail_study, None, [], (0.0, 0.0))
    assert summary["pearson_acc"] == pytest.approx(1.0) and "pearson_tail" in summary
    # APLT@10 should fall as w_acc rises; it rises from 0.6 to 0.7 once: one violation.
    assert summary["monotonicity_violations"] == 1
