"""What the ctx_encoder writes on each doc: stored layers, the two mixes, vector hooks."""
from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy
from spacy.tokens import Doc
from thinc.api import Model

from ..extensions import set_vector_hooks
from ..models.scalar_mix import build_scalar_mix_v1, mix_stored, mixed_layers, token_layers_by_depth
from ..models.types import DocLayers, LayerRequest
from ..normalizer import Normalizer
from ..util import TOKEN_MIX_KEY, normalize_layers


@dataclass
class Annotation:
    """How encoder outputs become doc attributes; fixed when the component
    binds its model.

    layer_ids: the layers of the encoder output, in row order (stored and
        mixed layers).
    stored: the layers kept in doc._.ctx_layers, a subset of layer_ids.
    dtype: of doc._.ctx_layers.
    vector_hooks: route .vector/.similarity through the mixes.
    token_mix: the plain mean of the token layers, which fills
        doc._.ctx_token_mix (what token.vector reads).
    """

    layer_ids: List[int]
    stored: List[int]
    dtype: str
    vector_hooks: bool
    token_mix: Model

    @property
    def request(self) -> LayerRequest:
        """What to ask the encoder for: these layers, in this dtype."""
        return LayerRequest(tuple(self.layer_ids), self.dtype)

    def __call__(
        self,
        docs: Sequence[Doc],
        outputs: DocLayers,
        mix: Model,
        normalizer: Optional[Normalizer],
        output_layers: Optional[List[int]] = None,
    ) -> None:
        """Set doc.tensor (the mix, corrected by `normalizer` if given),
        doc._.ctx_token_mix (the token mix, corrected by `normalizer` where
        it was fitted on the token mix: fit-normalizer fits both),
        doc._.ctx_layers and doc._.ctx_layer_ids of each doc.

        output_layers: the layers of the outputs' rows (default: layer_ids).
        The stored rows are copied out only if they are not all of them.
        """
        ops = mix.ops
        output_layers = self.layer_ids if output_layers is None else list(output_layers)
        rows = [output_layers.index(layer) for layer in self.stored]
        every_row = rows == list(range(len(output_layers)))
        for doc, X in zip(docs, outputs):
            doc_mix = ops.to_numpy(mix_stored(mix, X, output_layers))
            if normalizer is not None and len(doc):
                doc_mix = normalizer.transform(doc_mix, "mix").astype("float32")
            doc.tensor = doc_mix
            token_mix = ops.to_numpy(mix_stored(self.token_mix, X, output_layers))
            if normalizer is not None and len(doc) and TOKEN_MIX_KEY in normalizer.keys:
                token_mix = normalizer.transform(token_mix, TOKEN_MIX_KEY)
            doc._.ctx_token_mix = token_mix
            stored = ops.to_numpy(X)
            doc._.ctx_layers = numpy.ascontiguousarray(stored if every_row else stored[rows], dtype=self.dtype)
            doc._.ctx_layer_ids = list(self.stored)
            if self.vector_hooks:
                set_vector_hooks(doc)



def token_layers(cfg: dict, n_layers: int, name: str) -> List[int]:
    """The layers of the token mix, positive: cfg["token_layers"], or by the
    depth rule (`token_layers_by_depth`) when it is None. The cfg keeps what
    was set, so a pipeline saved with null follows the rule of its encoder."""
    setting = f"components.{name}.token_layers"
    if cfg["token_layers"] is None:
        return token_layers_by_depth(n_layers)
    return sorted(set(normalize_layers(cfg["token_layers"], n_layers, setting)))


def bind_annotation(cfg: dict, mix: Model, n_layers: int, name: str) -> Annotation:
    """Check the component's layer settings against the encoder's depth and
    make them positive in place (cfg["store_layers"], the mix's layers), set
    up the inference mix and the token mix, and return the annotation they
    define."""
    stored = normalize_layers(cfg["store_layers"], n_layers, f"components.{name}.store_layers")
    cfg["store_layers"] = stored
    mix.attrs["layers"] = normalize_layers(mix.attrs["layers"], n_layers, f"components.{name}.mix.layers")
    if mix.has_dim("nL") is not True or mix.get_dim("nL") != n_layers or not mix.has_param("weights"):
        mix.set_dim("nL", n_layers, force=True)
        # The inference mix needs no data: a plain mean until trained or loaded.
        mix.initialize()
    # The token mix is a plain mean (zero weights, gamma 1): nothing to save.
    token_mix = build_scalar_mix_v1(layers=token_layers(cfg, n_layers, name))
    token_mix.set_dim("nL", n_layers)
    token_mix.initialize()
    layer_ids = sorted(set(stored) | set(mixed_layers(mix)) | set(mixed_layers(token_mix)))
    return Annotation(layer_ids, stored, cfg["store_dtype"], cfg["vector_hooks"], token_mix)
