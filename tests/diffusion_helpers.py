"""Small denoisers, inputs and an exact Gaussian denoiser shared by the diffusion tests."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from padirec.models.diffusion.denoiser import ParameterDenoiser
from padirec.models.diffusion.schedule import NoiseSchedule

P, K = 21, 2  # 21 is not a multiple of token_size 8: exercises padding/truncation


def tiny_denoiser(n_params: int = P, cond_dim: int = K, seed: int = 0) -> ParameterDenoiser:
    torch.manual_seed(seed)
    return ParameterDenoiser(n_params, cond_dim, token_size=8, d_model=32, layers=1, heads=4)


def perturb_modulation(model: ParameterDenoiser, seed: int = 1) -> ParameterDenoiser:
    """Give the zero-initialised adaLN layers random weights so time/cond/attention matter."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in model.blocks:
            linear = block.modulation[-1]
            linear.weight.copy_(torch.randn(linear.weight.shape, generator=g) * 0.3)
            linear.bias.copy_(torch.randn(linear.bias.shape, generator=g) * 0.3)
        model.null_cond.copy_(torch.randn(model.null_cond.shape, generator=g))
    return model


def inputs(batch: int = 3, n_params: int = P, steps: int = 20, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, n_params, generator=g)
    t = torch.randint(0, steps, (batch,), generator=g)
    w = torch.rand(batch, generator=g)
    return x, t, torch.stack([w, 1 - w], dim=1)


class GaussianOracle(nn.Module):
    """Exact denoiser for data x0 ~ N(mu, std^2 I): E[x0 | x_t] in closed form, as v or eps."""

    def __init__(self, schedule: NoiseSchedule, mu: Tensor, std: float, prediction: str):
        super().__init__()
        self.schedule, self.mu, self.std, self.prediction = schedule, mu, std, prediction
        self.n_params = mu.shape[0]

    def forward(self, x_t, t, cond, cond_mask=None):
        acp = self.schedule.alphas_cumprod[t][:, None].double()
        a, s = acp.sqrt(), (1 - acp).sqrt()
        x_t = x_t.double()
        x0 = self.mu + a * self.std**2 / (acp * self.std**2 + s**2) * (x_t - a * self.mu)
        eps = (x_t - a * x0) / s
        return (a * eps - s * x0 if self.prediction == "v" else eps).float()
