"""A forward pass that computes no padding, for BERT-style encoders.

Linear layers, GELU, LayerNorm and the residual sums act on each token
alone, so they run on the packed [n_real, width] matrix of a batch's real
wordpieces. Only attention needs the sequences: it runs once per run of
consecutive sequences with as many real wordpieces (the planner sorts a
batch by length), on views of the packed queries, keys and values, so it
computes no padding either. Each sequence's real wordpieces are one block
of packed rows wherever its padding lies, and BERT's attention does not
depend on their order (positions were added in the embeddings), so any
mask works. This is FasterTransformer's
"remove padding" and the idea of PyTorch's nested-tensor fast path, written
against the Hugging Face modules' own weights, so it computes what their
forward computes.

In inference on CPU, the linears run through oneDNN (onednn.py): the three
attention projections as one, with the feed-forward activation and the
residual sums fused into their matmuls.

It applies to the families whose layers are BERT's (`BertLayer`-shaped:
BERT, RoBERTa, ELECTRA, XLM-R, CamemBERT, ...) with absolute positions;
`packable` says whether a model is one. Others run their own forward.
"""
from typing import List, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from . import onednn

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
    model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, top: int, fuse: bool = True
) -> Tuple[List[torch.Tensor], torch.Tensor]:
    """Hidden states 0..top of a packable model, for the real wordpieces only.

    input_ids, attention_mask: [batch, seq_len], as the model takes them.
    top: the highest hidden layer needed; the layers above it never run.
    fuse: run the linears through oneDNN where `onednn.fusable` allows
        (False: through the modules, for comparisons).

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
    layers = model.encoder.layer[:top]
    runs = _length_runs(attention_mask)
    activation = getattr(model.config, "hidden_act", None)
    fused = (
        fuse
        and not model.training
        and isinstance(activation, str)
        and activation in onednn.ACTIVATIONS
        and all(onednn.fusable([layer.get_submodule(part) for part in _LINEARS], hidden) for layer in layers)
    )
    states = [hidden]
    for layer in layers:
        if fused:
            hidden = _fused_layer_forward(layer, hidden, runs, activation)
        else:
            hidden = _layer_forward(layer, hidden, runs)
        states.append(hidden)
    rows = torch.full((batch * length,), -1, dtype=torch.long, device=input_ids.device)
    rows[index] = torch.arange(index.shape[0], device=input_ids.device)
    return states, rows


_LINEARS = [part for part in _LAYER_PARTS if not part.endswith("LayerNorm")]
# (first packed row, sequences, length) of each run of equal-length sequences
Runs = List[Tuple[int, int, int]]


def _length_runs(attention_mask: torch.Tensor) -> Runs:
    """(first packed row, sequences, length) of each run of consecutive
    sequences with the same number of real wordpieces."""
    values, counts = torch.unique_consecutive(attention_mask.sum(1), return_counts=True)
    runs, row = [], 0
    for seq_len, n_seqs in zip(values.tolist(), counts.tolist()):
        if seq_len:
            runs.append((row, n_seqs, seq_len))
            row += n_seqs * seq_len
    return runs


def _attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, runs: Runs, n_heads: int, dropout: float) -> torch.Tensor:
    """Attention run by run of equal-length sequences: no padding, no mask.
    q, k, v: [n_real, heads * head] each; returns the same shape."""
    contexts = []
    for row, n_seqs, seq_len in runs:
        rows = slice(row, row + n_seqs * seq_len)
        heads = [x[rows].view(n_seqs, seq_len, n_heads, -1).transpose(1, 2) for x in (q, k, v)]
        context = F.scaled_dot_product_attention(*heads, dropout_p=dropout)
        contexts.append(context.transpose(1, 2).reshape(n_seqs * seq_len, -1))
    return contexts[0] if len(contexts) == 1 else torch.cat(contexts)


def _layer_forward(layer: nn.Module, hidden: torch.Tensor, runs: Runs) -> torch.Tensor:
    """One BERT layer on packed [n_real, width] states, through its modules."""
    attention = layer.attention.self
    dropout = attention.dropout.p if attention.training else 0.0
    context = _attention(
        attention.query(hidden), attention.key(hidden), attention.value(hidden), runs,
        attention.num_attention_heads, dropout,
    )
    out = layer.attention.output
    attended = out.LayerNorm(out.dropout(out.dense(context)) + hidden)
    out = layer.output
    return out.LayerNorm(out.dropout(out.dense(layer.intermediate(attended))) + attended)


def _fused_layer_forward(layer: nn.Module, hidden: torch.Tensor, runs: Runs, activation: str) -> torch.Tensor:
    """`_layer_forward` in inference, its linears through oneDNN: one matmul
    for the three projections, the activation and residual sums fused."""
    attention = layer.attention.self
    qkv = onednn.weights(attention.query, attention.key, attention.value)
    q, k, v = onednn.linear(hidden, *qkv).chunk(3, dim=-1)
    context = _attention(q, k, v, runs, attention.num_attention_heads, 0.0)
    out = layer.attention.output
    attended = out.LayerNorm(onednn.linear(context, *onednn.weights(out.dense), residual=hidden))
    inner = layer.intermediate.dense
    inner = onednn.linear(attended, *onednn.weights(inner), activation=activation)
    out = layer.output
    return out.LayerNorm(onednn.linear(inner, *onednn.weights(out.dense), residual=attended))
