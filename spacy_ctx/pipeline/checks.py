"""Pipeline checks that run when a pipeline is built from a config."""
from typing import Callable

from spacy.language import Language
from thinc.api import Model

from ..errors import Errors, SpacyCtxError
from ..models.listener import CtxListener


def create_check_listeners() -> Callable[[Language], Language]:
    """An `[nlp.after_pipeline_creation]` callback: fail as soon as the
    pipeline is built if a CtxListener found no upstream ctx_encoder.

    spaCy links listeners to their upstream component, and only a ctx_encoder
    can find its listeners; without one, nothing of spacy-ctx would run before
    `nlp.initialize()`. This callback closes that gap.
    """
    return check_listeners


def check_listeners(nlp: Language) -> Language:
    for name, component in nlp.pipeline:
        model = getattr(component, "model", None)
        if not isinstance(model, Model):
            continue
        for node in model.walk():
            if isinstance(node, CtxListener) and node.upstream_attached is None:
                raise SpacyCtxError(
                    Errors._IN_COMPONENT.format(name=name, error=Errors.E003.format(upstream=node.upstream_name))
                )
    return nlp
