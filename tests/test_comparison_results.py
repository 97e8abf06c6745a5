"""The evaluation's results file (padirec.comparison.results): one method's metrics.json entry on hand-made rows."""
from __future__ import annotations

import pandas as pd
import pytest

from comparison_rows import rows
from padirec.comparison import results
from padirec.comparison.summaries import summary_columns


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
    entry = results.method_summary(rows_, summaries, "b", "padirec")
    assert set(entry) == {"grid", *summary_columns(summaries.columns), "std", "seeds"}
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
