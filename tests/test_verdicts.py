"""The verdicts (padirec.comparison.verdicts) against hand computations on small hand-made per-seed frames.

- the blocked estimate: effect = mean of the per-backbone mean differences, SE from the pooled within-backbone
  variance (df = n - B), so a between-backbone difference never inflates the SE;
- TOST, Holm (primary) and Benjamini-Hochberg (secondary) adjusted p-values, computed by hand;
- the verdict rules (a direction on both backbones, orientation per metric, equivalence, seeds needed);
- the fair gap reference of padirec.comparison.summaries.seed_summaries (Retrain's other seeds, for every method);
- the families hold no zero-difference or duplicate comparison, and no primary one twice;
- the params.yaml checks of `studies.<name>.primary` (padirec.pipeline.sections.Comparison, StudyConfig);
- the verdicts in words (sentence, findings_markdown, compact).
"""
from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from statsmodels.stats.power import tt_solve_power

from padirec.comparison import summaries as summaries_module
from padirec.comparison import verdicts
from padirec.objectives import requirements
from padirec.objectives.registry import metrics_of
from padirec.pipeline import config, paths
from padirec.pipeline.sections import MAX_PRIMARY, Comparison

BACKBONES = ("gru4rec", "sasrec")
SEEDS = (0, 1, 2)


# ----------------------------------------------------------------------------- helpers


def difference_frame(by_backbone: dict[str, list[float]]) -> pd.DataFrame:
    """(backbone, seed, difference) as `verdicts.differences` returns it."""
    return pd.DataFrame([{"backbone": name, "seed": seed, "difference": value}
                         for name, values in by_backbone.items() for seed, value in enumerate(values)])


def hand_blocked(by_backbone: dict[str, list[float]]) -> dict:
    """The blocked estimate by hand: effect, se, df, two-sided p, pooled within-backbone sd."""
    groups = [np.asarray(values, dtype=float) for values in by_backbone.values()]
    n, b = sum(len(g) for g in groups), len(groups)
    effect = np.mean([g.mean() for g in groups])
    pooled_variance = sum(((g - g.mean()) ** 2).sum() for g in groups) / (n - b)
    se = math.sqrt(pooled_variance * sum(1 / len(g) for g in groups)) / b
    p = 2 * stats.t.sf(abs(effect) / se, n - b)
    return {"effect": effect, "se": se, "df": n - b, "p": p, "sd": math.sqrt(pooled_variance)}


def spread(mean: float, noise: float) -> list[float]:
    """Three per-seed differences around `mean`: mean - noise, mean, mean + noise."""
    return [mean - noise, mean, mean + noise]


def paired_summaries(differences: dict[tuple[str, str], dict[str, list[float]]],
                     metrics=("hv", "rel_gap_unseen")) -> pd.DataFrame:
    """Per-seed summaries (backbone, method, seed, metrics) where PaDiRec minus `other` on `metric` is
    differences[(other, metric)][backbone][seed]; every other pair of method and metric differs by 0."""
    base = {"hv": lambda seed: 0.5 + 0.01 * seed, "rel_gap_unseen": lambda seed: 0.1 + 0.005 * seed,
            "rel_gap_near_ends": lambda seed: 0.12 + 0.004 * seed}
    others = sorted({other for other, _ in differences})
    records = []
    for name in BACKBONES:
        for seed in SEEDS:
            records.append({"backbone": name, "method": "padirec", "seed": seed,
                            **{metric: base[metric](seed) for metric in metrics}})
            for other in others:
                records.append({"backbone": name, "method": other, "seed": seed, **{
                    metric: base[metric](seed) - differences.get((other, metric), {}).get(name, [0.0] * 3)[seed]
                    for metric in metrics}})
    return pd.DataFrame(records)


def holm_by_hand(p: list[float]) -> list[float]:
    """Holm: sorted p_(i) * (m - i + 1), cumulative maximum, capped at 1, back in the original order."""
    m, order = len(p), np.argsort(p)
    adjusted, running = [0.0] * m, 0.0
    for rank, index in enumerate(order):
        running = max(running, (m - rank) * p[index])
        adjusted[index] = min(1.0, running)
    return adjusted


def bh_by_hand(p: list[float]) -> list[float]:
    """Benjamini-Hochberg: sorted p_(i) * m / i, cumulative minimum from the largest, capped at 1."""
    m, order = len(p), np.argsort(p)
    adjusted, running = [0.0] * m, 1.0
    for rank in range(m - 1, -1, -1):
        index = order[rank]
        running = min(running, p[index] * m / (rank + 1))
        adjusted[index] = running
    return adjusted


# ----------------------------------------------------------------------------- 1. the blocked estimate

UNBALANCED = {"gru4rec": [0.10, 0.14, 0.12], "sasrec": [-0.02, 0.03, 0.01, 0.06]}


def test_blocked_contrast_by_hand_with_three_and_four_seeds() -> None:
    blocked = verdicts.blocked_contrast(difference_frame(UNBALANCED))
    # Backbone means 0.12 and 0.02: the effect is their mean, 0.07, not the pooled mean 0.44 / 7 = 0.0629.
    assert blocked.effect == pytest.approx(0.07, abs=1e-12)
    assert abs(blocked.effect - np.mean(UNBALANCED["gru4rec"] + UNBALANCED["sasrec"])) > 0.005
    # Within-backbone squares 0.0008 + 0.0034 over n - B = 5: s_p^2 = 0.00084.
    assert blocked.df == 5
    assert blocked.sd == pytest.approx(math.sqrt(0.00084), rel=1e-9)
    se = math.sqrt(0.00084 * (1 / 3 + 1 / 4)) / 2
    assert blocked.se == pytest.approx(se, rel=1e-9)
    assert blocked.p == pytest.approx(2 * stats.t.sf(0.07 / se, 5), rel=1e-9)
    for level, interval in ((0.975, blocked.ci95), (0.95, blocked.ci90)):
        half = stats.t.ppf(level, 5) * se
        assert interval == pytest.approx((0.07 - half, 0.07 + half), rel=1e-9)
    hand = hand_blocked(UNBALANCED)
    assert (blocked.effect, blocked.se, blocked.p) == pytest.approx((hand["effect"], hand["se"], hand["p"]), rel=1e-9)


def test_blocked_contrast_per_backbone_means_and_their_own_t_intervals() -> None:
    blocked = verdicts.blocked_contrast(difference_frame(UNBALANCED))
    assert set(blocked.backbones) == {"gru4rec", "sasrec"}
    for name, values in UNBALANCED.items():
        mean, low, high, seeds = blocked.backbones[name]
        half = stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / math.sqrt(len(values))
        assert seeds == len(values)
        assert mean == pytest.approx(np.mean(values), abs=1e-12)
        assert (low, high) == pytest.approx((np.mean(values) - half, np.mean(values) + half), rel=1e-9)
    assert blocked.backbones["gru4rec"][0] == pytest.approx(0.12)
    assert blocked.backbones["sasrec"][0] == pytest.approx(0.02)


def test_a_difference_between_the_backbones_effects_leaves_the_blocked_se_unchanged() -> None:
    before = verdicts.blocked_contrast(difference_frame(UNBALANCED))
    shifted = {"gru4rec": UNBALANCED["gru4rec"], "sasrec": [v + 1.0 for v in UNBALANCED["sasrec"]]}
    after = verdicts.blocked_contrast(difference_frame(shifted))
    assert after.se == pytest.approx(before.se, rel=1e-9)
    assert after.sd == pytest.approx(before.sd, rel=1e-9)
    assert after.effect == pytest.approx(before.effect + 0.5, rel=1e-9)
    # An unblocked one-sample SE of the seven differences would be inflated many times by the shift.
    naive = stats.sem(shifted["gru4rec"] + shifted["sasrec"])
    assert naive > 10 * after.se


# ----------------------------------------------------------------------------- 2. TOST

TIGHT_NEAR_ZERO = {"gru4rec": [0.001, -0.001, 0.0005], "sasrec": [0.0, 0.002, -0.0015, 0.0005]}


def hand_tost(by_backbone: dict[str, list[float]], margin: float) -> float:
    hand = hand_blocked(by_backbone)
    lower = stats.t.sf((hand["effect"] + margin) / hand["se"], hand["df"])  # H0: effect <= -margin
    upper = stats.t.cdf((hand["effect"] - margin) / hand["se"], hand["df"])  # H0: effect >= margin
    return max(lower, upper)


def test_tost_p_by_hand_passes_for_a_tight_difference_near_zero() -> None:
    blocked = verdicts.blocked_contrast(difference_frame(TIGHT_NEAR_ZERO))
    p = verdicts.tost_p(blocked, margin=0.005)
    assert p == pytest.approx(hand_tost(TIGHT_NEAR_ZERO, 0.005), rel=1e-9)
    assert p < 0.05


def test_tost_p_by_hand_fails_when_the_margin_is_smaller_than_the_effect() -> None:
    blocked = verdicts.blocked_contrast(difference_frame(UNBALANCED))  # effect 0.07
    p = verdicts.tost_p(blocked, margin=0.05)
    assert p == pytest.approx(hand_tost(UNBALANCED, 0.05), rel=1e-9)
    se = math.sqrt(0.00084 * (1 / 3 + 1 / 4)) / 2
    assert p == pytest.approx(stats.t.cdf((0.07 - 0.05) / se, 5), rel=1e-9)  # the upper test decides
    assert p > 0.5


# ----------------------------------------------------------------------------- 3. Holm and BH

# Four gap comparisons whose raw p-values are about 0.00026, 0.0018, 0.0021 and 0.46: Holm's cumulative
# maximum binds at the third (0.0021 * 2 < 0.0018 * 3), BH's cumulative minimum at the second.
FAMILY = {("retrain", "rel_gap_unseen"): {"gru4rec": spread(0.02, 0.003), "sasrec": spread(0.01, 0.003)},
          ("hypernetwork", "rel_gap_unseen"): {"gru4rec": spread(0.02, 0.005), "sasrec": spread(0.01, 0.005)},
          ("interpolate", "rel_gap_unseen"): {"gru4rec": spread(0.02, 0.0052), "sasrec": spread(0.01, 0.0052)},
          ("nearest", "rel_gap_unseen"): {"gru4rec": spread(0.005, 0.006), "sasrec": spread(-0.001, 0.006)}}
FAMILY_COMPARISONS = [Comparison(other, metric) for other, metric in FAMILY]


def test_the_raw_p_values_are_the_blocked_ones_by_hand() -> None:
    table = verdicts.assess(paired_summaries(FAMILY), FAMILY_COMPARISONS, "primary")
    assert list(table["other"]) == [other for other, _ in FAMILY]
    for (other, metric), row in zip(FAMILY, table.itertuples()):
        hand = hand_blocked(FAMILY[(other, metric)])
        assert row.p == pytest.approx(hand["p"], rel=1e-6)
        assert row.effect == pytest.approx(hand["effect"], rel=1e-6)
        assert row.df == 4
    assert table["p"].to_numpy() == pytest.approx([2.552e-4, 1.8263e-3, 2.1165e-3, 0.46005], rel=1e-3)


def test_holm_adjusts_the_primary_family_by_hand() -> None:
    table = verdicts.assess(paired_summaries(FAMILY), FAMILY_COMPARISONS, "primary")
    raw = [hand_blocked(FAMILY[key])["p"] for key in FAMILY]
    expected = holm_by_hand(raw)
    assert table["p_adjusted"].to_numpy() == pytest.approx(expected, rel=1e-6)
    # The cumulative maximum matters here: the third p's own product is below the second's.
    assert 2 * raw[2] < 3 * raw[1]
    assert expected[2] == pytest.approx(3 * raw[1], rel=1e-12)
    assert table["p_adjusted"].iloc[2] == pytest.approx(3 * raw[1], rel=1e-6)


def test_benjamini_hochberg_adjusts_the_secondary_family_by_hand() -> None:
    table = verdicts.assess(paired_summaries(FAMILY), FAMILY_COMPARISONS, "secondary")
    raw = [hand_blocked(FAMILY[key])["p"] for key in FAMILY]
    expected = bh_by_hand(raw)
    assert table["p_adjusted"].to_numpy() == pytest.approx(expected, rel=1e-6)
    # The cumulative minimum matters: the second-smallest p takes the third's 4/3 * p, not its own 4/2 * p.
    assert expected[1] == pytest.approx(raw[2] * 4 / 3, rel=1e-12) and raw[2] * 4 / 3 < raw[1] * 2
    assert table["p_adjusted"].iloc[3] == pytest.approx(raw[3], rel=1e-6)  # the largest: p * 4 / 4


# ----------------------------------------------------------------------------- 4. the verdict rules

VERDICT_CASES = {
    ("retrain", "hv"): {"gru4rec": spread(0.03, 0.0005), "sasrec": spread(-0.01, 0.0005)},  # opposite signs
    ("hypernetwork", "hv"): {"gru4rec": spread(0.02, 0.0005), "sasrec": spread(0.03, 0.0005)},  # higher HV
    ("interpolate", "hv"): {"gru4rec": spread(-0.02, 0.0005), "sasrec": spread(-0.03, 0.0005)},  # lower HV
    ("hypernetwork", "rel_gap_unseen"): {"gru4rec": spread(-0.02, 0.0005), "sasrec": spread(-0.03, 0.0005)},
    ("interpolate", "rel_gap_unseen"): {"gru4rec": spread(0.02, 0.0005), "sasrec": spread(0.03, 0.0005)},
    ("nearest", "hv"): {"gru4rec": spread(0.004, 0.001), "sasrec": spread(0.004, 0.001)},  # within 5%
    ("soup", "hv"): {"gru4rec": spread(0.02, 0.001), "sasrec": spread(0.02, 0.001)},  # beyond 1%
    ("nearest", "rel_gap_unseen"): {"gru4rec": spread(0.002, 0.01), "sasrec": spread(-0.0005, 0.01)},  # noisy
}
VERDICT_COMPARISONS = [
    Comparison("retrain", "hv"), Comparison("hypernetwork", "hv"), Comparison("interpolate", "hv"),
    Comparison("hypernetwork", "rel_gap_unseen"), Comparison("interpolate", "rel_gap_unseen"),
    Comparison("nearest", "hv", test="equivalence", margin=0.05),
    Comparison("soup", "hv", test="equivalence", margin=0.01),
    Comparison("nearest", "rel_gap_unseen"),
]


@pytest.fixture(scope="module")
def verdict_table() -> pd.DataFrame:
    table = verdicts.assess(paired_summaries(VERDICT_CASES), VERDICT_COMPARISONS, "primary")
    return table.set_index(["other", "metric"], drop=False)


def test_significant_but_opposite_signs_on_the_backbones_is_not_resolved(verdict_table) -> None:
    row = verdict_table.loc[("retrain", "hv")]
    assert row["effect"] == pytest.approx(0.01) and row["p_adjusted"] < 1e-4  # overall clearly significant
    assert row["gru4rec_effect"] > 0 > row["sasrec_effect"]
    assert row["verdict"] == "not resolved"
    assert row["why_not_resolved"] == "the backbones differ in sign"
    assert math.isnan(row["seeds_needed"])  # more seeds would not give one direction on both


@pytest.mark.parametrize("other, metric, expected", [
    ("hypernetwork", "hv", "better"),  # higher HV is better
    ("interpolate", "hv", "worse"),
    ("hypernetwork", "rel_gap_unseen", "better"),  # a lower gap is better
    ("interpolate", "rel_gap_unseen", "worse"),
])
def test_a_consistent_difference_reads_in_the_metrics_direction(verdict_table, other, metric, expected) -> None:
    row = verdict_table.loc[(other, metric)]
    assert row["p_adjusted"] < 0.05
    assert row["verdict"] == expected
    assert math.isnan(row["seeds_needed"]) and row["why_not_resolved"] == ""


def test_equivalence_within_the_margin_is_equivalent(verdict_table) -> None:
    row = verdict_table.loc[("nearest", "hv")]
    summaries = paired_summaries(VERDICT_CASES)
    margin = 0.05 * summaries.loc[summaries["method"] == "nearest", "hv"].mean()
    assert row["margin"] == pytest.approx(margin, rel=1e-12)
    assert row["p"] == pytest.approx(hand_tost(VERDICT_CASES[("nearest", "hv")], margin), rel=1e-6)
    assert row["verdict"] == "equivalent"
    assert math.isnan(row["seeds_needed"])


def test_equivalence_with_the_effect_beyond_the_margin_is_not_resolved_for_any_number_of_seeds(verdict_table) -> None:
    row = verdict_table.loc[("soup", "hv")]
    assert row["effect"] == pytest.approx(0.02) and row["effect"] > row["margin"]
    assert row["verdict"] == "not resolved"
    assert math.isinf(row["seeds_needed"]) and row["seeds_needed"] > 0
    assert row["why_not_resolved"] == "the effect is at or beyond the margin"


def test_a_noisy_difference_is_not_resolved_with_the_seeds_80_percent_power_needs(verdict_table) -> None:
    row = verdict_table.loc[("nearest", "rel_gap_unseen")]
    assert row["verdict"] == "not resolved" and row["why_not_resolved"] == "too few seeds"
    hand = hand_blocked(VERDICT_CASES[("nearest", "rel_gap_unseen")])
    # The Bonferroni level of the 8 testable primary comparisons; B * n differences as one one-sample t-test.
    total = tt_solve_power(effect_size=abs(hand["effect"]) / hand["sd"], alpha=0.05 / 8, power=0.8,
                           alternative="two-sided")
    assert row["seeds_needed"] == max(2, math.ceil(float(total) / 2))
    assert row["seeds_needed"] > 3 and float(row["seeds_needed"]).is_integer()


def test_only_not_resolved_rows_carry_seeds_needed(verdict_table) -> None:
    resolved = verdict_table["verdict"] != "not resolved"
    assert resolved.sum() == 5
    assert verdict_table.loc[resolved, "seeds_needed"].isna().all()
    for _, row in verdict_table[~resolved].iterrows():
        if row["why_not_resolved"] != "the backbones differ in sign":
            value = row["seeds_needed"]
            assert math.isinf(value) or (value > 0 and float(value).is_integer())


# ----------------------------------------------------------------------------- 5. the gap reference

W_ACC = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
UNSEEN_W = [0.2, 0.4, 0.6, 0.8]
NOISE_SEEDS = range(5)


def evaluation_rows(method: str, backbone: str, seed: int, ndcg, alpha) -> pd.DataFrame:
    """Long-format evaluation rows of one (backbone, method, seed), one sample, on the W_ACC grid."""
    w = np.array(W_ACC)
    return pd.DataFrame({"backbone": backbone, "method": method, "seed": seed, "sample": 0, "w_acc": w,
                         "w_div": 1 - w, "ndcg@10": ndcg, "alpha_ndcg@10": alpha})


def retrain_with_noise() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    w = np.array(W_ACC)
    frames = []
    for backbone, level in (("sasrec", 0.1), ("gru4rec", 0.15)):
        for seed in NOISE_SEEDS:
            frames.append(evaluation_rows("retrain", backbone, seed,
                                          level + 0.2 * w + rng.normal(0, 0.01, len(w)),
                                          0.7 - 0.15 * w + rng.normal(0, 0.01, len(w))))
    return pd.concat(frames, ignore_index=True)


def gap_by_hand(rows: pd.DataFrame, backbone: str, seed: int, reference_seeds) -> float:
    """Mean |m - ref| / ref over the unseen requirements and both metrics; ref: Retrain's mean over reference_seeds."""
    metrics = metrics_of(["acc", "div"])
    own = rows[(rows["backbone"] == backbone) & (rows["seed"] == seed)]
    reference = rows[(rows["backbone"] == backbone) & rows["seed"].isin(list(reference_seeds))]
    gaps = []
    for w in UNSEEN_W:
        for metric in metrics:
            value = own.loc[np.isclose(own["w_acc"], w), metric].mean()
            wanted = reference.loc[np.isclose(reference["w_acc"], w), metric].mean()
            gaps.append(abs(value - wanted) / wanted)
    return float(np.mean(gaps))


def test_a_copy_of_retrain_scores_retrains_own_noise_floor() -> None:
    assert metrics_of(["acc", "div"]) == ["ndcg@10", "alpha_ndcg@10"]
    retrain = retrain_with_noise()
    rows = pd.concat([retrain, retrain.assign(method="hypernetwork")], ignore_index=True)
    unseen = [requirements.key([w, 1 - w]) for w in UNSEEN_W]
    per_seed = summaries_module.seed_summaries(rows, unseen, (0.0, 0.0)).set_index(["backbone", "method", "seed"])
    gap = per_seed["rel_gap_unseen"]
    n = len(NOISE_SEEDS)
    new_floor, old_floor = [], []
    for backbone in ("sasrec", "gru4rec"):
        for seed in NOISE_SEEDS:
            own = gap[(backbone, "retrain", seed)]
            assert gap[(backbone, "hypernetwork", seed)] == pytest.approx(own, abs=1e-12)
            others = [s for s in NOISE_SEEDS if s != seed]
            assert own == pytest.approx(gap_by_hand(retrain, backbone, seed, others), rel=1e-9)
            assert own > 0
            new_floor.append(own)
            old_floor.append(gap_by_hand(retrain, backbone, seed, NOISE_SEEDS))  # the old all-seeds reference
    copy_mean = gap.xs("hypernetwork", level="method").mean()
    retrain_mean = gap.xs("retrain", level="method").mean()
    assert copy_mean / retrain_mean == pytest.approx(1.0, abs=1e-12)
    assert retrain_mean == pytest.approx(np.mean(new_floor), rel=1e-9)
    # The old reference (all seeds, seed s included) credits the copy with about (n - 1) / n = 0.8 of the floor.
    ratio = np.mean(old_floor) / copy_mean
    assert ratio == pytest.approx((n - 1) / n, abs=0.02)
    assert ratio < 0.85


# ----------------------------------------------------------------------------- 6. distinct comparisons

TRAINING_SIZE, SMALL_SIZE = 13, 5
TRAINING_GRID, SMALL_GRID = "13 adaptive", "5 listed"


def study_summaries() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Main summaries (padirec_noguidance an exact copy of padirec) and a density frame whose rows at the training
    grid size repeat the main summaries' padirec, interpolate and nearest values; those at SMALL_SIZE differ."""
    rng = np.random.default_rng(3)
    methods = ["padirec", "retrain", "interpolate", "nearest", "hypernetwork"]
    records = [{"backbone": name, "method": method, "seed": seed, "hv": 0.5 + rng.normal(0, 0.01),
                "rel_gap_unseen": 0.1 + rng.normal(0, 0.01), "rel_gap_near_ends": 0.12 + rng.normal(0, 0.01)}
               for name in BACKBONES for method in methods for seed in SEEDS]
    main = pd.DataFrame(records)
    main = pd.concat([main, main[main["method"] == "padirec"].assign(method="padirec_noguidance")], ignore_index=True)
    ablated = main[main["method"].isin(["padirec", "interpolate", "nearest"])][
        ["backbone", "method", "seed", "rel_gap_unseen", "hv"]]
    at_training = ablated.assign(grid_size=TRAINING_SIZE, grid=TRAINING_GRID)
    smaller = ablated.assign(grid_size=SMALL_SIZE, grid=SMALL_GRID, rel_gap_unseen=0.2 + rng.normal(0, 0.02, len(ablated)))
    return main, pd.concat([at_training, smaller], ignore_index=True)


STUDY_PRIMARY = [Comparison("retrain", "hv", test="equivalence", margin=0.01),
                 Comparison("hypernetwork", "rel_gap_unseen"),
                 Comparison("interpolate", "rel_gap_unseen"),
                 Comparison("padirec_noguidance", "rel_gap_unseen")]


def keys_of(table: pd.DataFrame) -> set:
    return {(row.method, row.other, row.metric, row.grid if isinstance(row.grid, str) else None,
             row.other_grid if isinstance(row.other_grid, str) else None) for row in table.itertuples()}


@pytest.fixture(scope="module")
def study_tables():
    main, density = study_summaries()
    return verdicts.verdict_tables(main, STUDY_PRIMARY, density)


def test_no_comparison_against_an_exact_copy(study_tables) -> None:
    primary, secondary = study_tables
    assert "padirec_noguidance" not in set(primary["other"])  # declared, but its differences are all zero
    assert "padirec_noguidance" not in set(secondary["other"])
    assert len(primary) == 3


def test_the_grid_density_comparison_at_the_training_size_is_not_repeated(study_tables) -> None:
    _, secondary = study_tables
    found = keys_of(secondary)
    # At the training grid's size the density rows are the main comparisons again: interpolate (primary) and
    # nearest (secondary, main summaries).
    assert ("padirec", "interpolate", "rel_gap_unseen", TRAINING_GRID, None) not in found
    assert ("padirec", "nearest", "rel_gap_unseen", TRAINING_GRID, None) not in found
    assert ("padirec", "nearest", "rel_gap_unseen", None, None) in found
    # On another grid the numbers differ: both are kept.
    assert ("padirec", "interpolate", "rel_gap_unseen", SMALL_GRID, None) in found
    assert ("padirec", "nearest", "rel_gap_unseen", SMALL_GRID, None) in found
    # Before and after: each method on the adaptive grid against itself on the listed one.
    for method in ("padirec", "interpolate", "nearest"):
        assert (method, method, "rel_gap_unseen", TRAINING_GRID, SMALL_GRID) in found
    row = secondary[(secondary["method"] == "padirec") & (secondary["other"] == "padirec")
                    & (secondary["metric"] == "rel_gap_unseen")].iloc[0]
    assert row["effect"] < 0 and row["comparison"] == (f"PaDiRec - PaDiRec, gap to Retrain at the unseen requirements, "
                                                       f"{TRAINING_GRID} against {SMALL_GRID} training grid")


def test_no_primary_comparison_reappears_in_the_secondary_table(study_tables) -> None:
    primary, secondary = study_tables
    primary_keys, secondary_keys = keys_of(primary), keys_of(secondary)
    assert primary_keys == {("padirec", "retrain", "hv", None, None),
                            ("padirec", "hypernetwork", "rel_gap_unseen", None, None),
                            ("padirec", "interpolate", "rel_gap_unseen", None, None)}
    assert not primary_keys & secondary_keys  # the equivalence on HV keeps its difference test out too
    assert len(secondary_keys) == len(secondary)
    # The rest: retrain, interpolate, nearest, hypernetwork on 3 metrics (less the 3 primary), 2 on SMALL_GRID, and
    # PaDiRec, Interpolate and Nearest on the training grid against SMALL_GRID on the gap (their HV is the same on
    # both grids here, so those comparisons are dropped as all-zero).
    assert len(secondary) == 4 * 3 - 3 + 2 + 3
    assert set(secondary["family"]) == {"secondary"} and set(primary["family"]) == {"primary"}


# ----------------------------------------------------------------------------- 7. params.yaml checks


@pytest.fixture(scope="module")
def repository_params() -> dict:
    return yaml.safe_load((paths.repo_root(__file__) / "params.yaml").read_text(encoding="utf-8"))


def primary_problems(params: dict, primary: list[dict]) -> str:
    """The ConfigError message of the repository params with the paper study's primary replaced."""
    raw = copy.deepcopy(params)
    raw["studies"]["paper"]["primary"] = primary
    with pytest.raises(config.ConfigError) as error:
        config.config_from_dict(raw, source="params.yaml", complete=True)
    return str(error.value)


def test_the_repository_params_are_valid_as_they_stand(repository_params) -> None:
    built = config.config_from_dict(copy.deepcopy(repository_params), complete=True)
    assert 0 < len(built.study("paper").primary) <= MAX_PRIMARY


def test_an_unknown_method_names_its_key(repository_params) -> None:
    message = primary_problems(repository_params, [{"other": "oracle", "metric": "hv"},
                                                   {"other": "retrain", "metric": "hv", "method": "padirec2"}])
    assert "params.yaml has 2 problem(s)" in message
    assert "studies.paper.primary[0].other = 'oracle': not a registered method" in message
    assert "studies.paper.primary[1].method = 'padirec2': not a registered method" in message


def test_an_unknown_metric_names_its_key(repository_params) -> None:
    message = primary_problems(repository_params, [{"other": "retrain", "metric": "ndcg@10"}])
    assert "studies.paper.primary[0].metric = 'ndcg@10': give one of hv, rel_gap_unseen" in message


def test_an_equivalence_without_a_positive_margin_names_its_key(repository_params) -> None:
    message = primary_problems(repository_params, [{"other": "retrain", "metric": "hv", "test": "equivalence"},
                                                   {"other": "nearest", "metric": "hv", "test": "equivalence",
                                                    "margin": -0.01}])
    assert "studies.paper.primary[0].margin = 0.0: an equivalence test needs a positive margin" in message
    assert "studies.paper.primary[1].margin = -0.01: an equivalence test needs a positive margin" in message


def test_more_than_eight_comparisons_are_refused(repository_params) -> None:
    nine = [{"other": other, "metric": metric} for other in ("retrain", "hypernetwork", "interpolate")
            for metric in ("hv", "rel_gap_unseen", "rel_gap_near_ends")]
    message = primary_problems(repository_params, nine)
    assert "params.yaml has 1 problem(s)" in message
    assert f"studies.paper.primary has 9 comparisons: declare at most {MAX_PRIMARY}" in message
    raw = copy.deepcopy(repository_params)
    raw["studies"]["paper"]["primary"] = nine[:MAX_PRIMARY]
    assert len(config.config_from_dict(raw, complete=True).study("paper").primary) == 8


def test_a_comparison_declared_twice_is_refused_whatever_its_test(repository_params) -> None:
    message = primary_problems(repository_params, [
        {"other": "retrain", "metric": "hv"},
        {"other": "retrain", "metric": "hv", "test": "equivalence", "margin": 0.01}])
    assert "studies.paper.primary lists a comparison twice" in message


def test_a_grid_no_generator_trains_on_is_refused(repository_params) -> None:
    # The paper's generator trains on 10 grid requirements + 3 adaptive ones, and it has no ablation grid.
    message = primary_problems(repository_params, [{"other": "interpolate", "metric": "rel_gap_unseen",
                                                    "grid": "7 listed"}])
    assert ("studies.paper.primary[0].grid = '7 listed': no generator of this study trains on that grid; give one of "
            "'13 adaptive'") in message
    message = primary_problems(repository_params, [{"other": "padirec", "metric": "rel_gap_unseen",
                                                    "other_grid": "13 adaptive"}])
    assert "studies.paper.primary[0].other_grid = '13 adaptive': give `grid` too" in message
    raw = copy.deepcopy(repository_params)
    raw["studies"]["paper"]["primary"] = [{"other": "interpolate", "metric": "rel_gap_unseen", "grid": "13 adaptive"}]
    assert config.config_from_dict(raw, complete=True).study("paper").primary[0].grid == "13 adaptive"


def test_the_optional_keys_may_be_left_out_of_a_complete_file(repository_params) -> None:
    raw = copy.deepcopy(repository_params)
    raw["studies"]["paper"]["primary"] = [{"other": "hypernetwork", "metric": "rel_gap_unseen"}]
    (comparison,) = config.config_from_dict(raw, complete=True).study("paper").primary
    assert comparison == Comparison(other="hypernetwork", metric="rel_gap_unseen", test="difference", margin=0.0,
                                    margin_of="", method="padirec", grid=None, other_grid=None)
    assert set(Comparison.OPTIONAL) == {"test", "margin", "margin_of", "method", "grid", "other_grid"}
    # `other` and `metric` are not optional.
    message = primary_problems(repository_params, [{"other": "hypernetwork"}])
    assert "studies.paper.primary[0] lacks the key(s) metric" in message


# ----------------------------------------------------------------------------- 8. in words


def number(value: float) -> str:
    """The 4-decimal form sentences use for values of at least 1e-3."""
    assert abs(value) >= 1e-3
    return f"{value:.4f}"


def test_an_equivalence_finding_in_words(verdict_table) -> None:
    row = verdict_table.loc[("nearest", "hv")]
    text = verdicts.sentence(row, list(BACKBONES))
    assert text.startswith("- **PaDiRec is equivalent to Nearest** on the hypervolume: ")
    assert f"90% CI [{number(row['ci90_low'])}, {number(row['ci90_high'])}]" in text
    assert f"against the margin ±{number(row['margin'])}" in text
    assert "±0.0253" in text  # 0.05 of Nearest's mean HV, 0.51 - 0.004 = 0.506
    assert "level with" not in text


def test_a_not_resolved_difference_in_words(verdict_table) -> None:
    row = verdict_table.loc[("nearest", "rel_gap_unseen")]
    text = verdicts.sentence(row, list(BACKBONES))
    assert text.startswith("- Not resolved (a difference): PaDiRec against Nearest on the gap to Retrain at the "
                           "unseen requirements: ")
    assert f"about {int(row['seeds_needed'])} seeds per backbone would give 80% power at this effect" in text
    beyond = verdicts.sentence(verdict_table.loc[("soup", "hv")], list(BACKBONES))
    assert beyond.startswith("- Not resolved (equivalence)") and "more seeds would not settle it" in beyond


def test_findings_markdown_lists_the_family_and_counts_the_rest(verdict_table) -> None:
    summaries = paired_summaries(VERDICT_CASES)
    secondary = verdicts.assess(summaries, VERDICT_COMPARISONS, "secondary")
    text = verdicts.findings_markdown(verdict_table.reset_index(drop=True), secondary, list(BACKBONES), seeds=3)
    assert text.startswith("Primary comparisons (declared in params.yaml; 8 of them, Holm-adjusted; blocked by "
                           "backbone, 3 seeds each;")
    assert text.count("\n- ") == 8 + (secondary["verdict"] != "not resolved").sum()
    rest = int((secondary["verdict"] == "not resolved").sum())
    assert rest == 3 and f"{rest} further secondary comparisons are not resolved" in text
    assert "Secondary findings (Benjamini-Hochberg over 8 further comparisons" in text
    assert "level with" not in text
    for _, row in verdict_table.iterrows():
        assert "level with" not in verdicts.sentence(row, list(BACKBONES))


def test_compact_shows_seeds_needed_only_where_not_resolved(verdict_table) -> None:
    table = verdicts.compact(verdict_table.reset_index(drop=True)).set_index("comparison")
    seeds = dict(zip(verdict_table["comparison"], verdict_table["seeds_needed"]))
    for name, row in table.iterrows():
        verdict = verdict_table.set_index("comparison").loc[name, "verdict"]
        if verdict != "not resolved":
            assert row["seeds needed"] == ""
        elif math.isinf(seeds[name]):
            assert row["seeds needed"] == "never"
        elif not math.isnan(seeds[name]):
            assert row["seeds needed"] == str(int(seeds[name]))
    assert table.loc[verdicts.comparison_name(Comparison("nearest", "hv")), "test"] == "equivalence ±0.0253"


def test_a_method_that_does_not_serve_the_study_names_its_key(repository_params) -> None:
    # MMR re-ranks for (acc, div) only: declared in the three-objective study it could never be compared.
    raw = copy.deepcopy(repository_params)
    raw["studies"]["acc_div_tail"]["primary"] = [{"other": "mmr", "metric": "hv"}]
    with pytest.raises(config.ConfigError) as error:
        config.config_from_dict(raw, source="params.yaml", complete=True)
    assert "studies.acc_div_tail.primary[0].other = 'mmr': that method does not serve a study of acc, div, tail" \
        in str(error.value)
    raw["studies"]["paper"]["primary"] = [{"other": "mmr", "metric": "hv"}]
    raw["studies"]["acc_div_tail"]["primary"] = []
    assert config.config_from_dict(raw, complete=True).study("paper").primary[0].other == "mmr"


def test_a_comparison_with_no_pairs_is_not_resolved_rather_than_an_error() -> None:
    frame = pd.DataFrame({"backbone": ["b"], "seed": [0], "method": ["padirec"], "hv": [0.5]})
    table = verdicts.assess(frame, [Comparison("retrain", "hv")], "primary")
    assert table.loc[0, "verdict"] == "not resolved"
    assert math.isnan(table.loc[0, "effect"])


def test_a_study_may_skip_registered_methods_but_not_the_reference_nor_one_it_compares(repository_params) -> None:
    from padirec.methods.registry import METHODS, methods_for

    paper = config.config_from_dict(copy.deepcopy(repository_params), complete=True).study("paper")
    assert "padirec_loss" in paper.skip_methods and not paper.serves(METHODS["padirec_loss"])
    assert "padirec_loss" not in [m.name for m in methods_for(paper.objectives, paper.skip_methods)]
    assert "padirec_loss" in [m.name for m in methods_for(paper.objectives)]
    raw = copy.deepcopy(repository_params)
    raw["studies"]["paper"]["skip_methods"] = ["retrain", "hypernetwork"]  # hypernetwork is in the primary family
    with pytest.raises(config.ConfigError) as error:
        config.config_from_dict(raw, source="params.yaml", complete=True)
    assert "studies.paper.skip_methods lists 'retrain': not a registered method that can be left out" in str(error.value)
    assert "studies.paper.primary[3].other = 'hypernetwork': studies.paper.skip_methods leaves that method out" \
        in str(error.value)
    del raw["studies"]["paper"]["skip_methods"]  # optional: every method that serves the objectives
    assert config.config_from_dict(raw, complete=True).study("paper").skip_methods == []


def test_a_training_grid_comparison_names_methods_with_rows_per_grid(repository_params) -> None:
    message = primary_problems(repository_params, [{"method": "hypernetwork", "other": "retrain", "metric": "hv",
                                                    "grid": "13 adaptive"}])
    assert ("studies.paper.primary[0]: only padirec, interpolate, nearest have rows per training grid; compare those, "
            "or drop grid and other_grid to compare on the main table.") in message
