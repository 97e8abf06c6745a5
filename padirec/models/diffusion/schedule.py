"""The noise schedule of the forward process: betas and cumulative alphas (linear as in PaDiRec, or cosine),
and the conversions between x0, noise, v and the model output."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["NoiseSchedule", "SCHEDULE_KINDS", "PREDICTIONS"]

SCHEDULE_KINDS = ("linear", "cosine")
PREDICTIONS = ("v", "epsilon")


@dataclass
class NoiseSchedule:
    """Noise levels of the forward process q(x_t | x0) = N(sqrt(acp_t) x0, (1 - acp_t) I).

    Tensors are computed in float64 and stored as float32 on the CPU; they are moved to the
    device of the inputs on use. x0 is never clamped: parameter vectors are not images in
    [-1, 1].
    """

    betas: Tensor  # [steps]
    alphas_cumprod: Tensor  # [steps]

    @classmethod
    def create(
        cls,
        steps: int = 500,
        kind: str = "linear",
        beta_start: float = 1e-5,
        beta_end: float = 0.02,
    ) -> NoiseSchedule:
        """Linear betas (beta_start..beta_end, as PaDiRec) or the cosine schedule.

        The cosine schedule (Nichol & Dhariwal 2021, offset s = 0.008) ignores beta_start and
        beta_end; its betas are clipped to 0.999 so the last step stays invertible.
        """
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if kind == "linear":
            betas = torch.linspace(beta_start, beta_end, steps, dtype=torch.float64)
        elif kind == "cosine":
            s = 0.008
            grid = torch.linspace(0, steps, steps + 1, dtype=torch.float64) / steps
            alpha_bar = torch.cos((grid + s) / (1 + s) * math.pi / 2) ** 2
            betas = (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=0.999)
        else:
            raise ValueError(f"unknown schedule kind {kind!r}; allowed: {', '.join(SCHEDULE_KINDS)}")
        alphas_cumprod = torch.cumprod(1 - betas, dim=0)
        return cls(betas=betas.float(), alphas_cumprod=alphas_cumprod.float())

    @property
    def steps(self) -> int:
        return self.betas.shape[0]

    def _at(self, values: Tensor, t: Tensor, like: Tensor) -> Tensor:
        """values[t] on like's device and dtype, shaped to broadcast over like ([B, 1, ...])."""
        out = values.to(like.device)[t.to(like.device)].to(like.dtype)
        return out.reshape(-1, *([1] * (like.dim() - 1)))

    def add_noise(self, x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
        """x_t = sqrt(acp_t) * x0 + sqrt(1 - acp_t) * noise."""
        acp = self._at(self.alphas_cumprod, t, x0)
        return acp.sqrt() * x0 + (1 - acp).sqrt() * noise

    def velocity(self, x0: Tensor, noise: Tensor, t: Tensor) -> Tensor:
        """v = sqrt(acp_t) * noise - sqrt(1 - acp_t) * x0 (Salimans & Ho 2022)."""
        acp = self._at(self.alphas_cumprod, t, x0)
        return acp.sqrt() * noise - (1 - acp).sqrt() * x0

    def to_x0_eps(
        self, x_t: Tensor, t: Tensor, output: Tensor, prediction: str
    ) -> tuple[Tensor, Tensor]:
        """(x0_hat, eps_hat) implied by a model output that predicts "v" or "epsilon"."""
        acp = self._at(self.alphas_cumprod, t, x_t)
        a, s = acp.sqrt(), (1 - acp).sqrt()
        if prediction == "v":
            return a * x_t - s * output, s * x_t + a * output
        if prediction == "epsilon":
            return (x_t - s * output) / a, output
        raise ValueError(f"unknown prediction {prediction!r}; allowed: {', '.join(PREDICTIONS)}")
