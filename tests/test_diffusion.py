"""Checks of the diffusion model: guidance, sampling (with trained-like and exact denoisers), the
training loss and the EMA."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from diffusion_helpers import K, P, GaussianOracle, inputs, perturb_modulation, tiny_denoiser
from padirec.models.diffusion.model import EMA, Diffusion
from padirec.models.diffusion.schedule import NoiseSchedule


# ----------------------------------------------------------------------------- guidance


class CountCalls:
    def __init__(self, module: nn.Module):
        self.batches: list[int] = []
        module.register_forward_hook(lambda m, args, out: self.batches.append(args[0].shape[0]))


@pytest.fixture
def guided():
    model = perturb_modulation(tiny_denoiser())
    diffusion = Diffusion(model, NoiseSchedule.create(steps=20))
    x, t, c = inputs(batch=3)
    cond_out = model(x, t, c, torch.zeros(3, dtype=torch.bool))
    uncond_out = model(x, t, c, torch.ones(3, dtype=torch.bool))
    assert not torch.allclose(cond_out, uncond_out)
    return diffusion, x, t, c, cond_out, uncond_out


@pytest.mark.parametrize(("scale", "batch_seen"), [(1.0, 3), (0.0, 3), (2.0, 6), (-0.5, 6)])
def test_guided_output_is_u_plus_s_times_c_minus_u(guided, scale, batch_seen):
    diffusion, x, t, c, cond_out, uncond_out = guided
    calls = CountCalls(diffusion.denoiser)
    out = diffusion.guided_output(x, t, c, scale)
    assert calls.batches == [batch_seen]  # one forward; doubled batch only when needed
    torch.testing.assert_close(out, uncond_out + scale * (cond_out - uncond_out), atol=1e-5, rtol=1e-5)


def test_guidance_shortcuts_equal_the_batched_formula(guided):
    diffusion, x, t, c, *_ = guided
    for s in (0.0, 1.0):
        full = diffusion.guided_output(x, t, c, s + 1e-12)  # not equal to s: batched path
        torch.testing.assert_close(diffusion.guided_output(x, t, c, s), full, atol=1e-5, rtol=1e-5)


# ----------------------------------------------------------------------------- sampling


@pytest.fixture
def sampling_diffusion():
    return Diffusion(perturb_modulation(tiny_denoiser()), NoiseSchedule.create(steps=20)).eval()


def test_sample_shapes_determinism_and_seeds(sampling_diffusion):
    d = sampling_diffusion
    cond = torch.tensor([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    for sampler in ("ddim", "ddpm"):
        a = d.sample(cond, sampler=sampler, generator=torch.Generator().manual_seed(3))
        b = d.sample(cond, sampler=sampler, generator=torch.Generator().manual_seed(3))
        c = d.sample(cond, sampler=sampler, generator=torch.Generator().manual_seed(4))
        assert a.shape == (3, P) and torch.isfinite(a).all()
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        assert not torch.allclose(a, c)
    full = d.sample(cond, steps=20, guidance_scale=2.0, generator=torch.Generator().manual_seed(3))
    assert full.shape == (3, P) and torch.isfinite(full).all()
    stochastic = d.sample(cond, steps=5, eta=1.0, generator=torch.Generator().manual_seed(3))
    assert torch.isfinite(stochastic).all()


def test_sampler_argument_errors(sampling_diffusion):
    cond = torch.zeros(1, K)
    with pytest.raises(ValueError, match="sampler"):
        sampling_diffusion.sample(cond, sampler="euler")
    with pytest.raises(ValueError, match="ddpm"):
        sampling_diffusion.sample(cond, sampler="ddpm", steps=10)
    with pytest.raises(ValueError, match="eta"):
        sampling_diffusion.sample(cond, sampler="ddpm", eta=0.5)
    sampling_diffusion.sample(cond, sampler="ddpm", steps=20)  # the schedule length is fine



@pytest.mark.parametrize("prediction", ["v", "epsilon"])
@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_samplers_with_exact_denoiser_reproduce_the_data_distribution(prediction, sampler):
    # Fine steps (DDIM visits every step): coarse DDIM and the "fixed small" DDPM variance
    # both shrink the spread by discretisation error (std 0.39 at 10 DDIM steps, 0.44 for
    # DDPM with 50 steps), which vanishes as the step count grows.
    schedule = NoiseSchedule.create(steps=300, kind="linear", beta_start=1e-4, beta_end=0.05)
    mu = torch.linspace(-2, 3, 4).double()
    diffusion = Diffusion(GaussianOracle(schedule, mu, 0.5, prediction), schedule, prediction)
    steps = 300 if sampler == "ddim" else None
    x = diffusion.sample(
        torch.zeros(3000, K), sampler=sampler, steps=steps, generator=torch.Generator().manual_seed(0)
    )
    torch.testing.assert_close(x.mean(0).double(), mu, atol=0.04, rtol=0)
    torch.testing.assert_close(x.std(0).double(), torch.full((4,), 0.5).double(), atol=0.04, rtol=0)


def test_ddpm_spread_matches_the_linear_gaussian_recursion():
    # With a Gaussian oracle each DDPM step is x_{t-1} = A_t x_t + const + sigma_t z, so the
    # sample variance follows Var_{t-1} = A_t^2 Var_t + sigma_t^2 (Ho et al. 2020, eq. 7, with
    # the posterior variance sigma_t^2 = beta_t (1 - acp_{t-1}) / (1 - acp_t)).
    schedule = NoiseSchedule.create(steps=8, kind="linear", beta_start=1e-3, beta_end=0.5)
    std = 0.5
    acp = schedule.alphas_cumprod.double().tolist()
    var = 1.0
    for t in range(7, -1, -1):
        prev = acp[t - 1] if t > 0 else 1.0
        beta = 1 - acp[t] / prev
        gain = math.sqrt(acp[t]) * std**2 / (acp[t] * std**2 + 1 - acp[t])  # d x0_hat / d x_t
        a_t = beta * math.sqrt(prev) / (1 - acp[t]) * gain + (1 - prev) * math.sqrt(1 - beta) / (1 - acp[t])
        var = a_t**2 * var + (beta * (1 - prev) / (1 - acp[t]) if t > 0 else 0.0)
    mu = torch.zeros(8).double()
    diffusion = Diffusion(GaussianOracle(schedule, mu, std, "v"), schedule)
    x = diffusion.sample(torch.zeros(20000, K), sampler="ddpm", generator=torch.Generator().manual_seed(0))
    assert x.std().item() == pytest.approx(math.sqrt(var), rel=0.01)


def test_ddim_with_eta_one_over_all_steps_is_ddpm(sampling_diffusion):
    # sigma_t^2 at eta = 1 is the DDPM posterior variance and the means coincide (Song et al.
    # 2021, sec. 4.1); both draw x_T and then one noise per step > 0 from the same generator.
    cond = torch.tensor([[1.0, 0.0], [0.3, 0.7]])
    ddpm = sampling_diffusion.sample(cond, sampler="ddpm", generator=torch.Generator().manual_seed(5))
    ddim = sampling_diffusion.sample(
        cond, sampler="ddim", steps=20, eta=1.0, generator=torch.Generator().manual_seed(5)
    )
    torch.testing.assert_close(ddim, ddpm, atol=1e-4, rtol=1e-4)
    deterministic = sampling_diffusion.sample(cond, steps=20, generator=torch.Generator().manual_seed(5))
    assert not torch.allclose(deterministic, ddpm, atol=1e-2)


def test_deterministic_ddim_of_a_point_mass_returns_the_point():
    schedule = NoiseSchedule.create(steps=20)
    mu = torch.tensor([1.0, -2.0, 0.5]).double()
    diffusion = Diffusion(GaussianOracle(schedule, mu, 0.0, "v"), schedule)
    for sampler, steps in (("ddim", 7), ("ddim", 20), ("ddpm", None)):
        x = diffusion.sample(torch.zeros(5, K), sampler=sampler, steps=steps,
                             generator=torch.Generator().manual_seed(1))
        torch.testing.assert_close(x, mu.float().expand(5, 3), atol=1e-4, rtol=0)


# ----------------------------------------------------------------------------- training


def test_loss_is_mse_to_the_v_target_and_drops_conditions():
    model = perturb_modulation(tiny_denoiser())
    schedule = NoiseSchedule.create(steps=20)
    x0, _, cond = inputs(batch=8)
    seen: dict[str, Tensor] = {}

    def record(module, args, out):
        seen["x_t"], seen["t"], seen["mask"], seen["out"] = args[0], args[1], args[3], out

    model.register_forward_hook(record)
    for drop, expect in ((0.0, False), (1.0, True)):
        d = Diffusion(model, schedule, prediction="v", cond_drop_prob=drop)
        loss = d.loss(x0, cond, generator=torch.Generator().manual_seed(0))
        assert seen["mask"].all() if expect else not seen["mask"].any()
        # recover the noise from x_t and check the target is v
        acp = schedule.alphas_cumprod[seen["t"]][:, None]
        noise = (seen["x_t"] - acp.sqrt() * x0) / (1 - acp).sqrt()
        v = acp.sqrt() * noise - (1 - acp).sqrt() * x0
        torch.testing.assert_close(loss, ((seen["out"] - v) ** 2).mean(), atol=1e-5, rtol=1e-4)


def test_ema_update_arithmetic():
    model = nn.Linear(1, 1, bias=False)
    model.register_buffer("count", torch.tensor(0.0))
    with torch.no_grad():
        model.weight.fill_(2.0)
    ema = EMA(model, decay=0.9)
    assert not ema.model.training and not ema.model.weight.requires_grad
    with torch.no_grad():
        model.weight.fill_(12.0)
        model.count.fill_(5.0)
    ema.update(model)
    assert ema.model.weight.item() == pytest.approx(0.9 * 2.0 + 0.1 * 12.0)
    ema.update(model)
    assert ema.model.weight.item() == pytest.approx(0.9 * 3.0 + 0.1 * 12.0)
    assert ema.model.count.item() == 5.0
    assert model.weight.item() == 12.0  # the live model is untouched
