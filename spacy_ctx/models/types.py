"""Types shared by the encoder builders and their callers."""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

from spacy.tokens import Doc
from thinc.types import Floats2d, Floats3d

# One array per doc: [n_layers, n_tokens, width].
DocLayers = List[Floats3d]
# One array per doc: [n_tokens, width].
DocVectors = List[Floats2d]


@dataclass(frozen=True)
class LayerRequest:
    """Which layers an encoder model outputs, and in which dtype.

    Every encoder model (transformer, ELMo) takes either a list of docs, for
    every layer in float32, or `(docs, request)`. The ctx_encoder component
    builds its requests once, when it binds its model and listeners, and
    passes them with the docs: nothing about a call is kept on the model.

    layers: the layers to output, in this order (None: every layer). A
        transformer stops its forward pass at the highest one where that is
        exact, and pools only these.
    dtype: "float32" or "float16", of the output arrays.
    """

    layers: Optional[Tuple[int, ...]] = None
    dtype: str = "float32"


EVERY_LAYER = LayerRequest()
EncoderInput = Union[Sequence[Doc], Tuple[Sequence[Doc], LayerRequest]]


def unpack_request(X: EncoderInput) -> Tuple[List[Doc], LayerRequest]:
    """The docs and the request of an encoder model's input."""
    if isinstance(X, tuple) and len(X) == 2 and isinstance(X[1], LayerRequest):
        return list(X[0]), X[1]
    return list(X), EVERY_LAYER
