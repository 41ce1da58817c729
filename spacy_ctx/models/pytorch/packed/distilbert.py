"""DistilBERT's layers on packed rows: BERT's maths under its own names
(q_lin, k_lin, v_lin, out_lin, sa_layer_norm, ffn.lin1/lin2,
output_layer_norm), positions absolute and added in the embeddings, no
dropout after the attention's output projection."""
from typing import List, Optional

import torch
from torch import nn

from .core import Family, Pass, attention, output_block, projections, unfit_layers

PARTS = (
    "attention.q_lin",
    "attention.k_lin",
    "attention.v_lin",
    "attention.out_lin",
    "sa_layer_norm",
    "ffn.lin1",
    "ffn.lin2",
    "output_layer_norm",
)


def refuse(model: nn.Module) -> Optional[str]:
    layers = getattr(getattr(model, "transformer", None), "layer", None)
    if not isinstance(layers, nn.ModuleList) or not hasattr(model, "embeddings"):
        return "no embeddings and transformer.layer: not the base model"
    return unfit_layers(layers, PARTS, lambda layer: layer.attention)


def embed(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    embedded = model.embeddings(input_ids)
    return embedded.reshape(-1, embedded.shape[-1]).index_select(0, index)


def linears(layer: nn.Module) -> List[nn.Module]:
    attn = layer.attention
    return [attn.q_lin, attn.k_lin, attn.v_lin, attn.out_lin, layer.ffn.lin1, layer.ffn.lin2]


def forward(model: nn.Module, layer: nn.Module, hidden: torch.Tensor, run: Pass) -> torch.Tensor:
    """One DistilBERT TransformerBlock on packed [n_real, width] states."""
    attn = layer.attention
    q, k, v = projections(hidden, [attn.q_lin, attn.k_lin, attn.v_lin], run.fused)
    dropout = attn.dropout.p if attn.training else 0.0
    context = attention(q, k, v, run.runs, attn.n_heads, dropout)
    ffn = layer.ffn
    return output_block(
        context, hidden, run, attn.out_lin, layer.sa_layer_norm, ffn.lin1, ffn.activation,
        ffn.lin2, layer.output_layer_norm, dropout=ffn.dropout,
    )


FAMILY = Family(
    name="DistilBERT",
    model_types=("distilbert",),
    refuse=refuse,
    embed=embed,
    layers=lambda model: model.transformer.layer,
    forward=forward,
    linears=linears,
    activation=lambda config: getattr(config, "activation", None),
)
