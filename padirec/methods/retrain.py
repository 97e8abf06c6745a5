"""Retrain, the reference: an adapter tuned directly at each requested requirement, as the sweep tunes its grid."""
from __future__ import annotations

import numpy as np

from padirec.pipeline.sections import SweepConfig
from padirec.training.adapters import SweepRun, TuningSet, tune_adapters


def retrain(tuning: TuningSet, weights: np.ndarray, sweep: SweepConfig, seed: int, objectives: list[str]) -> SweepRun:
    """Adapters tuned at every requirement of `weights` [N, K], as one stack; the last epoch's serve."""
    return tune_adapters(tuning, weights, sweep, seed, list(objectives), progress=False)
