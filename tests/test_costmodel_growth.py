"""padirec.perf.costmodel's growth of a stage between two data sets, and the MovieLens-1M prediction in docs/data.md."""
from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from padirec.perf import costmodel


def power_law_fits(slopes: dict[tuple[str, str], float]) -> pd.DataFrame:
    x = np.array([1e3, 1e4, 1e5])
    return costmodel.fit(pd.concat([pd.DataFrame({"quantity": quantity, "driver": driver, "x": x, "seconds": 3e-4 * x ** slope})
                                    for (quantity, driver), slope in slopes.items()]))


def test_growth_is_the_size_ratio_to_the_fitted_slope():
    fits = power_law_fits({("q", "d"): 1.5})
    assert costmodel.growth(fits, "q", "d", 100, 400) == pytest.approx(8.0)
    assert costmodel.growth(fits, "q", "d", 400, 100) == pytest.approx(1 / 8.0)


def test_each_stage_grows_with_its_pieces():
    fits = power_law_fits({("backbone epoch", "interactions"): 1.0, ("sweep per requirement", "interactions"): 2.0,
                           ("full-ranking evaluation per adapter", "users x items"): 1.0})
    source = {"users": 10, "items": 10, "interactions": 1_000}
    target = {"users": 20, "items": 50, "interactions": 3_000}  # 3 times the interactions, 10 times users x items
    found = costmodel.stage_growth(fits, source, target)
    assert found["backbone"] == pytest.approx((3.0, 3.0))
    assert found["sweep"] == pytest.approx((9.0, 9.0))
    assert found["diffusion"] == (1.0, 1.0)  # the generators do not see the data
    assert found["evaluate"] == pytest.approx((9.0, 10.0))  # between Retrain's and full ranking's growth


def test_the_movielens_1m_prediction_in_the_docs_is_the_committed_fits(repo):
    fits = costmodel.load_fits(repo / "figures" / "scaling.json")
    ml100k = json.loads((repo / "figures" / "data_stats.json").read_text())
    found = costmodel.stage_growth(fits, ml100k, costmodel.MOVIELENS_1M_ESTIMATE)
    page = (repo / "docs" / "data.md").read_text(encoding="utf-8")
    table = {row.split("|")[1].strip(): row.split("|")[4].strip() for row in page.splitlines()
             if re.match(r"^\| (prepare|backbone|sweep|diffusion|evaluate)", row)}
    assert table["backbone"] == f"{found['backbone'][0]:.1f}"
    assert table["sweep, `paper`"] == table["sweep, `acc_div_tail`"] == f"{found['sweep'][0]:.1f}"
    assert table["diffusion, `paper`"] == "1" and found["diffusion"] == (1.0, 1.0)
    low, high = found["evaluate"]
    assert table["evaluate, `paper`"] == f"{low:.1f} to {high:.1f}"
    assert "PREDICTED on MovieLens-1M" in page and "no GPU measurement" in page
