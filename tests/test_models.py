"""Unit tests for padirec.models.backbones (tiny sizes, CPU only)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from padirec.models.backbones import (
    ADAPTER_REDUCTION,
    BACKBONES,
    Adapter,
    GRU4Rec,
    GRU4RecConfig,
    SASRec,
    SASRecConfig,
    SequentialRecommender,
    adapter_size,
    apply_adapter,
    build_backbone,
)

N_ITEMS = 30
HIDDEN = 16
MAX_LEN = 20


def make_model(name: str, **config: object) -> SequentialRecommender:
    torch.manual_seed(0)
    config = {"hidden": HIDDEN, **config}
    return build_backbone(name, N_ITEMS, **config).eval()


def left_pad(rows: list[list[int]], length: int = MAX_LEN) -> torch.Tensor:
    return torch.tensor([[0] * (length - len(r)) + r for r in rows], dtype=torch.long)


def random_histories(batch: int, length: int = MAX_LEN, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, length + 1, (batch,), generator=g).tolist()
    rows = [torch.randint(1, N_ITEMS + 1, (n,), generator=g).tolist() for n in lengths]
    return left_pad(rows, length)


def random_adapter(hidden: int, seed: int = 0) -> Adapter:
    torch.manual_seed(seed)
    adapter = Adapter(hidden)
    nn.init.normal_(adapter.up.weight)  # make it a non-identity adapter
    nn.init.normal_(adapter.up.bias)
    return adapter


def random_vector(hidden: int = HIDDEN, seed: int = 0) -> torch.Tensor:
    return torch.randn(adapter_size(hidden), generator=torch.Generator().manual_seed(seed))


BOTH = pytest.mark.parametrize("name", ["sasrec", "gru4rec"])


# --- adapter ------------------------------------------------------------------


def test_adapter_parameter_count() -> None:
    assert ADAPTER_REDUCTION == 8
    assert adapter_size(64) == 1096
    assert sum(p.numel() for p in Adapter(64).parameters()) == 1096
    assert sum(p.numel() for p in Adapter(HIDDEN).parameters()) == adapter_size(HIDDEN)
    assert Adapter(64).down.out_features == 8


def test_fresh_adapter_is_identity() -> None:
    h = torch.randn(5, HIDDEN)
    torch.testing.assert_close(Adapter(HIDDEN)(h), h, rtol=0, atol=0)


def test_flat_layout_matches_parameters_to_vector() -> None:
    adapter = random_adapter(HIDDEN)
    flat = nn.utils.parameters_to_vector(adapter.parameters())
    k = HIDDEN // ADAPTER_REDUCTION
    torch.testing.assert_close(flat[: k * HIDDEN].view(k, HIDDEN), adapter.down.weight)
    torch.testing.assert_close(flat[-HIDDEN:], adapter.up.bias)


def test_apply_adapter_single_matches_module() -> None:
    adapter = random_adapter(HIDDEN)
    flat = nn.utils.parameters_to_vector(adapter.parameters()).detach()
    h = torch.randn(2, 3, HIDDEN)
    out = apply_adapter(h, flat)
    assert out.shape == (2, 3, HIDDEN)
    torch.testing.assert_close(out, adapter(h))
    assert not torch.allclose(out, h)


def test_apply_adapter_stack_matches_loop() -> None:
    adapters = [random_adapter(HIDDEN, seed=s) for s in range(3)]
    flats = torch.stack([nn.utils.parameters_to_vector(a.parameters()).detach() for a in adapters])
    h = torch.randn(4, HIDDEN)
    out = apply_adapter(h, flats)
    assert out.shape == (3, 4, HIDDEN)
    for r in range(3):
        torch.testing.assert_close(out[r], apply_adapter(h, flats[r]))
        torch.testing.assert_close(out[r], adapters[r](h))


def test_apply_adapter_wrong_size_raises() -> None:
    h = torch.randn(4, HIDDEN)
    expected = adapter_size(HIDDEN)
    with pytest.raises(ValueError, match=rf"{expected}.*{expected + 1}"):
        apply_adapter(h, torch.zeros(expected + 1))
    with pytest.raises(ValueError, match=str(expected)):
        apply_adapter(h, torch.zeros(2, expected - 1))
    with pytest.raises(ValueError):
        apply_adapter(h, torch.zeros(2, 2, expected))


# --- base-class behaviour, both backbones ---------------------------------------


@BOTH
def test_score_shapes_and_padding_column(name: str) -> None:
    model = make_model(name)
    history = random_histories(4)
    candidates = torch.randint(1, N_ITEMS + 1, (4, 7))
    assert model.hidden_state(history).shape == (4, HIDDEN)
    assert model.score(history, candidates).shape == (4, 7)
    scores = model.score_all(history)
    assert scores.shape == (4, N_ITEMS + 1)
    assert torch.isneginf(scores[:, 0]).all()
    assert torch.isfinite(scores[:, 1:]).all()
    # score and score_all agree on the same items
    torch.testing.assert_close(scores.gather(1, candidates), model.score(history, candidates))


@BOTH
def test_adapter_vector_round_trip_changes_scores(name: str) -> None:
    model = make_model(name)
    model.enable_adapter()
    history = random_histories(4)
    before = model.score_all(history)
    assert model.adapter_vector().shape == (adapter_size(HIDDEN),)
    assert not model.adapter_vector()[-HIDDEN * (HIDDEN // ADAPTER_REDUCTION + 1) :].any()  # fresh `up` is zero

    flat = random_vector()
    model.load_adapter_vector(flat)
    torch.testing.assert_close(model.adapter_vector(), flat)
    after = model.score_all(history)
    assert not torch.allclose(after[:, 1:], before[:, 1:])
    torch.testing.assert_close(after, model.score_all_from_state(apply_adapter(model.hidden_state(history), flat)))

    # adapter_vector is a detached copy: editing it leaves the model alone
    copy = model.adapter_vector()
    copy += 1.0
    torch.testing.assert_close(model.adapter_vector(), flat)
    assert not copy.requires_grad


@BOTH
def test_load_adapter_vector_rejects_bad_input(name: str) -> None:
    model = make_model(name)
    flat = random_vector()
    model.load_adapter_vector(flat)
    expected = adapter_size(HIDDEN)
    with pytest.raises(ValueError, match=rf"{expected}.*{expected - 1}"):
        model.load_adapter_vector(torch.zeros(expected - 1))
    with pytest.raises(ValueError):
        model.load_adapter_vector(torch.zeros(1, expected))
    bad = flat.clone()
    bad[3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        model.load_adapter_vector(bad)
    bad[3] = float("inf")
    with pytest.raises(ValueError):
        model.load_adapter_vector(bad)
    torch.testing.assert_close(model.adapter_vector(), flat)  # failed loads change nothing


@BOTH
def test_disabled_adapter_does_not_affect_scores(name: str) -> None:
    model = make_model(name)
    history = random_histories(4)
    candidates = torch.randint(1, N_ITEMS + 1, (4, 5))
    bare = model.score(history, candidates)
    model.load_adapter_vector(random_vector())
    assert not model.adapter_enabled
    torch.testing.assert_close(model.score(history, candidates), bare)
    torch.testing.assert_close(model.user_vector(history), model.hidden_state(history))
    model.enable_adapter()
    assert not torch.allclose(model.score(history, candidates), bare)
    model.enable_adapter(False)
    torch.testing.assert_close(model.score(history, candidates), bare)


@BOTH
def test_freeze_backbone_leaves_only_adapter(name: str) -> None:
    model = make_model(name)
    model.freeze_backbone()
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert sorted(trainable) == ["adapter.down.bias", "adapter.down.weight", "adapter.up.bias", "adapter.up.weight"]
    # gradients do flow to the adapter through the frozen backbone's output
    model.enable_adapter()
    model.score_all(random_histories(3))[:, 1:].sum().backward()
    assert model.adapter.up.weight.grad is not None
    assert model.item_embedding.weight.grad is None


@BOTH
def test_score_matches_score_from_cached_state(name: str) -> None:
    model = make_model(name)
    model.enable_adapter()
    history = random_histories(4)
    candidates = torch.randint(1, N_ITEMS + 1, (4, 6))
    flats = torch.stack([random_vector(seed=s) for s in range(3)])
    state = model.hidden_state(history)
    stacked = model.score_from_state(apply_adapter(state, flats), candidates)
    stacked_all = model.score_all_from_state(apply_adapter(state, flats))
    assert stacked.shape == (3, 4, 6)
    assert stacked_all.shape == (3, 4, N_ITEMS + 1)
    for r in range(3):
        model.load_adapter_vector(flats[r])
        torch.testing.assert_close(stacked[r], model.score(history, candidates))
        torch.testing.assert_close(stacked_all[r], model.score_all(history))


@BOTH
def test_right_padded_history_is_rejected(name: str) -> None:
    model = make_model(name)
    with pytest.raises(ValueError, match="left-padded"):
        model.hidden_state(torch.tensor([[3, 4, 0, 0]]))


# --- padding behaviour -------------------------------------------------------


@pytest.mark.parametrize("train", [False, True])
def test_sasrec_heavy_padding_has_no_nan(train: bool) -> None:
    model = make_model("sasrec").train(train)
    history = left_pad([[5], [7, 8], list(range(1, 21))])
    state = model.hidden_state(history)
    assert torch.isfinite(state).all()
    model.score_all(history)[:, 1:].sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@BOTH
def test_state_is_independent_of_padding_and_batch(name: str) -> None:
    model = make_model(name)
    rows = [[4, 9, 2], [11], [3, 3, 6, 1, 8, 30, 12]]
    history = left_pad(rows)
    state = model.hidden_state(history)
    # same items and same padding give the same state, in any batch
    torch.testing.assert_close(model.hidden_state(left_pad([rows[0]] * 2)), state[[0, 0]])
    for i, row in enumerate(rows):
        torch.testing.assert_close(model.hidden_state(left_pad([row])), state[i : i + 1], atol=1e-5, rtol=1e-5)
    # fewer leading pad columns (down to none) give the same state
    for length in (7, 12):
        torch.testing.assert_close(model.hidden_state(left_pad(rows, length)), state, atol=1e-5, rtol=1e-5)
    # but an extra real item where a pad was does change it
    longer = model.hidden_state(left_pad([[5] + rows[0]]))
    assert not torch.allclose(longer, state[:1], atol=1e-4)


def test_gru4rec_longer_padding_gives_same_state() -> None:
    model = make_model("gru4rec")
    rows = [[4, 9, 2], [11], [3, 3, 6, 1, 8, 30, 12]]
    state = model.hidden_state(left_pad(rows, MAX_LEN))
    torch.testing.assert_close(model.hidden_state(left_pad(rows, MAX_LEN + 5)), state, atol=1e-6, rtol=1e-5)
    # and it is the GRU's hidden after the last real item, as if run without padding
    for i, row in enumerate(rows):
        _, last = model.gru(model.item_embedding(torch.tensor([row])))
        torch.testing.assert_close(last[-1], state[i : i + 1], atol=1e-6, rtol=1e-5)


def test_sasrec_history_order_matters() -> None:
    model = make_model("sasrec")
    a, b = model.hidden_state(left_pad([[1, 2, 3], [2, 1, 3]]))
    assert not torch.allclose(a, b, atol=1e-4)  # positions and earlier items are used


def test_sasrec_state_is_last_position_output() -> None:
    # without blocks the state is the final LayerNorm of the last input: the most recent
    # item scaled by sqrt(d) plus the position-0 (most recent) embedding
    model = make_model("sasrec", blocks=0)
    state = model.hidden_state(left_pad([[1, 2, 3], [5, 3]]))
    expected = model.ln_final(model.item_embedding.weight[3] * HIDDEN**0.5 + model.position_embedding.weight[0])
    torch.testing.assert_close(state, expected.expand(2, HIDDEN))


def test_sasrec_keeps_most_recent_max_len_items() -> None:
    model = make_model("sasrec", max_len=5)
    history = torch.tensor([[9, 8, 1, 2, 3, 4, 5]])
    torch.testing.assert_close(model.hidden_state(history), model.hidden_state(history[:, -5:]))


# --- registry ----------------------------------------------------------------


def test_build_backbone_types_and_config() -> None:
    sasrec = build_backbone("sasrec", N_ITEMS, hidden=32, blocks=1, heads=2)
    assert isinstance(sasrec, SASRec) and sasrec.config == SASRecConfig(hidden=32, blocks=1, heads=2)
    assert len(sasrec.blocks) == 1 and sasrec.item_embedding.weight.shape == (N_ITEMS + 1, 32)
    gru = build_backbone("gru4rec", N_ITEMS, layers=2)
    assert isinstance(gru, GRU4Rec) and gru.config == GRU4RecConfig(layers=2) and gru.gru.num_layers == 2
    assert gru.hidden == 64 and gru.n_items == N_ITEMS


def test_build_backbone_errors() -> None:
    with pytest.raises(ValueError, match=r"'bert4rec'.*gru4rec.*sasrec"):
        build_backbone("bert4rec", N_ITEMS)
    with pytest.raises(ValueError, match="layers"):
        build_backbone("sasrec", N_ITEMS, layers=2)


def test_registry_needs_only_class_and_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import dataclass

    @dataclass
    class MeanConfig:
        hidden: int = 16

    class MeanPool(SequentialRecommender):
        def __init__(self, n_items: int, config: MeanConfig) -> None:
            super().__init__(n_items, config.hidden)

        def encode(self, history: torch.Tensor) -> torch.Tensor:
            return self.item_embedding(history).sum(1)

    monkeypatch.setitem(BACKBONES, "mean", (MeanPool, MeanConfig))
    model = build_backbone("mean", N_ITEMS)
    assert model.score_all(random_histories(2)).shape == (2, N_ITEMS + 1)


# --- training sanity -----------------------------------------------------------


@BOTH
def test_few_steps_reduce_next_item_loss(name: str) -> None:
    torch.manual_seed(0)
    model = build_backbone(name, N_ITEMS, hidden=HIDDEN, dropout=0.1).train()
    # toy task: sequences count upward, next item = last + 1
    starts = torch.randint(1, N_ITEMS - 8, (64,))
    seq = starts[:, None] + torch.arange(6)
    history, target = left_pad(seq[:, :5].tolist()), seq[:, 5]
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = F.cross_entropy(model.score_all(history), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("name", ["sasrec", "gru4rec"])
def test_encode_sequence_ends_with_the_user_state(name):
    torch.manual_seed(0)
    model = build_backbone(name, 30, hidden=16).eval()
    history = torch.tensor([[0, 0, 0, 4, 5, 6], [1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 0, 9]])
    states = model.encode_sequence(history)
    assert states.shape == (3, 6, 16)
    assert torch.allclose(states[:, -1], model.hidden_state(history), atol=1e-6)
    assert torch.all(states[0, :3] == 0) and torch.all(states[2, :5] == 0)


def test_gru_sequence_states_are_prefix_states():
    """Each column of a GRU's sequence states is the state of the history up to that column."""
    torch.manual_seed(0)
    model = build_backbone("gru4rec", 30, hidden=16).eval()
    history = torch.tensor([[0, 0, 7, 8, 9, 10]])
    states = model.encode_sequence(history)
    for column in range(2, 6):
        prefix = torch.cat([torch.zeros(1, 5 - column, dtype=torch.long), history[:, 2:column + 1]], dim=1)
        assert torch.allclose(states[0, column], model.hidden_state(prefix)[0], atol=1e-6)
