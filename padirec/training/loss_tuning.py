"""PaDiRec + loss tuning: the trained generator fine-tuned on the losses of the adapters it generates.

DRaFT (Clark et al. 2023, arXiv 2309.17400) fine-tunes a diffusion model by back-propagating a differentiable
reward through its sampler. Here the reward is minus the weighted training loss sum_k w_k L_k of the adapters
sampled for requirements w drawn uniformly on the simplex, on the same cached states, batches and negatives as
adapter tuning (`padirec.training.adapters`) and the Hypernetwork baseline. Sampling is deterministic DDIM from
a drawn x_T, and gradients flow through its last `grad_steps` steps only (DRaFT-K).

Guidance is 1 (the plain conditional model): the guided mix u + s (c - u) needs the unconditional branch,
which a loss on requirement-conditioned adapters does not train, so only the branch that is tuned is sampled.
The anchor, the ordinary diffusion loss on the sweep's checkpoints (condition dropout included), keeps the
model near the adapters it was trained on and its unconditional branch alive; at weight 0 there is no anchor
and the generator becomes a stochastic hypernetwork.
"""
from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import dataclass

import torch

from padirec.models.backbones import adapter_size
from padirec.models.diffusion.schedulers import normal_noise
from padirec.objectives import requirements
from padirec.pipeline.artifacts import AdapterSweep
from padirec.pipeline.progress import bar as progress_bar
from padirec.pipeline.sections import LossTuningConfig, SweepConfig
from padirec.training.adapters import TuningSet, batch_losses, training_batches
from padirec.training.generators import Generator, Normaliser, training_pairs

__all__ = ["LossTuningRun", "tune_on_losses"]


@dataclass
class LossTuningRun:
    generator: Generator  # the fine-tuned generator, eval mode, same normaliser, config and objectives as the input
    losses: list[float]  # weighted training loss per step (the task; the step minimised it + anchor_weight * anchor)
    anchor_losses: list[float]  # diffusion loss on the anchor per step (empty when anchor_weight == 0)
    seconds: float


def tune_on_losses(generator: Generator, tuning: TuningSet, anchor: AdapterSweep, sweep: SweepConfig,
                   config: LossTuningConfig, anchor_weight: float, seed: int, objectives: list[str],
                   progress: bool = False) -> LossTuningRun:
    """Fine-tune a copy of `generator` (the input is left as it is) for `config.epochs` passes over the training
    batches, one Adam step per batch, on the mean over `config.requirements_per_batch` drawn requirements of their
    weighted losses, plus `anchor_weight` times the diffusion loss on a batch of `anchor`'s checkpoints.

    One CPU generator seeded by `seed` draws the batches, requirements, x_T, anchor batches and their noise, and
    the global seed is set too, so a seed means the same run on every device; the work runs on the states' device.
    """
    if list(objectives) != list(generator.objectives):
        raise ValueError(f"the generator was trained for objectives {generator.objectives}, not {list(objectives)}")
    if generator.n_params != adapter_size(tuning.model.hidden):
        raise ValueError(f"the generator makes {generator.n_params} parameters, the backbone's adapter has "
                         f"{adapter_size(tuning.model.hidden)}: a generator of another backbone")
    if not anchor_weight >= 0:
        raise ValueError(f"anchor_weight must be at least 0, got {anchor_weight}")
    device = tuning.states.device
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    diffusion = copy.deepcopy(generator.diffusion).to(device).requires_grad_(True).train()  # an EMA copy is frozen
    optimizer = torch.optim.Adam(diffusion.parameters(), lr=config.lr)
    normaliser = Normaliser(generator.normaliser.mean.to(device), generator.normaliser.scale.to(device))
    steps = generator.config.sample_steps
    grad_steps = min(config.grad_steps, steps)
    if anchor_weight > 0:
        vectors, anchor_conds = training_pairs(anchor)
        anchor_x0, anchor_conds = normaliser.encode(vectors.to(device)), anchor_conds.to(device)
    like = torch.empty(0, device=device)  # x_T is drawn on the CPU generator and moved here
    losses: list[float] = []
    anchor_losses: list[float] = []
    started = time.perf_counter()
    for _ in progress_bar(range(config.epochs), desc="loss-tuning epochs", show=progress):
        for batch, scores_of in training_batches(tuning.model, tuning.states, tuning.targets, sweep, gen):
            weights = requirements.sample(config.requirements_per_batch, len(objectives), gen).to(device)  # [R, K]
            noise = normal_noise((len(weights), generator.n_params), like, gen)  # x_T [R, P]
            sample = diffusion.sample_from(noise, weights, guidance_scale=1.0, sampler="ddim", steps=steps,
                                           grad_steps=grad_steps)
            scores, candidates = scores_of(normaliser.decode(sample))
            task_losses = batch_losses(scores, candidates, batch, tuning.item_categories, sweep, objectives,
                                       tuning.data)  # [K, R]
            loss = (task_losses * weights.T).sum(0).mean()
            losses.append(loss.item())
            if anchor_weight > 0:
                idx = torch.randint(0, len(anchor_x0), (generator.config.batch_size,), generator=gen).to(device)
                anchor_loss = diffusion.loss(anchor_x0[idx], anchor_conds[idx], generator=gen)
                loss = loss + anchor_weight * anchor_loss
                anchor_losses.append(anchor_loss.item())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    seconds = time.perf_counter() - started
    optimizer.zero_grad(set_to_none=True)  # no gradients kept beside the weights
    diffusion.eval().requires_grad_(False)  # frozen, as a trained generator's EMA model is
    # It samples as it was tuned: DDIM over the same steps, at guidance 1, whatever the settings say.
    sampling = dataclasses.replace(generator.config, sampler="ddim", guidance=1.0)
    tuned = Generator(diffusion, generator.normaliser, sampling, list(generator.objectives),
                      generator.n_params, losses, seconds)
    return LossTuningRun(tuned, losses, anchor_losses, seconds)
