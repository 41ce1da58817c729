"""A forward pass that computes no padding, for BERT-style encoders.

Linear layers, GELU, LayerNorm and the residual sums act on each token
alone, so they run on the packed [n_real, width] matrix of a batch's real
wordpieces. Only attention needs the sequences: the packed queries, keys and
values are scattered into the batch's padded [batch, heads, seq_len, head]
layout for one `scaled_dot_product_attention` call, and the result is
gathered back. This is FasterTransformer's "remove padding" and the idea of
PyTorch's nested-tensor fast path, written against the Hugging Face modules'
own weights, so it computes what their forward computes.

It applies to the families whose layers are BERT's (`BertLayer`-shaped:
BERT, RoBERTa, ELECTRA, XLM-R, CamemBERT, ...) with absolute positions;
`packable` says whether a model is one. Others run their own forward.
"""
from typing import List, Tuple

import torch
from torch import nn
from torch.nn import functional as F

_LAYER_PARTS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "attention.output.LayerNorm",
    "intermediate.dense",
    "output.dense",
    "output.LayerNorm",
)


def packable(model: nn.Module) -> bool:
    """Whether `packed_hidden_states` computes `model`'s own hidden states:
    an encoder (not a decoder) with BERT-shaped layers, absolute positions
    and every attention head."""
    config = getattr(model, "config", None)
    layers = getattr(getattr(model, "encoder", None), "layer", None)
    if config is None or not isinstance(layers, nn.ModuleList) or not hasattr(model, "embeddings"):
        return False
    if getattr(config, "is_decoder", False) or getattr(config, "add_cross_attention", False):
        return False
    if getattr(config, "position_embedding_type", "absolute") != "absolute":
        return False
    for layer in layers:
        try:
            for part in _LAYER_PARTS:
                layer.get_submodule(part)
        except AttributeError:
            return False
        attention = layer.attention.self
        if getattr(layer.attention, "pruned_heads", None) or not hasattr(attention, "attention_head_size"):
            return False
    return True


def packed_hidden_states(
    model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, top: int
) -> Tuple[List[torch.Tensor], torch.Tensor]:
    """Hidden states 0..top of a packable model, for the real wordpieces only.

    input_ids, attention_mask: [batch, seq_len], as the model takes them.
    top: the highest hidden layer needed; the layers above it never run.

    Returns the states, each [n_real, width], and `rows`: for each position
    of the flattened [batch * seq_len] batch, its row in the states (-1 for
    padding).
    """
    batch, length = input_ids.shape
    # [n_real]: the flattened positions of the real wordpieces
    index = attention_mask.reshape(-1).nonzero().squeeze(1)
    embedded = model.embeddings(input_ids=input_ids)
    project = getattr(model, "embeddings_project", None)  # ELECTRA
    if project is not None:
        embedded = project(embedded)
    hidden = embedded.reshape(batch * length, -1).index_select(0, index)
    # [batch, 1, 1, seq_len]: which keys each query may attend to
    keys = attention_mask.bool()[:, None, None, :]
    states = [hidden]
    for layer in model.encoder.layer[:top]:
        hidden = _layer_forward(layer, hidden, index, batch, length, keys)
        states.append(hidden)
    rows = torch.full((batch * length,), -1, dtype=torch.long, device=input_ids.device)
    rows[index] = torch.arange(index.shape[0], device=input_ids.device)
    return states, rows


def _layer_forward(
    layer: nn.Module, hidden: torch.Tensor, index: torch.Tensor, batch: int, length: int, keys: torch.Tensor
) -> torch.Tensor:
    """One BERT layer on packed [n_real, width] states."""
    attention = layer.attention.self
    n_heads, head_size = attention.num_attention_heads, attention.attention_head_size

    def to_heads(x: torch.Tensor) -> torch.Tensor:
        # [n_real, heads * head] -> [batch, heads, seq_len, head], zeros at padding
        padded = x.new_zeros(batch * length, x.shape[-1]).index_copy(0, index, x)
        return padded.view(batch, length, n_heads, head_size).transpose(1, 2)

    dropout = attention.dropout.p if attention.training else 0.0
    context = F.scaled_dot_product_attention(
        to_heads(attention.query(hidden)),
        to_heads(attention.key(hidden)),
        to_heads(attention.value(hidden)),
        attn_mask=keys,
        dropout_p=dropout,
    )
    # [batch, heads, seq_len, head] -> [n_real, heads * head]
    context = context.transpose(1, 2).reshape(batch * length, n_heads * head_size).index_select(0, index)
    out = layer.attention.output
    attended = out.LayerNorm(out.dropout(out.dense(context)) + hidden)
    out = layer.output
    return out.LayerNorm(out.dropout(out.dense(layer.intermediate(attended))) + attended)
