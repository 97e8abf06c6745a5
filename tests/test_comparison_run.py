"""The evaluation run (padirec.comparison.run): the choice of guidance scale on hand-made validation rows."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from comparison_rows import AT, rows
from padirec.comparison import run


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
    chosen, table = run.choose_guidance(pd.concat(frames, ignore_index=True), [AT[0.5]])
    assert chosen == 1.0
    assert table["mean"].tolist() == pytest.approx([0.175, 0.05, 0.125])
    assert table["std"].tolist() == pytest.approx([0.15 / math.sqrt(2), 0.0, 0.25 / math.sqrt(2)])
    assert table.index.tolist() == [0.0, 1.0, 2.0]
