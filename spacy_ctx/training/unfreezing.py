"""`spacy_ctx.gradual_unfreezing.v1`: train the heads on frozen features
first, then unfreeze the encoder from the top down (Howard & Ruder 2018).

A `[training.before_update]` callback. Before `start_step` every listener
of the encoder has grad_factor 0, so the encoder is frozen and the frozen
cache serves its features. From `start_step` the listeners get
`grad_factor`, and the encoder's top `1 + (step - start_step) // every`
blocks train (every 0: all at once), the embeddings last. A block that does
not train has requires_grad off, so torch computes no gradient below the
lowest trainable block. Depths are those of `spacy_ctx.training.depths`.
"""
from typing import Callable, Dict

from spacy.language import Language

from ..errors import Errors, SpacyCtxError
from .depths import shim_parameters


def create_gradual_unfreezing_v1(
    start_step: int = 0,
    every: int = 0,
    grad_factor: float = 1.0,
    encoder: str = "ctx_encoder",
) -> Callable[[Language, Dict], None]:
    """The callback for `[training.before_update]` (see the module docstring)."""
    for setting, value in (("start_step", start_step), ("every", every)):
        if value < 0:
            raise SpacyCtxError(Errors.E040.format(setting=f"gradual_unfreezing {setting}", allowed=">= 0", value=value))
    if grad_factor <= 0:
        raise SpacyCtxError(Errors.E040.format(setting="gradual_unfreezing grad_factor", allowed="> 0", value=grad_factor))

    def before_update(nlp: Language, info: Dict) -> None:
        if encoder not in nlp.pipe_names or not getattr(nlp.get_pipe(encoder), "listeners", None):
            raise SpacyCtxError(Errors.E041.format(names=", ".join(nlp.pipe_names)))
        component = nlp.get_pipe(encoder)
        step = int(info["step"])
        unfrozen = step >= start_step
        for listener in component.listeners:
            listener.attrs["grad_factor"] = grad_factor if unfrozen else 0.0
        if not unfrozen:
            return
        # Loading binds the component, which registers the parameters' depths.
        component.load_model()
        for _, param, depth, top in shim_parameters(component.model):
            n_blocks = top + 1 if every == 0 else 1 + (step - start_step) // every
            param.requires_grad_(depth > top - n_blocks)

    return before_update


def trainable_depths(nlp: Language, encoder: str = "ctx_encoder"):
    """The depths of the encoder's parameters that train now (requires_grad)."""
    component = nlp.get_pipe(encoder)
    return sorted({depth for _, param, depth, _ in shim_parameters(component.model) if param.requires_grad})
