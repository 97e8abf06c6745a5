"""Checks of the parameter diffusion: schedule algebra, denoiser structure, guidance, samplers,
training determinism and a small end-to-end learning test."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from padirec.models.diffusion.model import (
    EMA,
    Diffusion,
    NoiseSchedule,
    ParameterDenoiser,
    AdaLNBlock,
    ddim_timesteps,
    train_diffusion,
    train_diffusion_stack,
)

P, K = 21, 2  # 21 is not a multiple of token_size 8: exercises padding/truncation


def tiny_denoiser(n_params: int = P, cond_dim: int = K, seed: int = 0) -> ParameterDenoiser:
    torch.manual_seed(seed)
    return ParameterDenoiser(n_params, cond_dim, token_size=8, d_model=32, layers=1, heads=4)


def perturb_modulation(model: ParameterDenoiser, seed: int = 1) -> ParameterDenoiser:
    """Give the zero-initialised adaLN layers random weights so time/cond/attention matter."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in model.blocks:
            linear = block.modulation[-1]
            linear.weight.copy_(torch.randn(linear.weight.shape, generator=g) * 0.3)
            linear.bias.copy_(torch.randn(linear.bias.shape, generator=g) * 0.3)
        model.null_cond.copy_(torch.randn(model.null_cond.shape, generator=g))
    return model


def inputs(batch: int = 3, n_params: int = P, steps: int = 20, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, n_params, generator=g)
    t = torch.randint(0, steps, (batch,), generator=g)
    w = torch.rand(batch, generator=g)
    return x, t, torch.stack([w, 1 - w], dim=1)


# ----------------------------------------------------------------------------- schedule


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


# ----------------------------------------------------------------------------- denoiser


@pytest.mark.parametrize(("n_params", "tokens"), [(1096, 137), (21, 3), (16, 2)])
def test_denoiser_output_shape_and_token_count(n_params, tokens):
    model = tiny_denoiser(n_params)
    assert model.n_tokens == tokens
    x, t, c = inputs(batch=2, n_params=n_params)
    assert model(x, t, c).shape == (2, n_params)


def test_zero_init_blocks_are_identity_so_time_and_cond_are_ignored():
    model = tiny_denoiser()
    x, t, c = inputs()
    ref = model(x, t, c)
    torch.testing.assert_close(model(x, (t + 5) % 20, c.flip(1)), ref)
    # ...and the output equals the token path without any block
    tokens = nn.functional.pad(x, (0, 3)).reshape(3, 3, 8)
    h = model.token_embed(tokens) + model.pos_embed
    torch.testing.assert_close(model.out(model.final_norm(h)).reshape(3, -1)[:, :P], ref)


def test_attention_does_not_mix_samples_of_a_batch():
    model = perturb_modulation(tiny_denoiser())
    x, t, c = inputs(batch=2)
    out = model(x, t, c)
    x2 = x.clone()
    x2[1] = torch.randn(P, generator=torch.Generator().manual_seed(9)) * 3
    out2 = model(x2, t, c)
    torch.testing.assert_close(out2[0], out[0])
    assert not torch.allclose(out2[1], out[1])
    # the batched output equals one-sample forwards
    torch.testing.assert_close(model(x[1:], t[1:], c[1:])[0], out[1], atol=1e-5, rtol=1e-5)


def test_cond_mask_uses_null_embedding_whatever_the_condition():
    model = perturb_modulation(tiny_denoiser())
    x, t, c = inputs(batch=3)
    mask = torch.tensor([True, False, True])
    a = model(x, t, c, mask)
    b = model(x, t, torch.rand(3, K) * 10, mask)
    torch.testing.assert_close(a[mask], b[mask])
    assert not torch.allclose(a[~mask], b[~mask])


def test_condition_and_time_change_the_output_once_modulated():
    model = perturb_modulation(tiny_denoiser())
    x, t, c = inputs(batch=3)
    ref = model(x, t, c)
    assert (model(x, t, c.flip(1)) - ref).abs().max() > 1e-3
    assert (model(x, (t + 7) % 20, c) - ref).abs().max() > 1e-3
    # the null embedding differs from any cond embedding used here
    assert (model(x, t, c, torch.ones(3, dtype=torch.bool)) - ref).abs().max() > 1e-3


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


def test_ddim_timesteps_are_trailing_and_evenly_spaced():
    assert ddim_timesteps(500, 50).tolist() == list(range(499, 0, -10))
    assert ddim_timesteps(20, 20).tolist() == list(range(19, -1, -1))
    assert ddim_timesteps(10, 3).tolist() == [9, 5, 2]
    with pytest.raises(ValueError):
        ddim_timesteps(20, 21)


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
    sampling_diffusion.sample(cond, sampler="ddpm", steps=20)  # the schedule length is fine


class GaussianOracle(nn.Module):
    """Exact denoiser for data x0 ~ N(mu, std^2 I): E[x0 | x_t] in closed form, as v or eps."""

    def __init__(self, schedule: NoiseSchedule, mu: Tensor, std: float, prediction: str):
        super().__init__()
        self.schedule, self.mu, self.std, self.prediction = schedule, mu, std, prediction
        self.n_params = mu.shape[0]

    def forward(self, x_t, t, cond, cond_mask=None):
        acp = self.schedule.alphas_cumprod[t][:, None].double()
        a, s = acp.sqrt(), (1 - acp).sqrt()
        x_t = x_t.double()
        x0 = self.mu + a * self.std**2 / (acp * self.std**2 + s**2) * (x_t - a * self.mu)
        eps = (x_t - a * x0) / s
        return (a * eps - s * x0 if self.prediction == "v" else eps).float()


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


def test_hand_written_attention_equals_the_module():
    torch.manual_seed(0)
    block = AdaLNBlock(32, 4).eval()
    h = torch.randn(5, 7, 32)
    torch.testing.assert_close(block.self_attention(h), block.attn(h, h, h, need_weights=False)[0])


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
