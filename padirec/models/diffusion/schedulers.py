"""Samplers, one scheduler class each, in the way of Hugging Face diffusers: `set_timesteps(steps)` picks
the timesteps to visit (`timesteps`, descending), then `step(model_output, t, sample)` turns the model's
output at timestep t into the sample of the next (less noisy) timestep.

- `DDPMScheduler`: ancestral sampling over every schedule step (Ho et al. 2020).
- `DDIMScheduler`: DDIM (Song et al. 2021) over trailing-spaced timesteps; eta = 0 is deterministic.

Both run in float64 from the stored cumulative alphas, and the last step lands on acp = 1, i.e. returns
the final x0 prediction.
"""

from __future__ import annotations

import torch
from torch import Tensor

from padirec.models.diffusion.schedule import NoiseSchedule

__all__ = ["DDPMScheduler", "DDIMScheduler", "SCHEDULERS", "SAMPLERS", "ddim_timesteps", "normal_noise"]

DEFAULT_DDIM_STEPS = 50


def normal_noise(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None) -> Tensor:
    """Standard normal noise drawn on the generator's device, then moved to like's device."""
    device = generator.device if generator is not None else like.device
    return torch.randn(shape, generator=generator, device=device, dtype=like.dtype).to(like.device)


def ddim_timesteps(schedule_steps: int, steps: int) -> Tensor:
    """`steps` evenly spaced timesteps, descending, from schedule_steps - 1 ("trailing" spacing).

    Timestep i * schedule_steps // steps - 1 for i = steps..1, so sampling always starts at the
    noisiest step and steps == schedule_steps visits every timestep like DDPM.
    """
    if not 1 <= steps <= schedule_steps:
        raise ValueError(f"DDIM steps must be in 1..{schedule_steps}, got {steps}")
    return torch.arange(steps, 0, -1) * schedule_steps // steps - 1


class Scheduler:
    """What the samplers share: the schedule in float64 on the sample's device and the x0 / noise
    predictions implied by a model output."""

    def __init__(self, schedule: NoiseSchedule, prediction: str = "v", eta: float = 0.0):
        self.schedule = schedule
        self.prediction = prediction
        self.eta = eta
        self.timesteps: Tensor | None = None  # set by set_timesteps
        self.alphas_cumprod: Tensor | None = None
        self.alphas: Tensor | None = None
        self._previous: dict[int, int] = {}

    def set_timesteps(self, steps: int | None = None, device: torch.device | str | None = None) -> None:
        """The timesteps to visit (`self.timesteps`), and the schedule in float64 on `device`.

        Float64 from the stored cumprod; alphas are re-derived from its ratios so that
        1 - acp_t == beta_t exactly at t = 0 (the float32 betas/cumprod disagree at ~1e-3
        relative there, which would bias the last DDPM step).
        """
        self.timesteps = self._timesteps(steps)
        visited = self.timesteps.tolist()
        self._previous = dict(zip(visited, visited[1:] + [-1]))
        acp = self.schedule.alphas_cumprod.to(device).double()
        self.alphas_cumprod = acp
        self.alphas = acp / torch.cat([acp.new_ones(1), acp[:-1]])

    def _timesteps(self, steps: int | None) -> Tensor:
        raise NotImplementedError

    def predictions(self, model_output: Tensor, timestep: int, sample: Tensor) -> tuple[Tensor, Tensor]:
        """(x0_hat, eps_hat) at `timestep` for a model output that predicts `self.prediction`."""
        if self.alphas_cumprod is None:
            raise RuntimeError("call set_timesteps before step")
        t_batch = torch.full((sample.shape[0],), timestep, dtype=torch.long, device=sample.device)
        return self.schedule.to_x0_eps(sample, t_batch, model_output, self.prediction)

    def step(self, model_output: Tensor, timestep: int, sample: Tensor,
             generator: torch.Generator | None = None) -> Tensor:
        raise NotImplementedError


class DDPMScheduler(Scheduler):
    """Ancestral sampling over every schedule step, with the posterior variance
    beta~_t = beta_t (1 - acp_{t-1}) / (1 - acp_t) ("fixed small")."""

    def __init__(self, schedule: NoiseSchedule, prediction: str = "v", eta: float = 0.0):
        if eta != 0.0:
            raise ValueError("eta applies to the ddim sampler only")
        super().__init__(schedule, prediction, eta)

    def _timesteps(self, steps: int | None) -> Tensor:
        """Every schedule step, descending; `steps` must be None or the schedule length."""
        num_steps = self.schedule.steps
        if steps is not None and steps != num_steps:
            raise ValueError(f"ddpm runs all {num_steps} schedule steps, got steps={steps}")
        return torch.arange(num_steps - 1, -1, -1)

    def step(self, model_output: Tensor, timestep: int, sample: Tensor,
             generator: torch.Generator | None = None) -> Tensor:
        """x_{t-1}: the posterior mean given x0_hat, plus posterior noise (none at t = 0)."""
        t, acp, alphas = timestep, self.alphas_cumprod, self.alphas
        x0_hat, _ = self.predictions(model_output, t, sample)
        prev = acp[t - 1] if t > 0 else acp.new_tensor(1.0)
        coef_x0 = (1 - alphas[t]) * prev.sqrt() / (1 - acp[t])
        coef_xt = (1 - prev) * alphas[t].sqrt() / (1 - acp[t])
        x = (coef_x0 * x0_hat + coef_xt * sample).to(sample.dtype)
        if t > 0:
            var = (1 - alphas[t]) * (1 - prev) / (1 - acp[t])
            x = x + (var.sqrt() * normal_noise(tuple(x.shape), x, generator)).to(x.dtype)
        return x


class DDIMScheduler(Scheduler):
    """DDIM over `steps` trailing-spaced timesteps (default min(50, schedule length)); eta = 0 is
    deterministic given x_T, eta = 1 over every step is DDPM."""

    def _timesteps(self, steps: int | None) -> Tensor:
        if steps is None:
            steps = min(DEFAULT_DDIM_STEPS, self.schedule.steps)
        return ddim_timesteps(self.schedule.steps, steps)

    def previous_timestep(self, timestep: int) -> int:
        """The timestep visited after `timestep`; -1 after the last one (acp = 1 there)."""
        return self._previous[timestep]

    def step(self, model_output: Tensor, timestep: int, sample: Tensor,
             generator: torch.Generator | None = None) -> Tensor:
        """x at the previous timestep: sqrt(acp_prev) x0_hat + the eps_hat direction, plus sigma noise
        when eta > 0 (none on the last step)."""
        t, acp, eta = timestep, self.alphas_cumprod, self.eta
        x0_hat, eps_hat = self.predictions(model_output, t, sample)
        t_prev = self.previous_timestep(t)
        prev = acp[t_prev] if t_prev >= 0 else acp.new_tensor(1.0)
        sigma = eta * ((1 - prev) / (1 - acp[t]) * (1 - acp[t] / prev)).sqrt()
        direction = (1 - prev - sigma**2).clamp(min=0).sqrt()
        x = (prev.sqrt() * x0_hat + direction * eps_hat).to(sample.dtype)
        if eta > 0 and t_prev >= 0:
            x = x + (sigma * normal_noise(tuple(x.shape), x, generator)).to(x.dtype)
        return x


SCHEDULERS: dict[str, type[Scheduler]] = {"ddpm": DDPMScheduler, "ddim": DDIMScheduler}
SAMPLERS = tuple(SCHEDULERS)
