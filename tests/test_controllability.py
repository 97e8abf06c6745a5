"""The controllability check of candidate objectives (padirec.comparison.controllability): its tables (the simplex
lattice it tunes: test_requirements.py)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from padirec.comparison import controllability
from padirec.objectives import requirements


def lattice_rows(third: str, metric: str, slope: float, grouping: str = "gender") -> pd.DataFrame:
    """Every lattice requirement, two seeds; NDCG follows w_acc, alpha-NDCG w_div, the third metric slope * w_third."""
    lattice = requirements.lattice(3, 4)
    frames = []
    for seed in (0, 1):
        frames.append(pd.DataFrame({"grouping": grouping, "backbone": "sasrec", "third": third, "seed": seed,
                                    "w_acc": lattice[:, 0], "w_div": lattice[:, 1], "w_third": lattice[:, 2],
                                    "ndcg@10": 0.1 + 0.2 * lattice[:, 0], "alpha_ndcg@10": 0.5 + 0.2 * lattice[:, 1],
                                    metric: 0.05 + slope * lattice[:, 2] + 0.001 * seed}))
    return pd.concat(frames, ignore_index=True)


def test_control_table_signs_r_so_that_plus_one_is_perfect_control():
    rows = pd.concat([lattice_rows("tail", "aplt@10", 0.5),  # higher is better, rises with its weight: +1
                      lattice_rows("fair", "fair_gap@10", 0.05),  # lower is better, rises with its weight: -1
                      lattice_rows("fair_gap", "fair_gap@10", -0.04)], ignore_index=True)  # falls: +1
    rows["fair_gap@10"] = rows["fair_gap@10"].fillna(0.0)
    rows["aplt@10"] = rows["aplt@10"].fillna(0.5)
    table = controllability.control_table(rows)
    assert table.loc[("gender", "sasrec", "tail"), "pearson_third"] == pytest.approx(1.0)
    assert table.loc[("gender", "sasrec", "fair"), "pearson_third"] == pytest.approx(-1.0)
    assert table.loc[("gender", "sasrec", "fair_gap"), "pearson_third"] == pytest.approx(1.0)
    assert table.loc[("gender", "sasrec", "tail"), "pearson_acc"] == pytest.approx(1.0)
    assert table.loc[("gender", "sasrec", "tail"), "max"] == pytest.approx(0.05 + 0.5 + 0.0005)
    # seed means: 0.05 + 0.0005 ... 0.55 + 0.0005; seed-to-seed std of two values 0.001 apart: 0.001 / sqrt(2)
    assert table.loc[("gender", "sasrec", "tail"), "seed_std"] == pytest.approx(0.001 / np.sqrt(2))
