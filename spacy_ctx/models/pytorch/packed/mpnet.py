"""MPNet's layers on packed rows.

MPNet is BERT-shaped (RoBERTa's positions in its embeddings) and adds a
relative position bias to every layer's attention scores: one table of
buckets by signed distance, shared across the layers, as its encoder
computes it once per forward. Here it is made once per length of the
batch's runs and shared the same way; relative distances within a
sequence are the same packed as padded, since its real wordpieces are one
block either way.
"""
import math
from typing import List, Optional

import torch
from torch import nn

from .core import Family, Pass, attention, output_block, projections, unfit_layers

PARTS = (
    "attention.attn.q",
    "attention.attn.k",
    "attention.attn.v",
    "attention.attn.o",
    "attention.LayerNorm",
    "intermediate.dense",
    "output.dense",
    "output.LayerNorm",
)
# What MPNetEncoder.compute_position_bias uses: its call passes no
# num_buckets, whatever the config's relative_attention_num_buckets.
N_BUCKETS, MAX_DISTANCE = 32, 128


def refuse(model: nn.Module) -> Optional[str]:
    encoder = getattr(model, "encoder", None)
    layers = getattr(encoder, "layer", None)
    if not isinstance(layers, nn.ModuleList) or not hasattr(model, "embeddings"):
        return "no embeddings and encoder.layer: not the base model"
    if not isinstance(getattr(encoder, "relative_attention_bias", None), nn.Embedding):
        return "no relative_attention_bias table"
    return unfit_layers(layers, PARTS, lambda layer: layer.attention)


def buckets(length: int, device: torch.device) -> torch.Tensor:
    """[length, length] bucket of each (query, key) distance, as MPNet's
    relative_position_bucket: half the buckets per sign, exact up to a
    quarter of them, logarithmic up to MAX_DISTANCE."""
    positions = torch.arange(length, dtype=torch.long, device=device)
    n = positions[:, None] - positions[None, :]  # query - key
    half = N_BUCKETS // 2
    out = (n < 0).to(torch.long) * half
    n = n.abs()
    exact = half // 2
    large = exact + (torch.log(n.float() / exact) / math.log(MAX_DISTANCE / exact) * (half - exact)).to(torch.long)
    large = torch.min(large, torch.full_like(large, half - 1))
    return out + torch.where(n < exact, n, large)


def position_bias(model: nn.Module, length: int) -> torch.Tensor:
    """[1, heads, length, length]: what MPNet adds to the scaled scores."""
    table = model.encoder.relative_attention_bias
    return table(buckets(length, table.weight.device)).permute(2, 0, 1).unsqueeze(0)


def embed(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    # On the padded ids: position ids count from the padding id, as in the
    # model's own forward.
    embedded = model.embeddings(input_ids=input_ids)
    return embedded.reshape(-1, embedded.shape[-1]).index_select(0, index)


def linears(layer: nn.Module) -> List[nn.Module]:
    attn = layer.attention.attn
    return [attn.q, attn.k, attn.v, attn.o, layer.intermediate.dense, layer.output.dense]


def forward(model: nn.Module, layer: nn.Module, hidden: torch.Tensor, run: Pass) -> torch.Tensor:
    """One MPNet layer on packed [n_real, width] states."""
    bias = run.per_length("mpnet", lambda length: position_bias(model, length))
    attn = layer.attention.attn
    q, k, v = projections(hidden, [attn.q, attn.k, attn.v], run.fused)
    dropout = attn.dropout.p if attn.training else 0.0
    context = attention(q, k, v, run.runs, attn.num_attention_heads, dropout, bias=lambda r, *_: bias[r[2]])
    inner, out = layer.intermediate, layer.output
    return output_block(
        context, hidden, run, attn.o, layer.attention.LayerNorm, inner.dense, inner.intermediate_act_fn,
        out.dense, out.LayerNorm, layer.attention.dropout, out.dropout,
    )


FAMILY = Family(
    name="MPNet",
    model_types=("mpnet",),
    refuse=refuse,
    embed=embed,
    layers=lambda model: model.encoder.layer,
    forward=forward,
    linears=linears,
    activation=lambda config: getattr(config, "hidden_act", None),
    relative=True,
)
