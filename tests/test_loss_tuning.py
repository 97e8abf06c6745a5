"""PaDiRec + loss tuning (DRaFT): the differentiable sampling path of `Diffusion.sample_from`, and
`padirec.training.loss_tuning.tune_on_losses` on a small real slice (the first 120 MovieLens-100K users)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from diffusion_helpers import K, P, perturb_modulation, tiny_denoiser
from padirec.models.diffusion.model import Diffusion
from padirec.models.diffusion.schedule import NoiseSchedule
from padirec.models.diffusion.schedulers import SCHEDULERS, normal_noise
from padirec.pipeline import config
from padirec.pipeline.artifacts import AdapterSweep
from padirec.pipeline.sections import LossTuningConfig
from padirec.training import adapters, generators, loss_tuning

OBJECTIVES = ["acc", "div"]
CONDS = torch.tensor([[0.2, 0.8], [1.0, 0.0], [0.5, 0.5]])


def tiny_diffusion(prediction: str = "v") -> Diffusion:
    """A small denoiser with random adaLN weights, so that every parameter affects the output."""
    return Diffusion(perturb_modulation(tiny_denoiser()), NoiseSchedule.create(steps=20), prediction=prediction)


def loop_of_old(diffusion: Diffusion, cond, guidance, sampler, steps, generator, eta):
    """`Diffusion.sample` as it was written before `sample_from`: the reference its outputs must keep."""
    scheduler = SCHEDULERS[sampler](diffusion.schedule, diffusion.prediction, eta=eta)
    scheduler.set_timesteps(steps, device=cond.device)
    x = normal_noise((cond.shape[0], diffusion.n_params), cond.float(), generator)
    for t in scheduler.timesteps.tolist():
        t_batch = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
        out = diffusion.guided_output(x, t_batch, cond, guidance)
        x = scheduler.step(out, t, x, generator=generator)
    return x


SAMPLINGS = [("ddim", 5, 0.0, 1.0), ("ddim", 5, 0.0, 2.0), ("ddim", 4, 1.0, 1.5), ("ddpm", None, 0.0, 2.0)]


@pytest.mark.parametrize("prediction", ["v", "epsilon"])
@pytest.mark.parametrize(("sampler", "steps", "eta", "guidance"), SAMPLINGS)
def test_sample_is_unchanged_and_sample_from_the_same_noise_equals_it(prediction, sampler, steps, eta, guidance):
    diffusion = tiny_diffusion(prediction)
    kwargs = dict(guidance_scale=guidance, sampler=sampler, steps=steps, eta=eta)
    sampled = diffusion.sample(CONDS, generator=torch.Generator().manual_seed(5), **kwargs)
    with torch.no_grad():
        old = loop_of_old(diffusion, CONDS, guidance, sampler, steps, torch.Generator().manual_seed(5), eta)
        generator = torch.Generator().manual_seed(5)
        noise = normal_noise((len(CONDS), P), CONDS, generator)  # then the same generator draws the step noise
        again = diffusion.sample_from(noise, CONDS, generator=generator, **kwargs)
    assert torch.equal(sampled, old)
    assert torch.equal(again, sampled)


def gradients(diffusion: Diffusion, grad_steps, noise=None, steps: int = 5):
    """(output, d <output, probe> / d denoiser parameters) of deterministic DDIM from a fixed x_T."""
    noise = torch.randn(len(CONDS), P, generator=torch.Generator().manual_seed(1)) if noise is None else noise
    probe = torch.randn(len(CONDS), P, generator=torch.Generator().manual_seed(2))
    out = diffusion.sample_from(noise, CONDS, steps=steps, grad_steps=grad_steps)
    params = list(diffusion.denoiser.parameters())
    grads = torch.autograd.grad((out * probe).sum(), params, allow_unused=True)
    return out.detach(), [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


def test_draft_k_gradients_reach_the_denoiser_and_stop_k_steps_before_the_end():
    diffusion = tiny_diffusion()
    out_all, grads_all = gradients(diffusion, None)
    out_one, grads_one = gradients(diffusion, 1)
    assert torch.equal(out_one, out_all)  # the gradient path never changes the sample
    reached = [g.abs().sum() > 0 for g in grads_one]
    assert sum(reached) >= 0.9 * len(reached)  # the last step alone reaches (nearly) every parameter
    assert any(not torch.allclose(a, b) for a, b in zip(grads_one, grads_all))
    _, grads_five = gradients(diffusion, 5)  # grad_steps >= the steps taken: all of them
    assert all(torch.equal(a, b) for a, b in zip(grads_five, grads_all))

    # DRaFT-2 by hand: the first three of five steps without autograd, then two with it.
    scheduler = SCHEDULERS["ddim"](diffusion.schedule, diffusion.prediction)
    scheduler.set_timesteps(5)
    x = torch.randn(len(CONDS), P, generator=torch.Generator().manual_seed(1))
    probe = torch.randn(len(CONDS), P, generator=torch.Generator().manual_seed(2))
    for index, t in enumerate(scheduler.timesteps.tolist()):
        with torch.set_grad_enabled(index >= 3):
            x = scheduler.step(diffusion.guided_output(x, torch.full((len(x),), t), CONDS, 1.0), t, x)
    params = list(diffusion.denoiser.parameters())
    expected = torch.autograd.grad((x * probe).sum(), params, allow_unused=True)
    _, grads_two = gradients(diffusion, 2)
    for got, want, p in zip(grads_two, expected, params):
        torch.testing.assert_close(got, torch.zeros_like(p) if want is None else want, rtol=1e-6, atol=1e-7)


def test_only_the_full_path_reaches_the_noise_and_zero_steps_record_nothing():
    diffusion = tiny_diffusion()
    noise = torch.randn(len(CONDS), P, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    (diffusion.sample_from(noise, CONDS, steps=5, grad_steps=None) ** 2).sum().backward()
    assert noise.grad is not None and noise.grad.abs().sum() > 0
    noise.grad = None
    out = diffusion.sample_from(noise, CONDS, steps=5, grad_steps=4)
    assert out.requires_grad and noise.grad is None
    (out ** 2).sum().backward()
    assert noise.grad is None  # the first step ran without autograd, so x_T is cut off
    assert not diffusion.sample_from(noise, CONDS, steps=5, grad_steps=0).requires_grad
    with pytest.raises(ValueError, match="grad_steps"):
        diffusion.sample_from(noise, CONDS, steps=5, grad_steps=-1)


# ----------------------------------------------------------------------------- tune_on_losses on real data

SWEEP = config.SweepConfig(epochs=3, keep_checkpoints=2, batch_size=512)
TUNING = LossTuningConfig(epochs=2, requirements_per_batch=4, lr=1e-2, grad_steps=2)
FIXED = torch.tensor([[1.0, 0.0], [0.6, 0.4], [0.2, 0.8]])  # evaluation requirements (two unseen by the sweep)


@pytest.fixture(scope="module")
def setting(small, small_backbone):
    """The tuning set of `small`, a three-requirement sweep of real adapters, and a tiny generator on it."""
    tuning = adapters.TuningSet.of(small_backbone.model, small)
    weights = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    run = adapters.tune_adapters(tuning, weights, SWEEP, 0, OBJECTIVES, progress=False)
    sweep = AdapterSweep("sasrec", OBJECTIVES, weights, np.array([0]), np.array(run.kept_epochs),
                         run.checkpoints[None].astype(np.float32))
    cfg = config.DiffusionConfig(train_steps=200, d_model=32, layers=1, heads=2, steps=100, sample_steps=10,
                                 batch_size=16)
    return tuning, sweep, generators.train_generator(sweep, cfg, progress=False)


@pytest.fixture(scope="module")
def runs(setting):
    """Two runs of one seed and anchor weight, and one without the anchor; the input's weights before them."""
    tuning, sweep, generator = setting
    before = {name: value.clone() for name, value in generator.diffusion.state_dict().items()}
    tune = lambda anchor_weight: loss_tuning.tune_on_losses(generator, tuning, sweep, SWEEP, TUNING, anchor_weight,
                                                            seed=3, objectives=OBJECTIVES)
    return before, tune(0.1), tune(0.1), tune(0.0)


def weighted_loss(flat: torch.Tensor, tuning: adapters.TuningSet, batches: int = 4) -> float:
    """Mean over `batches` fixed training batches of the mean over FIXED of sum_k w_k L_k of adapters [3, P]."""
    order = adapters.training_batches(tuning.model, tuning.states, tuning.targets, SWEEP,
                                      torch.Generator().manual_seed(12))
    total = []
    with torch.no_grad():
        for _, (batch, scores_of) in zip(range(batches), order):
            scores, candidates = scores_of(flat)
            losses = adapters.batch_losses(scores, candidates, batch, tuning.item_categories, SWEEP, OBJECTIVES)
            total.append(float((losses * FIXED.T).sum(0).mean()))
    return float(np.mean(total))


def sampled(generator: generators.Generator) -> torch.Tensor:
    """Adapters for FIXED by deterministic DDIM at guidance 1 from a fixed x_T."""
    noise = torch.randn(len(FIXED), generator.n_params, generator=torch.Generator().manual_seed(11))
    with torch.no_grad():
        sample = generator.diffusion.sample_from(noise, FIXED, guidance_scale=1.0, steps=generator.config.sample_steps)
    return generator.normaliser.decode(sample)


def test_tuning_lowers_the_weighted_loss_at_fixed_requirements(setting, runs):
    """Both runs close at least a tenth of the gap between the input generator and adapters tuned directly for
    FIXED (3 epochs of adapter tuning), on the same batches."""
    tuning, _, generator = setting
    _, anchored, _, free = runs
    before = weighted_loss(sampled(generator), tuning)
    direct = adapters.tune_adapters(tuning, FIXED.numpy(), SWEEP, 0, OBJECTIVES, progress=False)
    gap = before - weighted_loss(torch.as_tensor(direct.checkpoints[:, -1]), tuning)
    assert gap > 0
    assert weighted_loss(sampled(anchored.generator), tuning) < before - 0.1 * gap
    assert weighted_loss(sampled(free.generator), tuning) < before - 0.1 * gap


def test_the_run_records_every_step_and_hands_back_a_generator_like_the_input(setting, runs):
    tuning, _, generator = setting
    _, anchored, _, free = runs
    steps = -(-len(tuning.states) // SWEEP.batch_size) * TUNING.epochs
    assert len(anchored.losses) == len(anchored.anchor_losses) == len(free.losses) == steps
    assert free.anchor_losses == []
    assert np.isfinite(anchored.losses).all() and np.isfinite(anchored.anchor_losses).all()
    tuned = anchored.generator
    assert not tuned.diffusion.training and tuned.diffusion is not generator.diffusion
    # It samples as it was tuned (DDIM, guidance 1), whatever the input's sampling settings; training ones are kept.
    assert tuned.normaliser is generator.normaliser and tuned.config.sampler == "ddim" and tuned.config.guidance == 1.0
    assert dataclasses.replace(tuned.config, sampler=generator.config.sampler,
                               guidance=generator.config.guidance) == generator.config
    assert tuned.objectives == generator.objectives and tuned.n_params == generator.n_params
    assert tuned.losses == anchored.losses and anchored.seconds > 0
    assert tuned.generate(FIXED.numpy(), guidance=1.0).shape == (len(FIXED), generator.n_params)


def test_tuning_is_seeded_leaves_the_input_alone_and_depends_on_the_anchor(setting, runs):
    _, _, generator = setting
    before, anchored, again, free = runs
    first, second, other = (run.generator.diffusion.state_dict() for run in (anchored, again, free))
    assert first.keys() == second.keys() == before.keys()
    assert all(torch.equal(first[name], second[name]) for name in first)
    assert anchored.losses == again.losses
    assert any(not torch.equal(first[name], other[name]) for name in first)
    assert any(not torch.equal(first[name], before[name]) for name in first)  # it did move
    now = generator.diffusion.state_dict()
    assert all(torch.equal(now[name], before[name]) for name in before)
