"""Checks of the sampler classes: the timesteps each visits, one step against its closed form, and the
noise each step draws."""

from __future__ import annotations

import pytest
import torch

from padirec.models.diffusion.schedule import NoiseSchedule
from padirec.models.diffusion.schedulers import (SAMPLERS, SCHEDULERS, DDIMScheduler, DDPMScheduler,
                                                 ddim_timesteps)


def known_point(schedule: NoiseSchedule, t: int, prediction: str, batch: int = 4, width: int = 5, seed: int = 0):
    """(x0, eps, x_t, the model output that predicts exactly this x0 and eps at t)."""
    g = torch.Generator().manual_seed(seed)
    x0, eps = torch.randn(batch, width, generator=g), torch.randn(batch, width, generator=g)
    t_batch = torch.full((batch,), t, dtype=torch.long)
    x_t = schedule.add_noise(x0, eps, t_batch)
    output = schedule.velocity(x0, eps, t_batch) if prediction == "v" else eps
    return x0, eps, x_t, output


def test_registry_names_every_sampler():
    assert SAMPLERS == ("ddpm", "ddim") == tuple(SCHEDULERS)
    assert SCHEDULERS["ddpm"] is DDPMScheduler and SCHEDULERS["ddim"] is DDIMScheduler


def test_ddim_timesteps_are_trailing_and_evenly_spaced():
    assert ddim_timesteps(500, 50).tolist() == list(range(499, 0, -10))
    assert ddim_timesteps(20, 20).tolist() == list(range(19, -1, -1))
    assert ddim_timesteps(10, 3).tolist() == [9, 5, 2]
    with pytest.raises(ValueError):
        ddim_timesteps(20, 21)


def test_set_timesteps_gives_the_timesteps_each_sampler_visits():
    schedule = NoiseSchedule.create(steps=20)
    ddpm = DDPMScheduler(schedule)
    for steps in (None, 20):
        ddpm.set_timesteps(steps)
        assert ddpm.timesteps.tolist() == list(range(19, -1, -1))
    with pytest.raises(ValueError, match="ddpm runs all 20"):
        ddpm.set_timesteps(10)
    with pytest.raises(ValueError, match="eta"):
        DDPMScheduler(schedule, eta=0.5)

    ddim = DDIMScheduler(schedule)
    ddim.set_timesteps(7)
    assert ddim.timesteps.tolist() == ddim_timesteps(20, 7).tolist()
    assert [ddim.previous_timestep(t) for t in ddim.timesteps.tolist()] == ddim.timesteps.tolist()[1:] + [-1]
    ddim.set_timesteps(None)  # default: min(50, schedule length)
    assert ddim.timesteps.tolist() == list(range(19, -1, -1))
    long = DDIMScheduler(NoiseSchedule.create(steps=500))
    long.set_timesteps()
    assert long.timesteps.tolist() == list(range(499, 0, -10))


def test_set_timesteps_holds_the_schedule_in_float64_with_alphas_from_its_ratios():
    schedule = NoiseSchedule.create(steps=12, beta_end=0.3)
    scheduler = DDIMScheduler(schedule)
    scheduler.set_timesteps(4)
    assert scheduler.alphas_cumprod.dtype == scheduler.alphas.dtype == torch.float64
    torch.testing.assert_close(torch.cumprod(scheduler.alphas, 0), schedule.alphas_cumprod.double())
    assert scheduler.alphas[0].item() == scheduler.alphas_cumprod[0].item()  # 1 - acp_0 == beta_0


def test_step_before_set_timesteps_is_refused():
    schedule = NoiseSchedule.create(steps=10)
    x = torch.zeros(2, 3)
    with pytest.raises(RuntimeError, match="set_timesteps"):
        DDIMScheduler(schedule).step(x, 9, x)


@pytest.mark.parametrize("prediction", ["v", "epsilon"])
def test_deterministic_ddim_step_moves_a_known_x0_to_its_point_at_the_previous_timestep(prediction):
    # With the exact x0 and eps, an eta = 0 step lands on the forward-process point of the same x0
    # and noise at t_prev, and the last step returns x0 itself.
    schedule = NoiseSchedule.create(steps=20, beta_end=0.2)
    scheduler = DDIMScheduler(schedule, prediction)
    scheduler.set_timesteps(5)
    timesteps = scheduler.timesteps.tolist()
    for t, t_prev in zip(timesteps, timesteps[1:] + [-1]):
        x0, eps, x_t, output = known_point(schedule, t, prediction, seed=t)
        generator = torch.Generator().manual_seed(1)
        before = generator.get_state()
        x_prev = scheduler.step(output, t, x_t, generator=generator)
        assert torch.equal(generator.get_state(), before)  # eta = 0 draws no noise
        if t_prev < 0:
            expected = x0
        else:
            expected = schedule.add_noise(x0, eps, torch.full((x0.shape[0],), t_prev))
        torch.testing.assert_close(x_prev, expected, atol=1e-4, rtol=0)


def test_stochastic_ddim_step_adds_sigma_times_one_draw_except_on_the_last_step():
    # x_prev = sqrt(acp_prev) x0 + sqrt(1 - acp_prev - sigma^2) eps + sigma z, with z one draw of the
    # step's generator; at eta = 1 over every step sigma^2 is the DDPM posterior variance.
    schedule = NoiseSchedule.create(steps=20, beta_end=0.2)
    scheduler = DDIMScheduler(schedule, eta=1.0)
    scheduler.set_timesteps(20)
    acp = schedule.alphas_cumprod.double()
    for t in (19, 7, 1):
        x0, eps, x_t, output = known_point(schedule, t, "v", seed=t)
        x_prev = scheduler.step(output, t, x_t, generator=torch.Generator().manual_seed(3))
        z = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(3)).double()
        var = (1 - acp[t] / acp[t - 1]) * (1 - acp[t - 1]) / (1 - acp[t])
        expected = acp[t - 1].sqrt() * x0.double() + (1 - acp[t - 1] - var).sqrt() * eps.double() + var.sqrt() * z
        torch.testing.assert_close(x_prev.double(), expected, atol=1e-4, rtol=0)
    x0, _, x_t, output = known_point(schedule, 0, "v")
    generator = torch.Generator().manual_seed(3)
    before = generator.get_state()
    torch.testing.assert_close(scheduler.step(output, 0, x_t, generator=generator), x0, atol=1e-5, rtol=0)
    assert torch.equal(generator.get_state(), before)  # no noise on the last step


@pytest.mark.parametrize("prediction", ["v", "epsilon"])
def test_ddpm_step_is_the_posterior_mean_plus_posterior_noise(prediction):
    schedule = NoiseSchedule.create(steps=10, beta_end=0.3)
    scheduler = DDPMScheduler(schedule, prediction)
    scheduler.set_timesteps()
    acp = schedule.alphas_cumprod.double()
    for t in (9, 4, 1):
        x0, _, x_t, output = known_point(schedule, t, prediction, seed=t)
        x_prev = scheduler.step(output, t, x_t, generator=torch.Generator().manual_seed(2))
        beta = 1 - acp[t] / acp[t - 1]
        mean = (beta * acp[t - 1].sqrt() * x0.double() + (1 - acp[t - 1]) * (1 - beta).sqrt() * x_t.double()) / (1 - acp[t])
        var = beta * (1 - acp[t - 1]) / (1 - acp[t])
        noise = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(2)).double()
        torch.testing.assert_close(x_prev.double(), mean + var.sqrt() * noise, atol=1e-4, rtol=0)
    # t = 0: the x0 prediction itself, and no draw
    x0, _, x_t, output = known_point(schedule, 0, prediction)
    generator = torch.Generator().manual_seed(2)
    before = generator.get_state()
    torch.testing.assert_close(scheduler.step(output, 0, x_t, generator=generator), x0, atol=1e-5, rtol=0)
    assert torch.equal(generator.get_state(), before)
