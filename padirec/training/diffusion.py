"""Training of parameter diffusion models: a deterministic Adam loop for one model (`train_diffusion`),
and the same for several models of one architecture trained as one stacked model (`train_diffusion_stack`)."""

from __future__ import annotations

import copy

import torch
from torch import Tensor

from padirec.models.diffusion.denoiser import AdaLNBlock
from padirec.models.diffusion.model import EMA, Diffusion
from padirec.pipeline.progress import bar as progress_bar

__all__ = ["train_diffusion", "train_diffusion_stack"]


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
    forward, stacked, buffers, averaged = _stacked_denoisers(diffusions)
    optimizer = torch.optim.Adam(list(stacked.values()), lr=lr, fused=True)
    generators = [torch.Generator().manual_seed(seed) for seed in seeds]  # CPU streams, as in train_diffusion
    losses: list[Tensor] = []
    bar = progress_bar(range(steps), desc=desc, show=progress)
    for _ in bar:
        x_t, t, cond, mask, target = _stacked_batch(diffusions, x0s, conds, generators, batch_size)
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

    history = torch.stack(losses).T.tolist() if losses else [[] for _ in diffusions]
    return _unstack(diffusions, stacked, averaged, ema_decay), history


def _stacked_denoisers(diffusions: list[Diffusion]):
    """(forward, stacked weights, stacked buffers, their running average) for the denoisers of
    `diffusions`, put in training mode: forward(weights, buffers, x_t, t, cond, mask) runs them all
    at once under torch.func.vmap, on a weightless copy with the vmap-able attention."""
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

    return vmap(denoise), stacked, buffers, averaged


def _stacked_batch(diffusions: list[Diffusion], x0s: list[Tensor], conds: list[Tensor],
                   generators: list[torch.Generator], batch_size: int) -> tuple[Tensor, ...]:
    """(x_t, t, cond, mask, target), each stacked over the models: model by model, a batch of its data
    and its training inputs, drawn from its own generator in the order `train_diffusion` draws them."""
    batches = []
    for diffusion, x0, cond, generator in zip(diffusions, x0s, conds, generators):
        idx = torch.randint(0, x0.shape[0], (batch_size,), generator=generator).to(x0.device)
        x_t, t, mask, target = diffusion.training_inputs(x0[idx], generator)
        batches.append((x_t, t, cond[idx], mask, target))
    return tuple(torch.stack(part) for part in zip(*batches))


def _unstack(diffusions: list[Diffusion], stacked: dict[str, Tensor], averaged: dict[str, Tensor],
             ema_decay: float) -> list[EMA]:
    """Copy model i's trained weights back into diffusions[i], and its averaged weights into a new EMA."""
    emas = []
    with torch.no_grad():
        for index, diffusion in enumerate(diffusions):
            ema = EMA(diffusion, ema_decay)
            for name, parameter in diffusion.denoiser.named_parameters():
                parameter.copy_(stacked[name][index])
                ema.model.denoiser.get_parameter(name).copy_(averaged[name][index])
            emas.append(ema)
    return emas
