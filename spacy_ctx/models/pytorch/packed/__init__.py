"""A forward pass that computes no padding, for the encoder families proven
exact against their own forward.

`packable(model)` says whether a model's type is one of them (an explicit
allowlist by `config.model_type`, each family tested against the model's
own hidden states) and passes that family's structural checks;
`packed_hidden_states` runs it. Anything else runs the model's own padded
forward, and the encoder says so once per family (`warn_unpacked`).

The shared part (the real rows, the runs of equal lengths, the fused
linears) is in core.py; each family's embeddings, position terms and layer
are in a module of their own, registered here by model type.
"""
import warnings
from typing import Dict, List, Optional, Set, Tuple

import torch
from torch import nn

from ....errors import Warnings
from . import albert, bert, deberta_v2, distilbert, modernbert, mpnet, t5
from .core import Family, Pass, can_fuse, contiguous, length_runs

FAMILIES: Dict[str, Family] = {}


def register(family: Family) -> None:
    for model_type in family.model_types:
        FAMILIES[model_type] = family


for _module in (bert, mpnet, distilbert, albert, deberta_v2, t5, modernbert):
    register(_module.FAMILY)


def refusal(model: nn.Module) -> Optional[str]:
    """Why `packed_hidden_states` cannot compute `model`'s own hidden states
    (None: it can)."""
    config = getattr(model, "config", None)
    model_type = getattr(config, "model_type", None)
    family = FAMILIES.get(model_type)
    if family is None:
        return f"model type '{model_type}' is not one of those proven exact ({', '.join(sorted(FAMILIES))})"
    if getattr(config, "add_cross_attention", False):
        return "cross-attention"
    if getattr(config, "is_decoder", False):
        return "a decoder (causal attention)"
    return family.refuse(model)


def packable(model: nn.Module) -> bool:
    """Whether `packed_hidden_states` computes `model`'s own hidden states."""
    return refusal(model) is None


_warned: Set[str] = set()


def warn_unpacked(model: nn.Module, reason: str) -> None:
    """Say once per model type that it runs its own padded forward."""
    model_type = str(getattr(getattr(model, "config", None), "model_type", type(model).__name__))
    if model_type not in _warned:
        _warned.add(model_type)
        warnings.warn(Warnings.W062.format(family=model_type, reason=reason))


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
    family = FAMILIES[model.config.model_type]
    batch, length = input_ids.shape
    # [n_real]: the flattened positions of the real wordpieces
    index = attention_mask.reshape(-1).nonzero().squeeze(1)
    rows = torch.full((batch * length,), -1, dtype=torch.long, device=input_ids.device)
    rows[index] = torch.arange(index.shape[0], device=input_ids.device)
    if family.relative and not contiguous(attention_mask):
        # Padding inside a sequence: its relative positions count the gap,
        # which packed rows do not. The planner never makes such a mask.
        own = model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True).hidden_states
        return [h.reshape(batch * length, -1).index_select(0, index) for h in own[: top + 1]], rows
    hidden = family.embed(model, input_ids, attention_mask, index)
    layers = list(family.layers(model))[:top]
    run = Pass(length_runs(attention_mask), can_fuse(family, model, layers, hidden, fuse), family.activation(model.config))
    states = [hidden]
    for layer in layers:
        hidden = family.forward(model, layer, hidden, run)
        states.append(hidden)
    if family.finish is not None:
        states = family.finish(model, states, top)
    return states, rows
