"""Checks of diffusion training: determinism, the stacked trainer against training alone, and a small
end-to-end learning test."""

from __future__ import annotations

import pytest
import torch

from diffusion_helpers import inputs, perturb_modulation, tiny_denoiser
from padirec.models.diffusion.model import Diffusion
from padirec.models.diffusion.schedule import NoiseSchedule
from padirec.training.diffusion import train_diffusion, train_diffusion_stack


def test_train_diffusion_is_deterministic():
    x0, _, cond = inputs(batch=32)

    def run(seed):
        d = Diffusion(tiny_denoiser(seed=0), NoiseSchedule.create(steps=20))
        return train_diffusion(d, x0, cond, steps=15, batch_size=16, seed=seed, ema_decay=0.5)

    ema_a, losses_a = run(0)
    ema_b, losses_b = run(0)
    _, losses_c = run(1)
    assert len(losses_a) == 15
    assert losses_a == losses_b
    assert losses_a != losses_c
    for pa, pb in zip(ema_a.model.parameters(), ema_b.model.parameters()):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)
    assert isinstance(ema_a.model, Diffusion)


def test_stacked_training_equals_training_each_model_alone():
    """Three models with their own data sizes, seeds and EMA: the stack reproduces each one's losses
    and EMA weights from training alone, up to floating-point summation order."""
    data = [inputs(batch=size, seed=size) for size in (32, 12, 20)]
    seeds = [0, 1, 2]

    def model(seed):
        return Diffusion(perturb_modulation(tiny_denoiser(seed=seed)), NoiseSchedule.create(steps=20))

    alone = [train_diffusion(model(seed), x0, cond, steps=12, batch_size=8, lr=3e-3, ema_decay=0.7, seed=seed)
             for seed, (x0, _, cond) in zip(seeds, data)]
    models = [model(seed) for seed in seeds]
    emas, losses = train_diffusion_stack(models, [x0 for x0, _, _ in data], [cond for _, _, cond in data], seeds,
                                         steps=12, batch_size=8, lr=3e-3, ema_decay=0.7)
    x, t, cond = inputs(batch=6)
    for (ema, history), stacked_ema, stacked_history in zip(alone, emas, losses):
        assert stacked_history == pytest.approx(history, rel=1e-4, abs=1e-6)
        # Outputs, not raw weights: the key bias gets a zero gradient (softmax ignores a shift), and
        # Adam turns the rounding noise of that zero into steps of size lr in either path.
        torch.testing.assert_close(stacked_ema.model.denoiser(x, t, cond), ema.model.denoiser(x, t, cond),
                                   rtol=1e-4, atol=1e-4)
    assert losses[0] != losses[1]  # each model drew its own batches and noise
    with pytest.raises(ValueError, match="one architecture"):
        train_diffusion_stack([models[0], Diffusion(tiny_denoiser(n_params=9), NoiseSchedule.create(steps=20))],
                              [data[0][0], data[0][0][:, :9]], [data[0][2]] * 2, [0, 1], steps=1)


def test_learns_condition_dependent_parameter_vectors():
    n = 24
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(n, generator=g), torch.randn(n, generator=g)
    ws = torch.tensor([0.0, 0.5, 1.0])
    w = ws.repeat_interleave(64)
    cond = torch.stack([w, 1 - w], dim=1)
    x0 = w[:, None] * a + (1 - w[:, None]) * b + 0.02 * torch.randn(len(w), n, generator=g)

    diffusion = Diffusion(tiny_denoiser(n), NoiseSchedule.create(steps=50, beta_end=0.2))
    _, losses = train_diffusion(diffusion, x0, cond, steps=250, batch_size=64, lr=3e-3, ema_decay=0.9)
    assert sum(losses[-20:]) / 20 < 0.3 * sum(losses[:20]) / 20

    targets = ws[:, None] * a + (1 - ws[:, None]) * b
    query = torch.stack([ws, 1 - ws], dim=1).repeat_interleave(4, dim=0)
    samples = diffusion.eval().sample(query, steps=10, generator=torch.Generator().manual_seed(0))
    dist = torch.cdist(samples, targets).reshape(3, 4, 3).mean(1)  # [condition, target]
    for i in range(3):
        others = torch.cat([dist[i, :i], dist[i, i + 1 :]])
        assert dist[i, i] < 0.3 * others.min(), dist
