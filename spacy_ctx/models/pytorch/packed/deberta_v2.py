"""DeBERTa-v2/v3's layers on packed rows, with its disentangled attention.

Besides content-to-content scores, each layer adds content-to-position
(c2p: a query against the relative-position embeddings' keys) and
position-to-content (p2c: a key against their queries) scores, read at
each pair's relative position, log-bucketed. Those indices depend on the
length alone: they are made once per length of the batch's runs. The
position embeddings' projections depend on the layer alone: made once per
layer. What depends on the content (the two products and their gathers)
is computed per run, on its real rows only. Relative distances within a
sequence are the same packed as padded, since its real wordpieces are one
block either way.
"""
import math
from typing import List, Optional, Tuple

import torch
from torch import nn

from .core import Family, Pass, attention, output_block, projections, unfit_layers

PARTS = (
    "attention.self.query_proj",
    "attention.self.key_proj",
    "attention.self.value_proj",
    "attention.output.dense",
    "attention.output.LayerNorm",
    "intermediate.dense",
    "output.dense",
    "output.LayerNorm",
)


def refuse(model: nn.Module) -> Optional[str]:
    encoder = getattr(model, "encoder", None)
    layers = getattr(encoder, "layer", None)
    if not isinstance(layers, nn.ModuleList) or not hasattr(model, "embeddings"):
        return "no embeddings and encoder.layer: not the base model"
    if getattr(encoder, "conv", None) is not None:
        return "a convolution over the sequence after its first layer (conv_kernel_size)"
    reason = unfit_layers(layers, PARTS)
    if reason is not None:
        return reason
    kinds = set(layers[0].attention.self.pos_att_type) if layers else set()
    if not kinds <= {"c2p", "p2c"}:
        return f"position attention types {sorted(kinds - {'c2p', 'p2c'})}"
    return None


def relative_positions(attn: nn.Module, length: int, device: torch.device) -> torch.Tensor:
    """[length, length] query - key, log-bucketed as DeBERTa-v2's
    build_relative_position does when the model has position buckets."""
    ids = torch.arange(length, dtype=torch.long, device=device)
    rel = ids[:, None] - ids[None, :]
    buckets, max_position = attn.position_buckets, attn.max_relative_positions
    if buckets <= 0 or max_position <= 0:
        return rel
    sign = torch.sign(rel)
    mid = buckets // 2
    inside = (rel < mid) & (rel > -mid)
    abs_pos = torch.where(inside, torch.tensor(mid - 1).type_as(rel), rel.abs())
    log_pos = torch.ceil(torch.log(abs_pos / mid) / torch.log(torch.tensor((max_position - 1) / mid)) * (mid - 1)) + mid
    return torch.where(abs_pos <= mid, rel.type_as(log_pos), log_pos * sign).to(torch.long)


def position_indices(attn: nn.Module, length: int, device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
    """The c2p and p2c gather indices into the 2 * span position embeddings."""
    span = attn.pos_ebd_size
    rel = relative_positions(attn, length, device)
    return (rel + span).clamp(0, span * 2 - 1), (-rel + span).clamp(0, span * 2 - 1)


def rel_embeddings(model: nn.Module) -> torch.Tensor:
    """The relative-position embeddings as the encoder hands them to its
    layers (layer-normed where norm_rel_ebd says so)."""
    encoder = model.encoder
    weight = encoder.rel_embeddings.weight
    if "layer_norm" in encoder.norm_rel_ebd:
        weight = encoder.LayerNorm(weight)
    return weight


def position_projections(attn: nn.Module, rel: torch.Tensor) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor]]:
    """The layer's position keys (for c2p) and queries (for p2c):
    [heads, 2 * span, head] each, or None where the type is off."""
    rel = attn.pos_dropout(rel)[: attn.pos_ebd_size * 2]
    n_heads = attn.num_attention_heads

    def split(x):
        return x.view(x.shape[0], n_heads, -1).transpose(0, 1)

    kinds = attn.pos_att_type
    if attn.share_att_key:
        key = split(attn.key_proj(rel)) if "c2p" in kinds else None
        query = split(attn.query_proj(rel)) if "p2c" in kinds else None
    else:
        key = split(attn.pos_key_proj(rel)) if "c2p" in kinds else None
        query = split(attn.pos_query_proj(rel)) if "p2c" in kinds else None
    return key, query


def embed(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    embedded = model.embeddings(input_ids=input_ids, mask=attention_mask)
    return embedded.reshape(-1, embedded.shape[-1]).index_select(0, index)


def linears(layer: nn.Module) -> List[nn.Module]:
    attn = layer.attention.self
    return [attn.query_proj, attn.key_proj, attn.value_proj, layer.attention.output.dense,
            layer.intermediate.dense, layer.output.dense]


def forward(model: nn.Module, layer: nn.Module, hidden: torch.Tensor, run: Pass) -> torch.Tensor:
    """One DeBERTa-v2 layer on packed [n_real, width] states."""
    attn = layer.attention.self
    kinds = attn.pos_att_type if attn.relative_attention else []
    scale_factor = 1 + len([kind for kind in ("c2p", "p2c") if kind in kinds])
    scale = math.sqrt(attn.attention_head_size * scale_factor)
    q, k, v = projections(hidden, [attn.query_proj, attn.key_proj, attn.value_proj], run.fused)
    bias = None
    if kinds:
        device = hidden.device
        indices = run.per_length("deberta", lambda length: position_indices(attn, length, device))
        if "rel" not in run.terms:
            run.terms["rel"] = rel_embeddings(model)
        pos_key, pos_query = position_projections(attn, run.terms["rel"])

        def bias(r, qh, kh):
            # qh, kh: [n_seqs, heads, length, head]; scores: the same plus length
            c2p_pos, p2c_pos = indices[r[2]]
            score = 0
            if pos_key is not None:
                c2p = torch.matmul(qh, pos_key.transpose(-1, -2))
                score = score + torch.gather(c2p, -1, c2p_pos.expand(c2p.shape[:-1] + c2p_pos.shape[-1:])) / scale
            if pos_query is not None:
                p2c = torch.matmul(kh, pos_query.transpose(-1, -2))
                p2c = torch.gather(p2c, -1, p2c_pos.expand(p2c.shape[:-1] + p2c_pos.shape[-1:])).transpose(-1, -2)
                score = score + p2c / scale
            return score

    dropout = attn.dropout.p if attn.training else 0.0
    context = attention(q, k, v, run.runs, attn.num_attention_heads, dropout, bias=bias, scale=1.0 / scale)
    out, inner = layer.attention.output, layer.intermediate
    return output_block(
        context, hidden, run, out.dense, out.LayerNorm, inner.dense, inner.intermediate_act_fn,
        layer.output.dense, layer.output.LayerNorm, out.dropout, layer.output.dropout,
    )


FAMILY = Family(
    name="DeBERTa-v2",
    model_types=("deberta-v2",),
    refuse=refuse,
    embed=embed,
    layers=lambda model: model.encoder.layer,
    forward=forward,
    linears=linears,
    activation=lambda config: getattr(config, "hidden_act", None),
    relative=True,
)
