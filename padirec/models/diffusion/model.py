"""Conditional parameter diffusion over flat adapter parameter vectors, and an EMA of its weights.

A flat parameter vector (e.g. the 1,096 numbers of the recommender adapter) is generated
conditioned on a requirement vector such as [w_acc, w_div]. `Diffusion` holds a denoiser
(`denoiser.ParameterDenoiser`) and a `schedule.NoiseSchedule`: the v- or epsilon-prediction loss
with classifier-free-guidance condition dropout, the guided model output, and sampling with a
scheduler of `schedulers.SCHEDULERS` (DDPM or DDIM). Training loops: `padirec.training.diffusion`.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from padirec.models.diffusion.schedule import PREDICTIONS, NoiseSchedule
from padirec.models.diffusion.schedulers import SAMPLERS, SCHEDULERS, Scheduler, normal_noise

__all__ = ["Diffusion", "EMA"]


class Diffusion(nn.Module):
    """Conditional diffusion over flat parameter vectors with classifier-free guidance."""

    def __init__(
        self,
        denoiser: nn.Module,
        schedule: NoiseSchedule,
        prediction: str = "v",
        cond_drop_prob: float = 0.1,
    ):
        super().__init__()
        if prediction not in PREDICTIONS:
            raise ValueError(f"unknown prediction {prediction!r}; allowed: {', '.join(PREDICTIONS)}")
        if not 0.0 <= cond_drop_prob <= 1.0:
            raise ValueError(f"cond_drop_prob must be in [0, 1], got {cond_drop_prob}")
        self.denoiser = denoiser
        self.schedule = schedule
        self.prediction = prediction
        self.cond_drop_prob = cond_drop_prob

    @property
    def n_params(self) -> int:
        return self.denoiser.n_params

    def training_inputs(self, x0: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(x_t, t, condition-drop mask, target) for a batch x0: a uniform random t per sample, the
        condition dropped with probability cond_drop_prob (CFG training), the v (or epsilon) target."""
        batch = x0.shape[0]
        gen_device = generator.device if generator is not None else x0.device
        t = torch.randint(
            0, self.schedule.steps, (batch,), generator=generator, device=gen_device
        ).to(x0.device)
        noise = normal_noise(tuple(x0.shape), x0, generator)
        drop = torch.rand(batch, generator=generator, device=gen_device).to(x0.device)
        x_t = self.schedule.add_noise(x0, noise, t)
        target = self.schedule.velocity(x0, noise, t) if self.prediction == "v" else noise
        return x_t, t, drop < self.cond_drop_prob, target

    def loss(self, x0: Tensor, cond: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """MSE between the model output and the v (or epsilon) target at a uniform random t."""
        x_t, t, cond_mask, target = self.training_inputs(x0, generator)
        return F.mse_loss(self.denoiser(x_t, t, cond, cond_mask), target)

    def guided_output(self, x_t: Tensor, t: Tensor, cond: Tensor, guidance_scale: float) -> Tensor:
        """u + s * (c - u): c conditional, u unconditional output, in one batched forward."""
        batch = x_t.shape[0]
        if guidance_scale == 1:
            mask = torch.zeros(batch, dtype=torch.bool, device=x_t.device)
            return self.denoiser(x_t, t, cond, mask)
        if guidance_scale == 0:
            mask = torch.ones(batch, dtype=torch.bool, device=x_t.device)
            return self.denoiser(x_t, t, cond, mask)
        mask = torch.arange(2 * batch, device=x_t.device) >= batch  # second half unconditional
        out = self.denoiser(
            torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([cond, cond]), mask
        )
        c, u = out.chunk(2)
        return u + guidance_scale * (c - u)

    @torch.no_grad()
    def sample(
        self,
        cond: Tensor,
        guidance_scale: float = 1.0,
        sampler: str = "ddim",
        steps: int | None = None,
        generator: torch.Generator | None = None,
        eta: float = 0.0,
    ) -> Tensor:
        """Generate [N, n_params] from x_T ~ N(0, I) for conditions [N, K].

        "ddpm": ancestral sampling over every schedule step (posterior variance
        beta~_t = beta_t (1 - acp_{t-1}) / (1 - acp_t)); steps must be None or the
        schedule length, eta must be 0.
        "ddim": DDIM (Song et al. 2021) over `steps` trailing-spaced timesteps (default
        min(50, schedule length)); eta = 0 is deterministic given x_T, eta = 1 is DDPM-like.
        The last step lands on acp = 1, i.e. returns the final x0 prediction.
        Call on a model in eval mode (e.g. EMA.model) when the denoiser has dropout.
        """
        scheduler = self._scheduler(sampler, steps, eta, cond.device)
        x = normal_noise((cond.shape[0], self.n_params), cond.float(), generator)
        return self._denoise(scheduler, x, cond, guidance_scale, None, generator)

    def sample_from(
        self,
        noise: Tensor,
        cond: Tensor,
        guidance_scale: float = 1.0,
        sampler: str = "ddim",
        steps: int | None = None,
        grad_steps: int | None = None,
        generator: torch.Generator | None = None,
        eta: float = 0.0,
    ) -> Tensor:
        """`sample` from a given x_T `noise` [N, n_params], differentiable through its last `grad_steps`
        sampling steps (None: all of them; 0: none).

        For DRaFT-K fine-tuning (Clark et al. 2023, arXiv 2309.17400): back-propagating through only the
        last K steps bounds memory and time; the earlier steps run under no_grad and hand on a detached x.
        Under an outer no_grad or inference_mode no graph is recorded at all. `generator` draws only the
        noise of stochastic steps (ddpm, or ddim with eta > 0).
        """
        if grad_steps is not None and grad_steps < 0:
            raise ValueError(f"grad_steps must be None or at least 0, got {grad_steps}")
        scheduler = self._scheduler(sampler, steps, eta, cond.device)
        return self._denoise(scheduler, noise, cond, guidance_scale, grad_steps, generator)

    def _scheduler(self, sampler: str, steps: int | None, eta: float, device: torch.device) -> Scheduler:
        """The sampler's scheduler with its timesteps set; built (and so checked) before any noise is drawn."""
        if sampler not in SCHEDULERS:
            raise ValueError(f"unknown sampler {sampler!r}; allowed: {', '.join(SAMPLERS)}")
        scheduler = SCHEDULERS[sampler](self.schedule, self.prediction, eta=eta)
        scheduler.set_timesteps(steps, device=device)
        return scheduler

    def _denoise(self, scheduler: Scheduler, x: Tensor, cond: Tensor, guidance_scale: float, grad_steps: int | None,
                 generator: torch.Generator | None) -> Tensor:
        """The loop `sample` and `sample_from` share: one guided model output and scheduler step per timestep.
        The op order is `sample`'s of old, so its outputs are unchanged bit for bit."""
        timesteps = scheduler.timesteps.tolist()
        frozen = 0 if grad_steps is None else max(len(timesteps) - grad_steps, 0)  # steps run without autograd
        for index, t in enumerate(timesteps):
            with torch.set_grad_enabled(torch.is_grad_enabled() and index >= frozen):
                t_batch = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
                out = self.guided_output(x, t_batch, cond, guidance_scale)
                x = scheduler.step(out, t, x, generator=generator)
            if index + 1 == frozen:
                x = x.detach()
        return x


class EMA:
    """Exponential moving average of a model's parameters, held in a frozen deep copy."""

    def __init__(self, model: nn.Module, decay: float = 0.999):
        self.decay = decay
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """ema = decay * ema + (1 - decay) * param; buffers are copied."""
        for ema_p, p in zip(self.model.parameters(), model.parameters(), strict=True):
            ema_p.lerp_(p.detach(), 1.0 - self.decay)
        for ema_b, b in zip(self.model.buffers(), model.buffers(), strict=True):
            ema_b.copy_(b)
