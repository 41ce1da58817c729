"""Getting a pipeline with a ctx_encoder, and its encoder, the one way every tool does."""
from pathlib import Path
from typing import Any, Dict, Optional, Union

from spacy.language import Language

from ..errors import Errors, SpacyCtxError
from .encoder import CtxEncoder


def load_pipeline(model: Union[str, Path], gpu_id: int = -1, overrides: Optional[Dict[str, Any]] = None) -> Language:
    """A saved pipeline (a directory or an installed package name), or
    "default": blank English with the default ctx_encoder (the bundled
    MiniLM). `gpu_id` >= 0 runs it on that GPU. `overrides`: config values
    by dotted path, as `spacy train` takes them on the command line
    ({"components.ctx_encoder.mix.layers": None}); for "default", only
    those of `components.ctx_encoder`."""
    import spacy
    from spacy.util import dot_to_dict

    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    overrides = overrides or {}
    if str(model) == "default":
        prefix = "components.ctx_encoder."
        others = [key for key in overrides if not key.startswith(prefix)]
        if others:
            raise SpacyCtxError(Errors.E071.format(keys=", ".join(others), prefix=prefix))
        nlp = spacy.blank("en")
        nlp.add_pipe("ctx_encoder", config=dot_to_dict({k[len(prefix):]: v for k, v in overrides.items()}))
        return nlp
    return spacy.load(model, config=overrides)


def find_encoder(nlp: Language, name: Optional[str] = None) -> CtxEncoder:
    """The pipeline's ctx_encoder: the component called `name`, or the first
    ctx_encoder. Its model is loaded before it is returned
    (`encoder.load_model()`), so that `n_layers`, `width` and `store_layers`
    can be read at once, also for a component just added with `add_pipe`."""
    for pipe_name, pipe in nlp.pipeline:
        if isinstance(pipe, CtxEncoder) and (name is None or pipe_name == name):
            pipe.load_model()
            return pipe
    raise SpacyCtxError(Errors.A006.format(name=f" called '{name}'" if name else "", components=nlp.pipe_names))
