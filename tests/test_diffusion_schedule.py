"""Checks of the noise schedule: linear and cosine betas, and the x0 / noise / v algebra."""

from __future__ import annotations

import math

import pytest
import torch

from diffusion_helpers import tiny_denoiser
from padirec.models.diffusion.model import Diffusion
from padirec.models.diffusion.schedule import NoiseSchedule


def test_linear_schedule_shapes_endpoints_and_cumprod():
    s = NoiseSchedule.create(steps=50, kind="linear", beta_start=1e-4, beta_end=0.02)
    assert s.betas.shape == s.alphas_cumprod.shape == (50,)
    assert s.betas.dtype == s.alphas_cumprod.dtype == torch.float32
    assert s.steps == 50
    assert s.betas[0].item() == pytest.approx(1e-4, rel=1e-6)
    assert s.betas[-1].item() == pytest.approx(0.02, rel=1e-6)
    assert torch.all(torch.diff(s.alphas_cumprod) < 0)
    expected = math.prod(1 - (1e-4 + i * (0.02 - 1e-4) / 49) for i in range(50))
    assert s.alphas_cumprod[-1].item() == pytest.approx(expected, rel=1e-5)


def test_cosine_schedule_matches_closed_form_and_is_clipped():
    steps, off = 40, 0.008
    s = NoiseSchedule.create(steps=steps, kind="cosine")
    f = [math.cos((i / steps + off) / (1 + off) * math.pi / 2) ** 2 for i in range(steps + 1)]
    for t in range(steps - 1):  # last step is affected by the 0.999 clip
        assert s.alphas_cumprod[t].item() == pytest.approx(f[t + 1] / f[0], rel=1e-5)
    assert s.betas.max().item() <= 0.999 + 1e-7
    assert s.betas[-1].item() == pytest.approx(0.999)
    assert torch.all(torch.diff(s.alphas_cumprod) < 0)


def test_unknown_schedule_kind_names_the_allowed_ones():
    with pytest.raises(ValueError, match="linear.*cosine"):
        NoiseSchedule.create(kind="quadratic")


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("prediction", ["v", "epsilon"])
def test_true_targets_give_back_x0_and_noise(kind, prediction):
    s = NoiseSchedule.create(steps=30, kind=kind, beta_end=0.2)
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(30, 7, generator=g), torch.randn(30, 7, generator=g)
    t = torch.arange(30)
    acp = s.alphas_cumprod[:, None]
    x_t = s.add_noise(x0, noise, t)
    torch.testing.assert_close(x_t, acp.sqrt() * x0 + (1 - acp).sqrt() * noise)
    target = s.velocity(x0, noise, t) if prediction == "v" else noise
    if prediction == "v":
        torch.testing.assert_close(target, acp.sqrt() * noise - (1 - acp).sqrt() * x0)
    x0_hat, eps_hat = s.to_x0_eps(x_t, t, target, prediction)
    # epsilon-prediction divides by sqrt(acp), which is small at the last cosine steps
    tol = 1e-5 if prediction == "v" else 2e-3
    torch.testing.assert_close(x0_hat, x0, atol=tol, rtol=0)
    torch.testing.assert_close(eps_hat, noise, atol=1e-5, rtol=0)


def test_unknown_prediction_raises():
    s = NoiseSchedule.create(steps=10)
    x = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="prediction"):
        s.to_x0_eps(x, torch.zeros(2, dtype=torch.long), x, "x0")
    with pytest.raises(ValueError, match="prediction"):
        Diffusion(tiny_denoiser(), s, prediction="sample")
