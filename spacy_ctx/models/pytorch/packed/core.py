"""The part of the padding-free forward that every family shares.

Linear layers, activations, norms and residual sums act on each token
alone, so they run on the packed [n_real, width] matrix of a batch's real
wordpieces. Only attention needs the sequences: it runs once per run of
consecutive sequences with as many real wordpieces (the planner sorts a
batch by length), on views of the packed queries, keys and values, so it
computes no padding either. A family's position terms (a relative bias,
rotary angles, disentangled position indices) depend on a sequence's
length alone, so they are made once per length and shared by its runs and
by every layer.

This is FasterTransformer's "remove padding" and the idea of PyTorch's
nested-tensor fast path, written against the Hugging Face modules' own
weights, so it computes what their forward computes. Each family (one
module beside this one) says how to embed, which layers to run, and how
one layer runs on packed rows; `Family` is that contract.
"""
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn import functional as F

from .. import onednn

# (first packed row, sequences, length) of each run of equal-length sequences
Run = Tuple[int, int, int]
Runs = List[Run]


@dataclass
class Pass:
    """What one forward batch's layers share: its runs, the position terms
    per length, and whether the linears run through oneDNN."""

    runs: Runs
    fused: bool
    activation: Optional[str]
    terms: Dict[Any, Any] = field(default_factory=dict)

    def per_length(self, key: Any, make: Callable[[int], Any]) -> Dict[int, Any]:
        """`make(length)` for each length of the batch, made on first use and
        kept for the batch under `key` (several layers share one set)."""
        if key not in self.terms:
            self.terms[key] = {length: make(length) for length in sorted({run[2] for run in self.runs})}
        return self.terms[key]


@dataclass(frozen=True)
class Family:
    """One architecture family's padding-free forward.

    name: how warnings and docs name it.
    model_types: the `config.model_type`s it is proven exact on (tests).
    refuse: why a model of those types cannot pack (None: it can): the
        structural checks that a model type alone does not settle.
    embed: (model, input_ids, attention_mask, index) -> hidden state 0 of
        the real wordpieces, [n_real, width]; `index` holds their flattened
        positions in the [batch * seq_len] batch.
    layers: model -> the modules run for hidden layers 1, 2, ... in order.
    forward: (model, layer, hidden, pass) -> the layer's packed output.
    linears: layer -> the linears that must take oneDNN for a fused pass
        (an empty list: this family never fuses).
    activation: config -> the feed-forward activation's name.
    relative: whether positions enter the attention (relative bias, rotary):
        then each sequence's real wordpieces must be one contiguous block.
    finish: (model, states, top) -> the states as the model returns them,
        where it changes its last state (T5's final norm).
    """

    name: str
    model_types: Tuple[str, ...]
    refuse: Callable[[nn.Module], Optional[str]]
    embed: Callable[..., torch.Tensor]
    layers: Callable[[nn.Module], Sequence[nn.Module]]
    forward: Callable[..., torch.Tensor]
    linears: Callable[[nn.Module], List[nn.Module]]
    activation: Callable[[Any], Optional[str]]
    relative: bool = False
    finish: Optional[Callable[[nn.Module, List[torch.Tensor], int], List[torch.Tensor]]] = None


def length_runs(attention_mask: torch.Tensor) -> Runs:
    """(first packed row, sequences, length) of each run of consecutive
    sequences with the same number of real wordpieces."""
    values, counts = torch.unique_consecutive(attention_mask.sum(1), return_counts=True)
    runs, row = [], 0
    for seq_len, n_seqs in zip(values.tolist(), counts.tolist()):
        if seq_len:
            runs.append((row, n_seqs, seq_len))
            row += n_seqs * seq_len
    return runs


def contiguous(attention_mask: torch.Tensor) -> bool:
    """Whether each sequence's real wordpieces are one block (right or left
    padding): then their relative positions are those of the packed run."""
    mask = attention_mask.bool()
    positions = torch.arange(mask.shape[1], device=mask.device)
    first = torch.where(mask, positions, mask.shape[1]).min(1).values
    last = torch.where(mask, positions, -1).max(1).values
    span = (last - first + 1).clamp(min=0)
    return bool((span == mask.sum(1)).all())


def heads(x: torch.Tensor, run: Run, n_heads: int) -> torch.Tensor:
    """A run's rows of x [n_real, heads * head] as [n_seqs, heads, length, head]."""
    row, n_seqs, seq_len = run
    return x[row : row + n_seqs * seq_len].view(n_seqs, seq_len, n_heads, -1).transpose(1, 2)


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    runs: Runs,
    n_heads: int,
    dropout: float = 0.0,
    bias: Optional[Callable[[Run, torch.Tensor, torch.Tensor], torch.Tensor]] = None,
    scale: Optional[float] = None,
) -> torch.Tensor:
    """Attention run by run of equal-length sequences: no padding, no mask.

    q, k, v: [n_real, heads * head] each; returns [n_real, heads * head].
    bias: (run, q, k) -> what the family adds to the scaled scores (a
        boolean mask: which keys each query may see), q and k as
        [n_seqs, heads, length, head]; None adds nothing.
    scale: of q @ k.T (None: 1 / sqrt(head)).
    """
    contexts = []
    for run in runs:
        qh, kh, vh = (heads(x, run, n_heads) for x in (q, k, v))
        mask = None if bias is None else bias(run, qh, kh)
        context = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=mask, dropout_p=dropout, scale=scale)
        contexts.append(context.transpose(1, 2).reshape(run[1] * run[2], -1))
    return contexts[0] if len(contexts) == 1 else torch.cat(contexts)


# The linears: the module itself, or oneDNN with what follows it fused


def projections(x: torch.Tensor, linears: Sequence[nn.Linear], fused: bool) -> Tuple[torch.Tensor, ...]:
    """Each linear of x; fused: one oneDNN matmul for all of them."""
    if fused:
        return onednn.linear(x, *onednn.weights(*linears)).chunk(len(linears), dim=-1)
    return tuple(linear(x) for linear in linears)


def dense(
    x: torch.Tensor,
    linear: nn.Linear,
    fused: bool,
    activation: Optional[str] = None,
    act: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
    residual: Optional[torch.Tensor] = None,
    dropout: Optional[nn.Module] = None,
) -> torch.Tensor:
    """`act(linear(x))`, or `dropout(linear(x)) + residual`; fused: one
    oneDNN call with the activation (by its Hugging Face name) or the
    residual sum in it (no dropout in inference)."""
    if fused:
        return onednn.linear(x, *onednn.weights(linear), activation=activation, residual=residual)
    out = linear(x)
    if act is not None:
        out = act(out)
    if dropout is not None:
        out = dropout(out)
    return out if residual is None else out + residual


def output_block(
    context: torch.Tensor,
    hidden: torch.Tensor,
    run: Pass,
    attention_out: nn.Linear,
    attention_norm: nn.Module,
    up: nn.Linear,
    act: Callable[[torch.Tensor], torch.Tensor],
    down: nn.Linear,
    norm: nn.Module,
    attention_dropout: Optional[nn.Module] = None,
    dropout: Optional[nn.Module] = None,
) -> torch.Tensor:
    """What follows attention in a post-norm layer: the output projection
    with its residual sum and norm, then the feed-forward block with its
    residual sum and norm (the activation and the sums fused when `run.fused`)."""
    attended = attention_norm(dense(context, attention_out, run.fused, residual=hidden, dropout=attention_dropout))
    inner = dense(attended, up, run.fused, run.activation, act=act)
    return norm(dense(inner, down, run.fused, residual=attended, dropout=dropout))


def can_fuse(family: Family, model: nn.Module, layers: Sequence[nn.Module], probe: torch.Tensor, fuse: bool) -> bool:
    """Whether this pass runs the linears through oneDNN: inference, a dtype
    oneDNN runs faster than torch on this CPU (`onednn.FP32_FASTER`), an
    activation oneDNN fuses, and every linear `onednn.fusable`."""
    if not fuse or model.training:
        return False
    if probe.dtype == torch.float32 and not onednn.FP32_FASTER:
        return False  # MKL's sgemm is the faster fp32 linear on this CPU
    activation = family.activation(model.config)
    if not (isinstance(activation, str) and activation in onednn.ACTIVATIONS):
        return False
    linears = [family.linears(layer) for layer in layers]
    return all(parts and onednn.fusable(parts, probe) for parts in linears)


def pruned(modules: Sequence[nn.Module]) -> bool:
    """Whether any attention module has had heads pruned."""
    return any(getattr(m, "pruned_heads", None) for m in modules)


def missing(layers: Sequence[nn.Module], parts: Sequence[str]) -> Optional[str]:
    """The first of `parts` some layer lacks, or None."""
    for layer in layers:
        for part in parts:
            try:
                layer.get_submodule(part)
            except AttributeError:
                return part
    return None


def unfit_layers(
    layers: Sequence[nn.Module], parts: Sequence[str], attention: Optional[Callable[[nn.Module], nn.Module]] = None
) -> Optional[str]:
    """Why a family's layer forward cannot run `layers` (None: it can): a
    part it reads is missing, or (with `attention`, a layer's attention
    module) heads were pruned."""
    part = missing(layers, parts)
    if part is not None:
        return f"its layers have no {part}"
    if attention is not None and pruned([attention(layer) for layer in layers]):
        return "pruned attention heads"
    return None


def position_term(config: Any) -> Optional[str]:
    """Why a config's positions rule out a layer that adds none inside
    attention (None: absolute positions, added in the embeddings)."""
    position = getattr(config, "position_embedding_type", "absolute")
    if position != "absolute":
        return f"position_embedding_type '{position}' adds a position term inside attention"
    return None
