"""Helpers shared by the CLI commands."""
from contextlib import contextmanager
from typing import Iterator, List, Optional

import spacy
from spacy.language import Language
from wasabi import msg

from ..errors import SpacyCtxError
from ..util import normalize_layers


def load_pipeline(model: str, gpu_id: int = -1) -> Language:
    """Load a pipeline directory, or build blank English + the default
    ctx_encoder when `model` is 'default'."""
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    if model == "default":
        nlp = spacy.blank("en")
        nlp.add_pipe("ctx_encoder")
        return nlp
    return spacy.load(model)


def parse_layers(layers: Optional[str], n_layers: int) -> List[int]:
    """'0,6' / '-1' / 'all' / None -> checked positive layer indices."""
    if layers is None or not layers.strip():
        return []
    if layers.strip() == "all":
        return list(range(n_layers))
    return normalize_layers([int(x) for x in layers.split(",")], n_layers, "--layers")


@contextmanager
def user_errors() -> Iterator[None]:
    """Show spacy-ctx's own errors (SpacyCtxError: bad data, bad settings) as
    a clean message and exit code 1; let any other error raise with its
    traceback."""
    try:
        yield
    except SpacyCtxError as err:
        msg.fail(str(err), exits=1)
