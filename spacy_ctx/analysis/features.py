"""Docs in, per-layer token vectors out: the input side of the analysis tools."""
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence

import numpy
from spacy.tokens import Doc
from spacy.util import minibatch

from ..errors import Errors
from ..pipeline.encoder import CtxEncoder
from ..util import MIX_KEY, TOKEN_MIX_KEY, layer_key


@dataclass
class LayerFeatures:
    """Every layer's vectors for the tokens of a list of docs, side by side.

    layers: [n_layers, n_tokens, width], layer 0 = the embedding output.
    mix: [n_tokens, width], the ctx_encoder's scalar mix, uncorrected.
    offsets: [n_docs + 1]; doc d owns rows offsets[d]:offsets[d + 1].
    token_mix: [n_tokens, width], the token mix (what token.vector reads),
        uncorrected; not one of `keys` (the per-layer analyses skip it).
    """

    layers: numpy.ndarray
    mix: numpy.ndarray
    offsets: numpy.ndarray
    token_mix: Optional[numpy.ndarray] = None

    @property
    def n_tokens(self) -> int:
        return self.mix.shape[0]

    @property
    def keys(self) -> List[str]:
        """"layer0".."layerN", then "mix"."""
        return [layer_key(i) for i in range(self.layers.shape[0])] + [MIX_KEY]

    def get(self, key: str) -> numpy.ndarray:
        """The [n_tokens, width] vectors of "mix", "token_mix" or "layer<i>"."""
        if key == MIX_KEY:
            return self.mix
        if key == TOKEN_MIX_KEY and self.token_mix is not None:
            return self.token_mix
        if key.startswith("layer") and key[5:].isdigit() and int(key[5:]) < self.layers.shape[0]:
            return self.layers[int(key[5:])]
        raise KeyError(Errors.A013.format(key=key, keys=self.keys))

    def take_docs(self, indices: Sequence[int]) -> "LayerFeatures":
        """The features of the docs at `indices`, in that order."""
        rows = numpy.concatenate(
            [numpy.arange(self.offsets[i], self.offsets[i + 1]) for i in indices] or [numpy.zeros(0, "int64")]
        )
        lengths = [self.offsets[i + 1] - self.offsets[i] for i in indices]
        offsets = numpy.concatenate([[0], numpy.cumsum(lengths)]).astype("int64")
        token_mix = None if self.token_mix is None else self.token_mix[rows]
        return LayerFeatures(layers=self.layers[:, rows], mix=self.mix[rows], offsets=offsets, token_mix=token_mix)

    def as_dict(self, keys: Optional[Sequence[str]] = None) -> Dict[str, numpy.ndarray]:
        """{key: [n_tokens, width]} for the given keys (default: all)."""
        return {key: self.get(key) for key in (keys or self.keys)}


def encode_docs(
    encoder: CtxEncoder,
    docs: Sequence[Doc],
    *,
    batch_size: int = 64,
    progress: bool = False,
    desc: str = "Encoding",
) -> LayerFeatures:
    """Run the encoder on docs (their own tokens are kept) and collect every
    layer, the uncorrected scalar mix and the token mix. The docs are not modified."""
    lengths = [len(doc) for doc in docs]
    offsets = numpy.concatenate([[0], numpy.cumsum(lengths)]).astype("int64")
    n_tokens = int(offsets[-1])
    layers = numpy.zeros((encoder.n_layers, n_tokens, encoder.width), dtype="float32")
    mix = numpy.zeros((n_tokens, encoder.width), dtype="float32")
    token_mix = numpy.zeros((n_tokens, encoder.width), dtype="float32")
    ops = encoder.model.ops
    bar = _progress(len(docs), desc, progress)
    start = 0
    for batch in minibatch(list(docs), size=batch_size):
        outputs = encoder.predict(batch)  # one [n_layers, n_tokens, width] per doc
        mixed = encoder.mix.predict(outputs)  # one [n_tokens, width] per doc
        for doc_layers, doc_mix, doc_token_mix in zip(outputs, mixed, encoder.token_mix.predict(outputs)):
            end = start + doc_layers.shape[1]
            layers[:, start:end] = ops.to_numpy(doc_layers)
            mix[start:end] = ops.to_numpy(doc_mix)
            token_mix[start:end] = ops.to_numpy(doc_token_mix)
            start = end
        bar.update(len(batch))
    bar.close()
    return LayerFeatures(layers=layers, mix=mix, offsets=offsets, token_mix=token_mix)


def fit_normalizers(
    features: LayerFeatures,
    methods: Iterable[str],
    *,
    n_components: Optional[int] = None,
    skip_below: Optional[float] = None,
    keys: Optional[Sequence[str]] = None,
) -> Dict[str, "Normalizer"]:
    """Fit one Normalizer per method on every key of `features`."""
    from ..normalizer import Normalizer

    data = features.as_dict(keys)
    return {
        method: Normalizer(method, n_components=n_components, skip_below=skip_below).fit(data)
        for method in methods
    }


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="doc", disable=not enabled, leave=False)
