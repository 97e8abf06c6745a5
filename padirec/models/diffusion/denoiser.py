"""The denoiser: a DiT-style transformer over a flat parameter vector cut into tokens, with adaLN-Zero
blocks that see the timestep and the condition (or a learned null condition) at every layer."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["sinusoidal_embedding", "modulate", "AdaLNBlock", "ParameterDenoiser"]


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


CONDITIONS = ("raw", "sqrt", "fourier")  # how the requirement vector enters the condition MLP
FOURIER_FEATURES, FOURIER_SCALE = 16, 1.0  # frequencies ~ N(0, scale^2) per weight; sin and cos of each


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
        condition: str = "raw",
    ):
        super().__init__()
        if condition not in CONDITIONS:
            raise ValueError(f"unknown condition embedding {condition!r}; allowed: {', '.join(CONDITIONS)}")
        self.n_params = n_params
        self.cond_dim = cond_dim
        self.condition = condition
        self.token_size = token_size
        self.d_model = d_model
        self.n_tokens = -(-n_params // token_size)

        self.token_embed = nn.Linear(token_size, d_model)
        self.pos_embed = nn.Parameter(torch.randn(self.n_tokens, d_model) * 0.02)
        self.time_mlp = nn.Sequential(
            nn.Linear(d_model, d_model), nn.SiLU(), nn.Linear(d_model, d_model)
        )
        features = {"raw": cond_dim, "sqrt": 2 * cond_dim, "fourier": 2 * FOURIER_FEATURES}[condition]
        if condition == "fourier":  # fixed random frequencies, drawn apart from the global seed's stream
            frequencies = torch.randn(cond_dim, FOURIER_FEATURES, generator=torch.Generator().manual_seed(0))
            self.register_buffer("frequencies", frequencies * FOURIER_SCALE)
        self.cond_mlp = nn.Sequential(
            nn.Linear(features, d_model), nn.SiLU(), nn.Linear(d_model, d_model)
        )
        self.null_cond = nn.Parameter(torch.randn(d_model) * 0.02)
        self.blocks = nn.ModuleList(AdaLNBlock(d_model, heads, dropout) for _ in range(layers))
        self.final_norm = nn.LayerNorm(d_model)
        self.out = nn.Linear(d_model, token_size)

    def condition_features(self, cond: Tensor) -> Tensor:
        """What the condition MLP reads: the weights w as given ("raw"), (w, sqrt(w)), whose slope is steepest
        near 0 where the metrics change fastest ("sqrt"), or random Fourier features of w ("fourier")."""
        if self.condition == "sqrt":
            return torch.cat([cond, cond.clamp_min(0).sqrt()], dim=-1)
        if self.condition == "fourier":
            angles = 2 * math.pi * cond @ self.frequencies
            return torch.cat([angles.sin(), angles.cos()], dim=-1)
        return cond

    def forward(
        self, x_t: Tensor, t: Tensor, cond: Tensor, cond_mask: Tensor | None = None
    ) -> Tensor:
        batch = x_t.shape[0]
        pad = self.n_tokens * self.token_size - self.n_params
        tokens = F.pad(x_t, (0, pad)).reshape(batch, self.n_tokens, self.token_size)
        h = self.token_embed(tokens) + self.pos_embed

        c = self.cond_mlp(self.condition_features(cond.to(h.dtype)))
        if cond_mask is not None:
            c = torch.where(cond_mask.to(h.device)[:, None], self.null_cond.expand_as(c), c)
        c = c + self.time_mlp(sinusoidal_embedding(t.to(h.device), self.d_model))

        for block in self.blocks:
            h = block(h, c)
        out = self.out(self.final_norm(h))
        return out.reshape(batch, -1)[:, : self.n_params]
