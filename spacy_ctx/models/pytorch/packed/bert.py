"""BERT's layers on packed rows: BERT, RoBERTa, XLM-R, ELECTRA, CamemBERT.

Positions are absolute and added in the embeddings, which run on the
padded ids as in the model's own forward (RoBERTa counts positions from
its padding id there), so attention has no position term and any padding
layout works: each sequence's real wordpieces are one block of packed rows
wherever its padding lies, and attention does not depend on their order.
"""
from typing import List, Optional

import torch
from torch import nn

from .core import Family, Pass, attention, output_block, position_term, projections, unfit_layers

PARTS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "attention.output.LayerNorm",
    "intermediate.dense",
    "output.dense",
    "output.LayerNorm",
)


def refuse(model: nn.Module) -> Optional[str]:
    layers = getattr(getattr(model, "encoder", None), "layer", None)
    if not isinstance(layers, nn.ModuleList) or not hasattr(model, "embeddings"):
        return "no embeddings and encoder.layer: not the base model"
    reason = position_term(model.config)
    if reason is not None:
        return reason
    return unfit_layers(layers, PARTS, lambda layer: layer.attention)


def embed(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    embedded = model.embeddings(input_ids=input_ids)
    project = getattr(model, "embeddings_project", None)  # ELECTRA
    if project is not None:
        embedded = project(embedded)
    return embedded.reshape(-1, embedded.shape[-1]).index_select(0, index)


def linears(layer: nn.Module) -> List[nn.Module]:
    attn = layer.attention.self
    return [attn.query, attn.key, attn.value, layer.attention.output.dense, layer.intermediate.dense, layer.output.dense]


def forward(model: nn.Module, layer: nn.Module, hidden: torch.Tensor, run: Pass) -> torch.Tensor:
    """One BERT layer on packed [n_real, width] states."""
    attn = layer.attention.self
    q, k, v = projections(hidden, [attn.query, attn.key, attn.value], run.fused)
    dropout = attn.dropout.p if attn.training else 0.0
    context = attention(q, k, v, run.runs, attn.num_attention_heads, dropout)
    out, inner = layer.attention.output, layer.intermediate
    return output_block(
        context, hidden, run, out.dense, out.LayerNorm, inner.dense, inner.intermediate_act_fn,
        layer.output.dense, layer.output.LayerNorm, out.dropout, layer.output.dropout,
    )


FAMILY = Family(
    name="BERT",
    model_types=("bert", "roberta", "xlm-roberta", "electra", "camembert"),
    refuse=refuse,
    embed=embed,
    layers=lambda model: model.encoder.layer,
    forward=forward,
    linears=linears,
    activation=lambda config: getattr(config, "hidden_act", None),
)
