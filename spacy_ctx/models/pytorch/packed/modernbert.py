"""ModernBERT's layers on packed rows.

ModernBERT has no position embeddings: each layer rotates its queries and
keys by angles that grow with the position (rotary), with one base for
its global layers and another for its local ones, which also see only the
keys within `local_attention / 2` positions. The angles of each packed row
(its position within its sequence) are made once per batch and rotary
base, and the local band once per length of the batch's runs. Rotary
scores depend on the difference of positions alone, and the band on the
distance, so a sequence gives the same scores packed as padded (to
rounding, when left padding shifts its positions). Its linears have no
biases (oneDNN's fused linears need one), so the modules run. The model's
own forward appends its last hidden state before the final norm, so the
states need no finish.
"""
from typing import List, Optional, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from .core import Family, Pass, Run, heads, unfit_layers

PARTS = ("attn_norm", "attn.Wqkv", "attn.Wo", "mlp_norm", "mlp")


def refuse(model: nn.Module) -> Optional[str]:
    layers = getattr(model, "layers", None)
    if not isinstance(layers, nn.ModuleList) or not hasattr(model, "embeddings"):
        return "no embeddings and layers: not the base model"
    if getattr(model.config, "rope_scaling", None):
        return "scaled rotary positions (rope_scaling)"
    reason = unfit_layers(layers, PARTS)
    if reason is not None:
        return reason
    if any(not hasattr(layer.attn.rotary_emb, "inv_freq") for layer in layers):
        return "a rotary embedding without inv_freq"
    return None


def embed(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    # No positions in the embeddings: only the real ids are looked up.
    emb = model.embeddings
    return emb.drop(emb.norm(emb.tok_embeddings(input_ids.reshape(-1).index_select(0, index))))


def row_positions(runs: List[Run], device: torch.device) -> torch.Tensor:
    """[n_real]: each packed row's position within its sequence."""
    return torch.cat([torch.arange(length, device=device).repeat(n_seqs) for _, n_seqs, length in runs])


def angles(rotary: nn.Module, positions: torch.Tensor, dtype: torch.dtype) -> Tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of each row's angles, [n_real, 1, head], as
    ModernBertRotaryEmbedding computes them (in float32)."""
    freqs = positions[:, None].float() * rotary.inv_freq[None, :].float()
    emb = torch.cat((freqs, freqs), dim=-1)
    scaling = getattr(rotary, "attention_scaling", 1.0)
    return (emb.cos() * scaling).to(dtype)[:, None], (emb.sin() * scaling).to(dtype)[:, None]


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def band(window: int, length: int, device: torch.device) -> torch.Tensor:
    """[length, length]: which keys each query of a local layer sees."""
    positions = torch.arange(length, device=device)
    return (positions[:, None] - positions[None, :]).abs() <= window


def forward(model: nn.Module, layer: nn.Module, hidden: torch.Tensor, run: Pass) -> torch.Tensor:
    """One ModernBertEncoderLayer on packed [n_real, width] states."""
    attn = layer.attn
    n_heads, head = attn.num_heads, attn.head_dim
    local = tuple(attn.local_attention) != (-1, -1)
    key = ("rope", local)
    if key not in run.terms:
        run.terms[key] = angles(attn.rotary_emb, row_positions(run.runs, hidden.device), hidden.dtype)
    cos, sin = run.terms[key]
    # Wqkv's output is [3, heads, head] per row.
    q, k, v = attn.Wqkv(layer.attn_norm(hidden)).view(-1, 3, n_heads, head).unbind(1)
    q, k = q * cos + _rotate_half(q) * sin, k * cos + _rotate_half(k) * sin
    q, k, v = (x.reshape(-1, n_heads * head) for x in (q, k, v))
    masks = run.per_length("band", lambda length: band(attn.local_attention[0], length, hidden.device)) if local else None
    dropout = attn.attention_dropout if attn.training else 0.0
    contexts = []
    for r in run.runs:
        qh, kh, vh = (heads(x, r, n_heads) for x in (q, k, v))
        mask = masks[r[2]] if local else None
        context = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=mask, dropout_p=dropout)
        contexts.append(context.transpose(1, 2).reshape(r[1] * r[2], -1))
    context = contexts[0] if len(contexts) == 1 else torch.cat(contexts)
    hidden = hidden + attn.out_drop(attn.Wo(context))
    return hidden + layer.mlp(layer.mlp_norm(hidden))


FAMILY = Family(
    name="ModernBERT",
    model_types=("modernbert",),
    refuse=refuse,
    embed=embed,
    layers=lambda model: model.layers,
    forward=forward,
    linears=lambda layer: [],  # no biases: oneDNN's fused linear needs one
    activation=lambda config: getattr(config, "hidden_activation", None),
    relative=True,
)
