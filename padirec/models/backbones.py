"""Sequential-recommendation backbones (SASRec, GRU4Rec) and the residual user adapter.

Conventions shared by every model here:
- items are integers 1..n_items, 0 is padding;
- a history is a LongTensor [B, L], LEFT-padded with zeros, most recent item in the
  last column, at least one item per row;
- the backbone maps a history to a user state h [B, d]; the adapter maps h to
  h + up(relu(down(h))); scores are dot products with item embeddings.

The adapter also exists as a flat parameter vector (what the diffusion model generates).
Flat layout, identical to torch.nn.utils.parameters_to_vector(Adapter(d).parameters()):
    down.weight [d//8, d] (row-major) | down.bias [d//8] | up.weight [d, d//8] | up.bias [d]
`apply_adapter` evaluates the adapter from such vectors, one or many at once, on
cached backbone states.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

ADAPTER_REDUCTION = 8


# -----------------------------------------------------------------------------
# adapter


def adapter_size(hidden: int) -> int:
    """Number of adapter parameters for user states of size `hidden` (1096 for 64)."""
    bottleneck = hidden // ADAPTER_REDUCTION
    return 2 * hidden * bottleneck + bottleneck + hidden


class Adapter(nn.Module):
    """Residual bottleneck on the user state: h + up(relu(down(h)))."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        if hidden < ADAPTER_REDUCTION:
            raise ValueError(f"adapter needs hidden >= {ADAPTER_REDUCTION}, got {hidden}")
        bottleneck = hidden // ADAPTER_REDUCTION
        self.down = nn.Linear(hidden, bottleneck)
        self.up = nn.Linear(bottleneck, hidden)
        # zero `up` so a fresh adapter is the identity: tuning starts exactly from the
        # bare frozen backbone, and the zero vector is a meaningful "no adaptation" point
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: Tensor) -> Tensor:
        return h + self.up(F.relu(self.down(h)))


def _split_flat(flat: Tensor, hidden: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Cut [R, P] flat vectors into (down_w [R,k,d], down_b [R,k], up_w [R,d,k], up_b [R,d])."""
    k = hidden // ADAPTER_REDUCTION
    r = flat.shape[0]
    sizes = [k * hidden, k, hidden * k, hidden]
    down_w, down_b, up_w, up_b = torch.split(flat, sizes, dim=1)
    return down_w.reshape(r, k, hidden), down_b, up_w.reshape(r, hidden, k), up_b


def apply_adapter(h: Tensor, flat: Tensor) -> Tensor:
    """Adapter forward from flat parameters.

    h: [..., d]; flat: [P] -> [..., d], or a stack [R, P] -> [R, ..., d] (one result
    per adapter, all R computed in one batched op).
    """
    hidden = h.shape[-1]
    if hidden < ADAPTER_REDUCTION:
        raise ValueError(f"adapter needs hidden >= {ADAPTER_REDUCTION}, got {hidden}")
    expected = adapter_size(hidden)
    if flat.dim() not in (1, 2) or flat.shape[-1] != expected:
        raise ValueError(
            f"adapter vector for hidden={hidden} must have shape [{expected}] or "
            f"[R, {expected}], got {list(flat.shape)}"
        )
    single = flat.dim() == 1
    stack = flat.unsqueeze(0) if single else flat
    down_w, down_b, up_w, up_b = _split_flat(stack, hidden)

    rows = h.reshape(-1, hidden)  # [N, d]: any leading dims are shared by all R adapters
    z = F.relu(torch.einsum("nd,rkd->rnk", rows, down_w) + down_b[:, None, :])
    out = rows + torch.einsum("rnk,rdk->rnd", z, up_w) + up_b[:, None, :]  # [R, N, d]
    out = out.reshape(stack.shape[0], *h.shape)
    return out[0] if single else out


# -----------------------------------------------------------------------------
# base class


class SequentialRecommender(nn.Module):
    """History -> user state -> (optional adapter) -> dot-product scores over items.

    Subclasses implement `encode(history) -> [B, d]`; everything else is shared.
    """

    def __init__(self, n_items: int, hidden: int) -> None:
        super().__init__()
        if n_items < 1:
            raise ValueError(f"n_items must be >= 1, got {n_items}")
        self.n_items = n_items
        self.hidden = hidden
        self.item_embedding = nn.Embedding(n_items + 1, hidden, padding_idx=0)
        # N(0, 1/d): item vectors have norm ~1, so initial dot-product scores are O(1) and
        # SASRec's sqrt(d) input scaling brings its embeddings to unit scale per coordinate
        nn.init.normal_(self.item_embedding.weight, std=hidden**-0.5)
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()
        self.adapter = Adapter(hidden)
        # a plain attribute (not in state_dict): whether user_vector goes through the adapter
        self.adapter_enabled: bool = False

    # --- user representation ---

    def encode(self, history: Tensor) -> Tensor:
        raise NotImplementedError

    def encode_sequence(self, history: Tensor) -> Tensor:
        """States after every position [B, L, d], for training on all positions of a window."""
        raise NotImplementedError

    def hidden_state(self, history: Tensor) -> Tensor:
        """Backbone user state [B, d] (never adapted); cache this once the backbone is frozen."""
        if history.dim() != 2:
            raise ValueError(f"history must be [B, L], got shape {list(history.shape)}")
        # the models read the user state at the last column, so a right-padded or empty
        # history would silently give garbage; fail loudly instead
        if bool((history[:, -1] == 0).any()):
            raise ValueError("every history must be left-padded with its most recent item in the last column")
        return self.encode(history)

    def user_vector(self, history: Tensor) -> Tensor:
        h = self.hidden_state(history)
        return self.adapter(h) if self.adapter_enabled else h

    # --- scoring ---

    def score_from_state(self, state: Tensor, candidates: Tensor) -> Tensor:
        """state [..., B, d] (already adapted), candidates [B, C] -> scores [..., B, C]."""
        return torch.einsum("...bd,bcd->...bc", state, self.item_embedding(candidates))

    def score_all_from_state(self, state: Tensor) -> Tensor:
        """state [..., d] -> scores [..., n_items + 1]; column 0 (padding) is -inf."""
        scores = state @ self.item_embedding.weight.T
        scores[..., 0] = float("-inf")  # the padding id is never a valid recommendation
        return scores

    def score(self, history: Tensor, candidates: Tensor) -> Tensor:
        return self.score_from_state(self.user_vector(history), candidates)

    def score_all(self, history: Tensor) -> Tensor:
        return self.score_all_from_state(self.user_vector(history))

    # --- adapter control ---

    def enable_adapter(self, on: bool = True) -> None:
        self.adapter_enabled = on

    def freeze_backbone(self) -> None:
        """Only the adapter stays trainable (does not change train/eval mode)."""
        for name, param in self.named_parameters():
            param.requires_grad = name.startswith("adapter.")

    def adapter_vector(self) -> Tensor:
        """Detached copy of the adapter parameters in the flat layout (module docstring)."""
        return nn.utils.parameters_to_vector(self.adapter.parameters()).detach().clone()

    def load_adapter_vector(self, flat: Tensor) -> None:
        expected = adapter_size(self.hidden)
        flat = torch.as_tensor(flat)
        if flat.dim() != 1 or flat.numel() != expected:
            raise ValueError(
                f"adapter vector for hidden={self.hidden} must have shape [{expected}], "
                f"got {list(flat.shape)}"
            )
        if not bool(torch.isfinite(flat).all()):
            raise ValueError("adapter vector contains NaN or inf")
        offset = 0
        with torch.no_grad():
            # copy_ in place keeps the Parameter objects (and any optimizer state) valid
            for param in self.adapter.parameters():
                n = param.numel()
                param.copy_(flat[offset : offset + n].view_as(param))
                offset += n


# -----------------------------------------------------------------------------
# SASRec


@dataclass
class SASRecConfig:
    hidden: int = 64
    blocks: int = 2
    heads: int = 4
    dropout: float = 0.2
    max_len: int = 20


class CausalSelfAttention(nn.Module):
    def __init__(self, config: SASRecConfig) -> None:
        super().__init__()
        if config.hidden % config.heads != 0:
            raise ValueError(f"hidden={config.hidden} is not divisible by heads={config.heads}")
        self.heads = config.heads
        self.dropout = config.dropout
        self.qkv = nn.Linear(config.hidden, 3 * config.hidden)
        self.proj = nn.Linear(config.hidden, config.hidden)

    def forward(self, x: Tensor, allowed: Tensor) -> Tensor:
        """x [B, L, d]; allowed [B, 1, L, L] bool, True where query i may attend key j."""
        b, l, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        q, k, v = (t.view(b, l, self.heads, d // self.heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=allowed, dropout_p=self.dropout if self.training else 0.0
        )
        return self.proj(y.transpose(1, 2).reshape(b, l, d))


class SASRecBlock(nn.Module):
    """Pre-LayerNorm transformer block: x + attn(ln(x)), then x + ffn(ln(x))."""

    def __init__(self, config: SASRecConfig) -> None:
        super().__init__()
        self.ln_attn = nn.LayerNorm(config.hidden)
        self.attn = CausalSelfAttention(config)
        self.ln_ffn = nn.LayerNorm(config.hidden)
        self.ffn = nn.Sequential(
            nn.Linear(config.hidden, config.hidden),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden, config.hidden),
        )
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor, allowed: Tensor) -> Tensor:
        x = x + self.dropout(self.attn(self.ln_attn(x), allowed))
        return x + self.dropout(self.ffn(self.ln_ffn(x)))


class SASRec(SequentialRecommender):
    """Self-attentive sequential recommendation (Kang & McAuley, 2018), pre-LN variant.

    Positions are counted from the most recent item (position 0 = last column), so the
    same items get the same positions whatever the amount of left padding. Histories
    longer than max_len keep their max_len most recent items.
    """

    def __init__(self, n_items: int, config: SASRecConfig | None = None) -> None:
        config = config or SASRecConfig()
        super().__init__(n_items, config.hidden)
        self.config = config
        self.position_embedding = nn.Embedding(config.max_len, config.hidden)
        nn.init.normal_(self.position_embedding.weight, std=0.02)
        self.embedding_dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(SASRecBlock(config) for _ in range(config.blocks))
        self.ln_final = nn.LayerNorm(config.hidden)

    def encode(self, history: Tensor) -> Tensor:
        return self.encode_sequence(history)[:, -1]  # the last column is the most recent real item

    def encode_sequence(self, history: Tensor) -> Tensor:
        """States after every position [B, L, d] (pads give zeros); trains on all positions at once."""
        history = history[:, -self.config.max_len :]
        l = history.shape[1]
        real = history != 0  # [B, L]
        timeline = real.unsqueeze(-1).to(self.item_embedding.weight.dtype)  # [B, L, 1]

        positions = torch.arange(l - 1, -1, -1, device=history.device)  # right-aligned
        x = self.item_embedding(history) * math.sqrt(self.hidden) + self.position_embedding(positions)
        x = self.embedding_dropout(x) * timeline

        # causal attention restricted to real keys, so the amount of left padding never
        # reaches a real row. Every position may also see itself: the leading pad rows (no
        # real key before them) are then never fully masked, which would give NaN. Pad rows
        # are also zeroed after each block (timeline mask, as in SASRec.pytorch).
        causal = torch.ones(l, l, dtype=torch.bool, device=history.device).tril()
        self_only = torch.eye(l, dtype=torch.bool, device=history.device)
        allowed = causal & (real[:, None, :] | self_only)  # [B, L, L]
        allowed = allowed.unsqueeze(1)  # broadcast over heads

        for block in self.blocks:
            x = block(x, allowed) * timeline
        return self.ln_final(x) * timeline


# -----------------------------------------------------------------------------
# GRU4Rec


@dataclass
class GRU4RecConfig:
    hidden: int = 64
    layers: int = 1
    dropout: float = 0.2
    max_len: int = 20


class GRU4Rec(SequentialRecommender):
    """GRU over the item sequence (Hidasi et al., 2016); user state = hidden after the last item."""

    def __init__(self, n_items: int, config: GRU4RecConfig | None = None) -> None:
        config = config or GRU4RecConfig()
        super().__init__(n_items, config.hidden)
        self.config = config
        self.embedding_dropout = nn.Dropout(config.dropout)
        self.gru = nn.GRU(
            config.hidden,
            config.hidden,
            num_layers=config.layers,
            batch_first=True,
            dropout=config.dropout if config.layers > 1 else 0.0,  # between layers only
        )

    def encode(self, history: Tensor) -> Tensor:
        return self.encode_sequence(history)[:, -1]

    def encode_sequence(self, history: Tensor) -> Tensor:
        """States after every position [B, L, d], right-aligned like the input; pads give zeros."""
        b, l = history.shape
        lengths = (history != 0).sum(dim=1).clamp(min=1)  # [B]
        # left-aligned copy: row b holds its items at columns 0..len-1, as packing expects.
        # Running the GRU over leading pads instead would change the state with the pad count.
        columns = torch.arange(l, device=history.device)
        shift = (l - lengths)[:, None]
        source = (columns[None, :] + shift).clamp(max=l - 1)
        left = history.gather(1, source).masked_fill(columns[None, :] >= lengths[:, None], 0)

        x = self.embedding_dropout(self.item_embedding(left))
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        outputs, _ = self.gru(packed)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=l)  # [B, L, d] left-aligned
        # back to right alignment: column c holds left column c - shift
        back = (columns[None, :] - shift).clamp(min=0)
        right = outputs.gather(1, back.unsqueeze(-1).expand(-1, -1, self.hidden))
        return right * (columns[None, :] >= shift).unsqueeze(-1).to(right.dtype)


# -----------------------------------------------------------------------------
# registry


# name -> (model class, config dataclass); a new backbone needs only a class and an entry
BACKBONES: dict[str, tuple[type, type]] = {
    "sasrec": (SASRec, SASRecConfig),
    "gru4rec": (GRU4Rec, GRU4RecConfig),
}


def build_backbone(name: str, n_items: int, **config: object) -> SequentialRecommender:
    """Build a registered backbone, e.g. build_backbone("sasrec", 1000, hidden=64, blocks=2)."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; known: {sorted(BACKBONES)}")
    model_cls, config_cls = BACKBONES[name]
    known = {f.name for f in fields(config_cls)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(f"unknown config keys {unknown} for backbone {name!r}; known: {sorted(known)}")
    return model_cls(n_items, config_cls(**config))
