"""PaDiRec's own way to serve a requirement: sample adapters from the trained generator."""
from __future__ import annotations

import numpy as np
import torch

from padirec.training.generators import Generator


def generate(generator: Generator, weights: np.ndarray, guidance: float, seeds: list[int],
             steps: int | None = None) -> torch.Tensor:
    """Generated adapters [len(seeds), N, P] for requirements [N, K]: sample i drawn with sampling seed seeds[i]."""
    return torch.stack([generator.generate(weights, guidance=guidance, steps=steps, seed=seed) for seed in seeds])
