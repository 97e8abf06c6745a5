"""Checks of the denoiser's structure: tokens, adaLN-Zero identity start, per-sample attention, null
condition, and the vmap-able attention."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from diffusion_helpers import K, P, inputs, perturb_modulation, tiny_denoiser
from padirec.models.diffusion.denoiser import AdaLNBlock


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



def test_hand_written_attention_equals_the_module():
    torch.manual_seed(0)
    block = AdaLNBlock(32, 4).eval()
    h = torch.randn(5, 7, 32)
    torch.testing.assert_close(block.self_attention(h), block.attn(h, h, h, need_weights=False)[0])
