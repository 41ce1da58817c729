"""ALBERT's layers on packed rows.

Its embeddings are narrower than the layers (factorised): the projection
up to the hidden width is a linear, so it runs on the packed rows alone.
Its layers are shared: hidden layer i runs the group
`i // (num_hidden_layers / num_hidden_groups)`, each group its inner layers
in turn, as AlbertTransformer does. Positions are absolute (embeddings).
"""
from typing import List, Optional

import torch
from torch import nn

from .core import Family, Pass, attention, output_block, position_term, projections, unfit_layers

PARTS = (
    "attention.query",
    "attention.key",
    "attention.value",
    "attention.dense",
    "attention.LayerNorm",
    "ffn",
    "ffn_output",
    "full_layer_layer_norm",
)


def _inner_layers(model: nn.Module) -> List[nn.Module]:
    return [layer for group in model.encoder.albert_layer_groups for layer in group.albert_layers]


def refuse(model: nn.Module) -> Optional[str]:
    encoder = getattr(model, "encoder", None)
    if not hasattr(encoder, "albert_layer_groups") or not hasattr(model, "embeddings"):
        return "no embeddings and encoder.albert_layer_groups: not the base model"
    reason = position_term(model.config)
    if reason is not None:
        return reason
    layers = _inner_layers(model)
    return unfit_layers(layers, PARTS, lambda layer: layer.attention)


def embed(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    embedded = model.embeddings(input_ids=input_ids)
    packed = embedded.reshape(-1, embedded.shape[-1]).index_select(0, index)
    return model.encoder.embedding_hidden_mapping_in(packed)


def layers(model: nn.Module) -> List[nn.Module]:
    """The layer group each hidden layer runs."""
    config, groups = model.config, model.encoder.albert_layer_groups
    n, n_groups = config.num_hidden_layers, config.num_hidden_groups
    return [groups[int(i / (n / n_groups))] for i in range(n)]


def linears(group: nn.Module) -> List[nn.Module]:
    return [
        linear
        for layer in group.albert_layers
        for linear in (layer.attention.query, layer.attention.key, layer.attention.value,
                       layer.attention.dense, layer.ffn, layer.ffn_output)
    ]


def _layer_forward(layer: nn.Module, hidden: torch.Tensor, run: Pass) -> torch.Tensor:
    attn = layer.attention
    q, k, v = projections(hidden, [attn.query, attn.key, attn.value], run.fused)
    dropout = attn.attention_dropout.p if attn.training else 0.0
    context = attention(q, k, v, run.runs, attn.num_attention_heads, dropout)
    # ALBERT applies no dropout to its feed-forward output.
    return output_block(
        context, hidden, run, attn.dense, attn.LayerNorm, layer.ffn, layer.activation,
        layer.ffn_output, layer.full_layer_layer_norm, attn.output_dropout,
    )


def forward(model: nn.Module, group: nn.Module, hidden: torch.Tensor, run: Pass) -> torch.Tensor:
    """One hidden layer: the group's inner layers in turn."""
    for layer in group.albert_layers:
        hidden = _layer_forward(layer, hidden, run)
    return hidden


FAMILY = Family(
    name="ALBERT",
    model_types=("albert",),
    refuse=refuse,
    embed=embed,
    layers=layers,
    forward=forward,
    linears=linears,
    activation=lambda config: getattr(config, "hidden_act", None),
)
