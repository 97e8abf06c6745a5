"""Hand-made long-format evaluation rows shared by the tests of padirec.comparison (summaries, tables, run, results)."""
from __future__ import annotations

import numpy as np
import pandas as pd

W_ACC = [0.0, 0.5, 1.0]
# The requirement keys (padirec.objectives.requirements.key) of the grid's points, by their w_acc.
AT = {w: (w, 1 - w) for w in W_ACC}


def rows(ndcg, alpha, method="retrain", seed=0, backbone="b", sample=0, **extra) -> pd.DataFrame:
    """Long-format rows of one (backbone, method, seed, sample) on the grid w_acc = 0, 0.5, 1."""
    w = np.array(W_ACC)
    return pd.DataFrame({"backbone": backbone, "method": method, "seed": seed, "sample": sample, "w_acc": w,
                         "w_div": 1 - w, "ndcg@10": ndcg, "alpha_ndcg@10": alpha, **extra})
