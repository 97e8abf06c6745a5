"""Conditional parameter diffusion: a DiT-style denoiser over flat adapter parameter vectors.

A flat parameter vector (e.g. the 1,096 numbers of the recommender adapter) is generated
conditioned on a requirement vector such as [w_acc, w_div]. Pieces:

- `NoiseSchedule`: betas / cumulative alphas (linear as in PaDiRec, or cosine) and the
  conversions between x0, noise, v and the model output.
- `ParameterDenoiser`: the vector is cut into tokens, run through adaLN-Zero transformer
  blocks that see the timestep and the condition (or a learned null condition) at every layer.
- `Diffusion`: v- or epsilon-prediction loss with classifier-free-guidance condition dropout,
  guided model output, DDPM (ancestral) and DDIM samplers.
- `EMA` and `train_diffusion`: a deterministic Adam training loop.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from padirec.pipeline.progress import bar as progress_bar

__all__ = [
    "NoiseSchedule",
    "ParameterDenoiser",
    "Diffusion",
    "EMA",
    "train_diffusion",
]

SCHEDULE_KINDS = ("linear", "cosine")
PREDICTIONS = ("v", "epsilon")
SAMPLERS = ("ddpm", "ddim")
DEFAULT_DDIM_STEPS = 50


# ----------------------------------------------------------------------------- schedule


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


# ----------------------------------------------------------------------------- denoiser


def sinusoidal_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Transformer-style sin/cos embedding of (integer) timesteps: [B] -> [B, dim]."""
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half
    )
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=-1)
    return F.pad(emb, (0, dim - 2 * half))  # odd dim: one zero column


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    return x * (1 + scale[:, None]) + shift[:, None]


class AdaLNBlock(nn.Module):
    """Pre-LN attention + MLP block with DiT adaLN-Zero modulation from a conditioning vector."""

    # The fused attention kernel is fastest for one model; a model trained in a stack
    # (`train_diffusion_stack`) switches to `self_attention`, which torch.func.vmap can batch.
    unfused_attention = False

    def __init__(self, d_model: int, heads: int, dropout: float = 0.0, mlp_ratio: int = 4):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model, elementwise_affine=False, eps=1e-6)
        # batch_first=True: attention mixes the tokens of one sample, never samples of a batch.
        self.attn = nn.MultiheadAttention(d_model, heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(d_model, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, mlp_ratio * d_model),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(mlp_ratio * d_model, d_model),
        )
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(d_model, 6 * d_model))
        # Zero init: gates are 0, so the block starts as the identity (adaLN-Zero).
        nn.init.zeros_(self.modulation[-1].weight)
        nn.init.zeros_(self.modulation[-1].bias)

    def self_attention(self, h: Tensor) -> Tensor:
        """Multi-head self-attention over the tokens of each sample, with the weights of `self.attn`.

        Written with matmul and softmax rather than by calling the module: torch.func.vmap has
        batching rules for these (it has none for the fused CPU attention kernel), so stacks of
        denoisers train as one (`train_diffusion_stack`). Same result as `self.attn(h, h, h)`,
        up to floating-point order.
        """
        batch, tokens, width = h.shape
        heads = self.attn.num_heads
        q, k, v = F.linear(h, self.attn.in_proj_weight, self.attn.in_proj_bias).chunk(3, dim=-1)
        q, k, v = (part.reshape(batch, tokens, heads, width // heads).transpose(1, 2) for part in (q, k, v))
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(width // heads), dim=-1)
        weights = F.dropout(weights, self.attn.dropout, self.training)
        mixed = (weights @ v).transpose(1, 2).reshape(batch, tokens, width)
        return self.attn.out_proj(mixed)

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.modulation(c).chunk(6, dim=-1)
        h = modulate(self.norm1(x), shift1, scale1)
        attended = self.self_attention(h) if self.unfused_attention else self.attn(h, h, h, need_weights=False)[0]
        x = x + gate1[:, None] * attended
        h = modulate(self.norm2(x), shift2, scale2)
        return x + gate2[:, None] * self.mlp(h)


class ParameterDenoiser(nn.Module):
    """Transformer over tokens of a flat parameter vector, conditioned by adaLN at every layer.

    [B, n_params] is zero-padded to a multiple of token_size and cut into
    ceil(n_params / token_size) tokens; the output is truncated back to [B, n_params].
    Where cond_mask is True the condition is replaced by a learned null embedding
    (classifier-free guidance).
    """

    def __init__(
        self,
        n_params: int,
        cond_dim: int,
        token_size: int = 8,
        d_model: int = 128,
        layers: int = 2,
        heads: int = 4,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.n_params = n_params
        self.cond_dim = cond_dim
        self.token_size = token_size
        self.d_model = d_model
        self.n_tokens = -(-n_params // token_size)

        self.token_embed = nn.Linear(token_size, d_model)
        self.pos_embed = nn.Parameter(torch.randn(self.n_tokens, d_model) * 0.02)
        self.time_mlp = nn.Sequential(
            nn.Linear(d_model, d_model), nn.SiLU(), nn.Linear(d_model, d_model)
        )
        self.cond_mlp = nn.Sequential(
            nn.Linear(cond_dim, d_model), nn.SiLU(), nn.Linear(d_model, d_model)
        )
        self.null_cond = nn.Parameter(torch.randn(d_model) * 0.02)
        self.blocks = nn.ModuleList(AdaLNBlock(d_model, heads, dropout) for _ in range(layers))
        self.final_norm = nn.LayerNorm(d_model)
        self.out = nn.Linear(d_model, token_size)

    def forward(
        self, x_t: Tensor, t: Tensor, cond: Tensor, cond_mask: Tensor | None = None
    ) -> Tensor:
        batch = x_t.shape[0]
        pad = self.n_tokens * self.token_size - self.n_params
        tokens = F.pad(x_t, (0, pad)).reshape(batch, self.n_tokens, self.token_size)
        h = self.token_embed(tokens) + self.pos_embed

        c = self.cond_mlp(cond.to(h.dtype))
        if cond_mask is not None:
            c = torch.where(cond_mask.to(h.device)[:, None], self.null_cond.expand_as(c), c)
        c = c + self.time_mlp(sinusoidal_embedding(t.to(h.device), self.d_model))

        for block in self.blocks:
            h = block(h, c)
        out = self.out(self.final_norm(h))
        return out.reshape(batch, -1)[:, : self.n_params]


# ----------------------------------------------------------------------------- diffusion


def _randn(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None) -> Tensor:
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
        noise = _randn(tuple(x0.shape), x0, generator)
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

    def _predict(self, x: Tensor, t: int, cond: Tensor, guidance_scale: float) -> tuple[Tensor, Tensor]:
        t_batch = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        out = self.guided_output(x, t_batch, cond, guidance_scale)
        return self.schedule.to_x0_eps(x, t_batch, out, self.prediction)

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
        if sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {sampler!r}; allowed: {', '.join(SAMPLERS)}")
        num_steps = self.schedule.steps
        x = _randn((cond.shape[0], self.n_params), cond.float(), generator)

        if sampler == "ddpm":
            if steps is not None and steps != num_steps:
                raise ValueError(f"ddpm runs all {num_steps} schedule steps, got steps={steps}")
            if eta != 0.0:
                raise ValueError("eta applies to the ddim sampler only")
            timesteps = torch.arange(num_steps - 1, -1, -1)
        else:
            if steps is None:
                steps = min(DEFAULT_DDIM_STEPS, num_steps)
            timesteps = ddim_timesteps(num_steps, steps)

        # Float64 from the stored cumprod; betas are re-derived from its ratios so that
        # 1 - acp_t == beta_t exactly at t = 0 (the float32 betas/cumprod disagree at ~1e-3
        # relative there, which would bias the last DDPM step).
        acp = self.schedule.alphas_cumprod.to(x.device).double()
        alphas = acp / torch.cat([acp.new_ones(1), acp[:-1]])
        for i, t in enumerate(timesteps.tolist()):
            x0_hat, eps_hat = self._predict(x, t, cond, guidance_scale)
            if sampler == "ddpm":
                prev = acp[t - 1] if t > 0 else acp.new_tensor(1.0)
                coef_x0 = (1 - alphas[t]) * prev.sqrt() / (1 - acp[t])
                coef_xt = (1 - prev) * alphas[t].sqrt() / (1 - acp[t])
                x = (coef_x0 * x0_hat + coef_xt * x).to(x.dtype)
                if t > 0:
                    var = (1 - alphas[t]) * (1 - prev) / (1 - acp[t])
                    x = x + (var.sqrt() * _randn(tuple(x.shape), x, generator)).to(x.dtype)
            else:
                t_prev = int(timesteps[i + 1]) if i + 1 < len(timesteps) else -1
                prev = acp[t_prev] if t_prev >= 0 else acp.new_tensor(1.0)
                sigma = eta * ((1 - prev) / (1 - acp[t]) * (1 - acp[t] / prev)).sqrt()
                direction = (1 - prev - sigma**2).clamp(min=0).sqrt()
                x = (prev.sqrt() * x0_hat + direction * eps_hat).to(x.dtype)
                if eta > 0 and t_prev >= 0:
                    x = x + (sigma * _randn(tuple(x.shape), x, generator)).to(x.dtype)
        return x


# ----------------------------------------------------------------------------- training


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


def train_diffusion(
    diffusion: Diffusion,
    x0: Tensor,
    cond: Tensor,
    steps: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    ema_decay: float = 0.999,
    seed: int = 0,
    progress: bool = False,
    desc: str = "diffusion steps",
) -> tuple[EMA, list[float]]:
    """Adam on `diffusion.loss` over random batches (drawn with replacement); returns (EMA, losses).

    A generator seeded by `seed` draws batches, timesteps, noise and condition drops, and the
    global seed is set too (dropout), so equal seeds on equal models give equal losses.
    The EMA starts from the initial weights: with decay 0.999 it needs thousands of steps.
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)  # on the CPU: a seed draws the same batches on every device
    optimizer = torch.optim.Adam(diffusion.parameters(), lr=lr, fused=True)  # one kernel, not ~10 ops per tensor
    ema = EMA(diffusion, ema_decay)
    diffusion.train()

    losses: list[float] = []
    bar = progress_bar(range(steps), desc=desc, show=progress)
    for _ in bar:
        idx = torch.randint(0, x0.shape[0], (batch_size,), generator=generator).to(x0.device)
        loss = diffusion.loss(x0[idx], cond[idx], generator=generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        ema.update(diffusion)
        losses.append(loss.item())
        if progress and len(losses) % 50 == 0:
            bar.set_postfix(loss=f"{sum(losses[-50:]) / 50:.4f}", refresh=False)
    return ema, losses


def train_diffusion_stack(
    diffusions: list[Diffusion],
    x0s: list[Tensor],
    conds: list[Tensor],
    seeds: list[int],
    steps: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    ema_decay: float = 0.999,
    progress: bool = False,
    desc: str = "diffusion steps",
) -> tuple[list[EMA], list[list[float]]]:
    """`train_diffusion` for several models of one architecture at once, as one stacked model.

    Model i keeps its own data (x0s[i], conds[i]), its own random stream seeded by seeds[i]
    (drawn in the same order as `train_diffusion`) and its own EMA; their denoisers run as one
    `torch.func.vmap` over stacked weights, and one Adam step updates all of them. Adam is
    elementwise and the summed loss gives each model its own gradient, so each model trains as
    it would alone, up to floating-point order. Returns one (EMA, losses) per model, and leaves
    the trained weights in `diffusions`.
    """
    from torch.func import functional_call, stack_module_state, vmap

    shapes = {tuple((name, tuple(p.shape)) for name, p in d.denoiser.named_parameters()) for d in diffusions}
    if len(shapes) != 1:
        raise ValueError("train_diffusion_stack needs denoisers of one architecture; group them by shape first")
    for d in diffusions:
        d.train()
    denoisers = [d.denoiser for d in diffusions]
    stacked, buffers = stack_module_state(denoisers)
    stacked = {name: value.detach().clone().requires_grad_(True) for name, value in stacked.items()}
    averaged = {name: value.detach().clone() for name, value in stacked.items()}
    skeleton = copy.deepcopy(denoisers[0]).to("meta")
    for module in skeleton.modules():
        if isinstance(module, AdaLNBlock):
            module.unfused_attention = True

    def denoise(weights, held, x_t, t, cond, mask):
        return functional_call(skeleton, (weights, held), (x_t, t, cond, mask))

    forward = vmap(denoise)
    optimizer = torch.optim.Adam(list(stacked.values()), lr=lr, fused=True)
    generators = [torch.Generator().manual_seed(seed) for seed in seeds]  # CPU streams, as in train_diffusion
    losses: list[Tensor] = []
    bar = progress_bar(range(steps), desc=desc, show=progress)
    for _ in bar:
        batches = []
        for diffusion, x0, cond, generator in zip(diffusions, x0s, conds, generators):
            idx = torch.randint(0, x0.shape[0], (batch_size,), generator=generator).to(x0.device)
            x_t, t, mask, target = diffusion.training_inputs(x0[idx], generator)
            batches.append((x_t, t, cond[idx], mask, target))
        x_t, t, cond, mask, target = (torch.stack(part) for part in zip(*batches))
        per_model = ((forward(stacked, buffers, x_t, t, cond, mask) - target) ** 2).mean(dim=(1, 2))
        optimizer.zero_grad(set_to_none=True)
        per_model.sum().backward()
        optimizer.step()
        with torch.no_grad():
            for name, value in stacked.items():
                averaged[name].lerp_(value, 1.0 - ema_decay)
        losses.append(per_model.detach())
        if progress and len(losses) % 50 == 0:
            bar.set_postfix(loss=f"{torch.stack(losses[-50:]).mean():.4f}", refresh=False)

    emas, history = [], torch.stack(losses).T.tolist() if losses else [[] for _ in diffusions]
    with torch.no_grad():
        for index, diffusion in enumerate(diffusions):
            ema = EMA(diffusion, ema_decay)
            for name, parameter in diffusion.denoiser.named_parameters():
                parameter.copy_(stacked[name][index])
                ema.model.denoiser.get_parameter(name).copy_(averaged[name][index])
            emas.append(ema)
    return emas, history
