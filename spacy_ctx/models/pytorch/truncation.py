"""Stopping a Hugging Face encoder's forward pass at a given hidden layer."""
from contextlib import contextmanager
from typing import Iterator, Mapping

import torch
from torch import nn

from ...errors import Errors, SpacyCtxError


def truncate_layers(model: nn.Module, k: int) -> nn.Module:
    """Keep the encoder's first k hidden layers and drop the ones above, in place.

    The forward pass then stops at layer k, and output_hidden_states returns
    layers 0..k (the embedding output, then hidden layers 1..k), identical
    to the full model's for families whose hidden states are the layers' own
    outputs (BERT, RoBERTa, ELECTRA, XLM-R, DeBERTa, DistilBERT, MPNet,
    ModernBERT, whose final norm comes after its last hidden state; not
    those that normalise the last state, e.g. T5: see `truncation_is_exact`).
    The packed forward (packed/) stops at a layer by itself: this serves
    the models that run their own forward.
    Finds the layers at one of `_LAYER_PATHS`; add a family's path there.
    `truncated_layers` does the same for the duration of a `with` block.
    """
    _set_layers(model, k)
    return model


@contextmanager
def truncated_layers(model: nn.Module, k: int) -> Iterator[nn.Module]:
    """Run `model` with only its first k hidden layers inside the block.

    The layer modules are shared, not copied: the same parameters, no extra
    memory, and the full stack (and the config's layer count) come back on
    exit, so saving and fine-tuning see the whole model.
    """
    saved = _set_layers(model, k)
    try:
        yield model
    finally:
        _restore_layers(model, saved)


def truncation_is_exact(model: nn.Module, k: int, inputs: Mapping[str, torch.Tensor]) -> bool:
    """Whether hidden state k of the model run with k layers equals the full
    model's on `inputs`. False where the family normalises or projects its
    last hidden state (T5's final layer norm), or where its layer stack is
    not found (ALBERT's shared groups)."""
    try:
        _find_layers(model)
    except SpacyCtxError:
        return False
    with torch.inference_mode():
        full = model(**inputs, output_hidden_states=True).hidden_states[k]
        with truncated_layers(model, k):
            states = model(**inputs, output_hidden_states=True).hidden_states
    return len(states) == k + 1 and torch.allclose(states[k], full, rtol=1e-4, atol=1e-5)


def _set_layers(model: nn.Module, k: int):
    path, layers = _find_layers(model)
    if not 1 <= k <= len(layers):
        raise SpacyCtxError(Errors.E062.format(k=k, n_layers=len(layers)))
    parent_path, _, attr = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    config_keys = [key for key in ("num_hidden_layers", "n_layers") if hasattr(model.config, key)]
    saved = (parent, attr, layers, {key: getattr(model.config, key) for key in config_keys})
    setattr(parent, attr, nn.ModuleList(list(layers)[:k]))
    # Keep the config truthful: code that sizes things by it (e.g. a
    # LayerEncoder's layer count) then sees k + 1 hidden states.
    for key in config_keys:
        setattr(model.config, key, k)
    return saved


def _restore_layers(model: nn.Module, saved) -> None:
    parent, attr, layers, config_values = saved
    setattr(parent, attr, layers)
    for key, value in config_values.items():
        setattr(model.config, key, value)


# Where each model family keeps its layer stack, relative to the base model.
_LAYER_PATHS = ("encoder.layer", "transformer.layer", "layers", "encoder.layers")


def _find_layers(model: nn.Module):
    for path in _LAYER_PATHS:
        try:
            layers = model.get_submodule(path)
        except AttributeError:
            continue
        if isinstance(layers, nn.ModuleList):
            return path, layers
    raise SpacyCtxError(
        Errors.E063.format(model=type(model).__name__, paths=", ".join(_LAYER_PATHS))
    )
