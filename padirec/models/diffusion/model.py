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
from padirec.models.diffusion.schedulers import SAMPLERS, SCHEDULERS, normal_noise

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
        if sampler not in SCHEDULERS:
            raise ValueError(f"unknown sampler {sampler!r}; allowed: {', '.join(SAMPLERS)}")
        scheduler = SCHEDULERS[sampler](self.schedule, self.prediction, eta=eta)
        scheduler.set_timesteps(steps, device=cond.device)
        x = normal_noise((cond.shape[0], self.n_params), cond.float(), generator)
        for t in scheduler.timesteps.tolist():
            t_batch = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
            out = self.guided_output(x, t_batch, cond, guidance_scale)
            x = scheduler.step(out, t, x, generator=generator)
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
