"""How deep each of an encoder's torch parameters sits, for layer-wise
learning rates and unfreezing.

A parameter's depth is 0 for the embeddings (a name with "embed", or any
parameter before the first block), i + 1 for transformer block i
(`...layer.3...` in BERT-style names, `layers`, `block`, `blocks` or `h` in
other families) and the top depth for the rest (pooler, final norms, and
every parameter of an encoder without numbered blocks, such as ELMo). The
top depth is the number of blocks, so depth d is hidden state d of
`doc._.ctx_layers`.

The optimizer sees a parameter as a key (shim id, parameter name), so the
encoder component registers its shims here when its model is loaded.
"""
import re
from typing import Dict, Optional, Tuple

from thinc.api import Model, PyTorchShim

from ..models.lora import LORA_MARK

BLOCK = re.compile(r"(?:^|\.)(?:layer|layers|block|blocks|h)\.(\d+)\.")
EMBEDDING = re.compile(r"embed", re.IGNORECASE)

# shim id -> {parameter name: depth}, and shim id -> top depth.
_DEPTHS: Dict[int, Dict[str, int]] = {}
_TOPS: Dict[int, int] = {}


def parameter_depths(names) -> Tuple[Dict[str, int], int]:
    """Each name's depth, and the top depth (see the module docstring).
    `names` in the module's order: what comes before the first block is an
    embedding whatever its name (GPT-2's `wte`, T5's `shared`)."""
    names = list(names)
    blocks = {name: int(match.group(1)) + 1 for name in names if (match := BLOCK.search(name))}
    top = max(blocks.values(), default=0)
    first_block = next((i for i, name in enumerate(names) if name in blocks), len(names))
    depths = {}
    for i, name in enumerate(names):
        if name in blocks:
            depths[name] = blocks[name]
        elif EMBEDDING.search(name) or (i < first_block and blocks):
            depths[name] = 0
        else:
            depths[name] = top
    return depths, top


def register_encoder(model: Model) -> None:
    """Record the depth of every torch parameter of an encoder model's
    shims (call when the weights are loaded). With LoRA adapters only the
    adapters count: the base weights stay frozen whatever the schedule."""
    for node in model.walk():
        for shim in node.shims:
            if isinstance(shim, PyTorchShim) and shim._model is not None:
                names = [name for name, _ in shim._model.named_parameters()]
                if any(LORA_MARK in name for name in names):
                    names = [name for name in names if LORA_MARK in name]
                _DEPTHS[shim.id], _TOPS[shim.id] = parameter_depths(names)


def encoder_depths(key) -> Optional[Tuple[int, int]]:
    """(depth, top depth) of an optimizer key (shim id, name) that belongs
    to a registered encoder; None for any other parameter (the heads')."""
    depths = _DEPTHS.get(key[0]) if isinstance(key, tuple) and len(key) == 2 else None
    if depths is None or key[1] not in depths:
        return None
    return depths[key[1]], _TOPS[key[0]]


def shim_parameters(model: Model):
    """(name, torch parameter, depth, top) of every registered parameter of
    an encoder model."""
    for node in model.walk():
        for shim in node.shims:
            if shim.id in _DEPTHS and shim._model is not None:
                for name, param in shim._model.named_parameters():
                    if name in _DEPTHS[shim.id]:
                        yield name, param, _DEPTHS[shim.id][name], _TOPS[shim.id]
