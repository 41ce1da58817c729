"""Encoder outputs for frozen listeners, reused across training epochs."""
from typing import Callable, Dict, List, Sequence

import numpy
from spacy.tokens import Doc
from thinc.api import Ops

from ..models.types import DocLayers, LayerRequest

CacheKey = tuple


class FrozenCache:
    """Per-doc encoder outputs, for listeners that send no gradient back.

    It keeps only the layers the listeners mix (the request), in the
    request's dtype, in host memory: on a GPU, a whole training set's layers
    would not fit beside the model. A head on the top 4 layers costs 4/7 of
    the full output per token, and float16 halves that again (the heads then
    train on float16-rounded features and predict on float32 ones, a
    difference below 1e-3).

    Keys hold the doc's text, token offsets and layers, not the encoder:
    never share one store between different encoders.
    """

    def __init__(self, dtype: str = "float32") -> None:
        self.dtype = dtype
        self.store: Dict[CacheKey, numpy.ndarray] = {}

    def outputs(
        self,
        docs: Sequence[Doc],
        request: LayerRequest,
        encode: Callable[[List[Doc], LayerRequest], DocLayers],
        n_layers: int,
        ops: Ops,
    ) -> DocLayers:
        """One float32 [n_layers, n_tokens, width] array per doc, with the
        requested layers filled from the store (encoding the docs it lacks
        with `encode`, in the cache's dtype) and the others zero."""
        layers = list(request.layers)
        keys = [(doc.text, doc.to_array("IDX").tobytes(), tuple(layers)) for doc in docs]
        missing = [i for i, key in enumerate(keys) if key not in self.store]
        if missing:
            fresh = encode([docs[i] for i in missing], request)
            for i, compact in zip(missing, fresh):
                self.store[keys[i]] = numpy.ascontiguousarray(ops.to_numpy(compact), dtype=self.dtype)
        outputs = []
        for key in keys:
            compact = self.store[key]
            full = ops.alloc3f(n_layers, compact.shape[1], compact.shape[2])
            full[layers] = ops.asarray(compact)
            outputs.append(full)
        return outputs

    def info(self) -> Dict[str, object]:
        """What the cache holds: {"docs": n, "nbytes": n, "layers": [...],
        "dtype": "float32" | "float16"}."""
        arrays = list(self.store.values())
        layers = sorted({key[2] for key in self.store})
        return {
            "docs": len(arrays),
            "nbytes": int(sum(a.nbytes for a in arrays)),
            "layers": list(layers[0]) if len(layers) == 1 else [list(x) for x in layers],
            "dtype": self.dtype,
        }

    def clear(self) -> None:
        """Drop every cached output (e.g. after training, to free memory)."""
        self.store = {}

    def share(self, store: Dict[CacheKey, numpy.ndarray]) -> None:
        """Use `store` as the cache: e.g. one dict shared by the pipelines of
        several training runs in one process (seeds, data sizes) on the same
        encoder weights, so each doc is encoded once. Call it after the
        encoder's `initialize`, which starts a fresh cache."""
        self.store = store
