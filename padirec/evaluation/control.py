"""How well the metrics follow the requested weights: per-requirement means and signed correlations."""
from __future__ import annotations

import warnings

import pandas as pd
from scipy import stats

from padirec.objectives.registry import OBJECTIVES


def requirement_means(rows: pd.DataFrame) -> pd.DataFrame:
    """Metrics averaged over seeds and samples, one row per requirement, ordered by the weights."""
    numeric = [c for c in rows.columns if "@" in c]
    weights = [c for c in rows.columns if c.startswith("w_")]
    return rows.groupby(weights)[numeric].mean().reset_index().sort_values(weights)


def signed_correlations(means: pd.DataFrame, objectives, prefix: str = "") -> dict[str, float]:
    """Pearson and Spearman r of each objective's weight against its metric over per-requirement `means`, signed so
    that +1 is perfect control (a lower-is-better metric is negated); `prefix` picks the protocol ("full_")."""
    found = {}
    with warnings.catch_warnings():  # a constant metric has no correlation: NaN, which the tables show as such
        warnings.simplefilter("ignore", stats.ConstantInputWarning)
        for name, correlate in (("pearson", stats.pearsonr), ("spearman", stats.spearmanr)):
            for objective in objectives:
                sign = 1.0 if OBJECTIVES[objective].higher_is_better else -1.0
                metric = means[prefix + OBJECTIVES[objective].metric]
                found[f"{name}_{objective}"] = float(correlate(means[f"w_{objective}"], sign * metric).statistic)
    return found
