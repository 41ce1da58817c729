"""The T5 encoder's layers on packed rows (T5EncoderModel).

T5 has no position embeddings: the first layer's table of buckets by
signed distance gives a bias that every layer adds to its unscaled
scores, made here once per length of the batch's runs. Its norms are RMS
norms without biases, its linears have no biases (so oneDNN's fused
linears, which take one, do not apply: the modules run), and its final
norm applies to the last hidden state alone. Relative distances within a
sequence are the same packed as padded, since its real wordpieces are one
block either way.
"""
import math
from typing import List, Optional

import torch
from torch import nn

from .core import Family, Pass, attention, pruned


def refuse(model: nn.Module) -> Optional[str]:
    if hasattr(model, "decoder"):
        return "an encoder-decoder: its encoder runs as T5EncoderModel"
    encoder = getattr(model, "encoder", None)
    blocks = getattr(encoder, "block", None)
    if not isinstance(blocks, nn.ModuleList) or not len(blocks) or getattr(encoder, "is_decoder", False):
        return "no encoder.block of an encoder stack"
    first = blocks[0].layer[0].SelfAttention
    if not getattr(first, "has_relative_attention_bias", False):
        return "no relative attention bias in its first layer"
    if pruned([block.layer[0].SelfAttention for block in blocks]):
        return "pruned attention heads"
    return None


def buckets(attn: nn.Module, length: int, device: torch.device) -> torch.Tensor:
    """[length, length] bucket of each (query, key) distance, as T5's
    bidirectional relative_position_bucket."""
    positions = torch.arange(length, dtype=torch.long, device=device)
    rel = positions[None, :] - positions[:, None]  # key - query
    half = attn.relative_attention_num_buckets // 2
    out = (rel > 0).to(torch.long) * half
    rel = rel.abs()
    exact = half // 2
    large = exact + (
        torch.log(rel.float() / exact) / math.log(attn.relative_attention_max_distance / exact) * (half - exact)
    ).to(torch.long)
    large = torch.min(large, torch.full_like(large, half - 1))
    return out + torch.where(rel < exact, rel, large)


def position_bias(model: nn.Module, length: int) -> torch.Tensor:
    """[1, heads, length, length]: what every layer adds to its scores."""
    attn = model.encoder.block[0].layer[0].SelfAttention
    table = attn.relative_attention_bias
    return table(buckets(attn, length, table.weight.device)).permute(2, 0, 1).unsqueeze(0)


def embed(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    # No positions in T5's embeddings: only the real ids are looked up.
    encoder = model.encoder
    return encoder.dropout(encoder.embed_tokens(input_ids.reshape(-1).index_select(0, index)))


def forward(model: nn.Module, block: nn.Module, hidden: torch.Tensor, run: Pass) -> torch.Tensor:
    """One T5Block of the encoder on packed [n_real, width] states."""
    bias = run.per_length("t5", lambda length: position_bias(model, length))
    self_attention = block.layer[0]
    attn = self_attention.SelfAttention
    normed = self_attention.layer_norm(hidden)
    dropout = attn.dropout if attn.training else 0.0
    context = attention(
        attn.q(normed), attn.k(normed), attn.v(normed), run.runs, attn.n_heads, dropout,
        bias=lambda r, *_: bias[r[2]], scale=1.0,  # T5 does not scale its scores
    )
    hidden = hidden + self_attention.dropout(attn.o(context))
    if hidden.dtype == torch.float16:
        hidden = _clamp(hidden)
    # T5LayerFF: norm, feed-forward and residual, each token alone.
    hidden = block.layer[-1](hidden)
    return _clamp(hidden) if hidden.dtype == torch.float16 else hidden


def _clamp(hidden: torch.Tensor) -> torch.Tensor:
    # T5Block keeps float16 states finite this way.
    limit = torch.finfo(hidden.dtype).max
    limit = torch.where(torch.isinf(hidden).any(), limit - 1000, limit)
    return torch.clamp(hidden, min=-limit, max=limit)


def finish(model: nn.Module, states: List[torch.Tensor], top: int) -> List[torch.Tensor]:
    """The last hidden state, as T5Stack returns it, is after its final norm."""
    if top == len(model.encoder.block):
        encoder = model.encoder
        states[-1] = encoder.dropout(encoder.final_layer_norm(states[-1]))
    return states


FAMILY = Family(
    name="T5 encoder",
    model_types=("t5",),
    refuse=refuse,
    embed=embed,
    layers=lambda model: model.encoder.block,
    forward=forward,
    linears=lambda block: [],  # no biases: oneDNN's fused linear needs one
    activation=lambda config: getattr(config, "dense_act_fn", None),
    relative=True,
    finish=finish,
)
