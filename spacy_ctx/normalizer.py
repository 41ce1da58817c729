"""Post-hoc corrections of anisotropic embedding spaces.

Contextual vectors sit in a narrow cone (Ethayarajh 2019): any two tokens
have a high cosine, which makes raw cosine a poor similarity. A Normalizer
learns one affine map per representation ("mix", "layer0", "layer1", ...)
and applies it to new vectors:

- "center": subtract the mean vector.
- "whiten": center, then ZCA-whiten with shrinkage (near-unit covariance,
  same orientation).
- "abtt": all-but-the-top (Mu & Viswanath 2018): center, then remove the
  projections on the top D principal directions.

Runtime state of the ctx_encoder: pure NumPy, no spaCy. The ctx_encoder
applies a fitted Normalizer to the scalar mix (key "mix")
when its `normalize` setting is on, and saves it with the pipeline.
"""
from os import PathLike
from typing import Dict, List, Mapping, Optional, Union

import numpy
import srsly

from .errors import Errors, SpacyCtxError

METHODS = ("center", "whiten", "abtt")
FORMAT_VERSION = 1

Array = numpy.ndarray


def unit_rows(X: numpy.ndarray) -> numpy.ndarray:
    """Rows scaled to unit length; all-zero rows stay zero."""
    X = numpy.asarray(X, dtype="float64")
    norms = numpy.linalg.norm(X, axis=-1, keepdims=True)
    return numpy.divide(X, norms, out=numpy.zeros_like(X), where=norms > 0)


def random_pair_cosine(
    X: numpy.ndarray,
    *,
    n_pairs: int = 10000,
    mask: Optional[numpy.ndarray] = None,
    seed: int = 0,
) -> float:
    """Mean cosine of `n_pairs` random pairs of distinct rows (among `mask`)."""
    rows = numpy.flatnonzero(mask) if mask is not None else numpy.arange(len(X))
    rows = rows[numpy.linalg.norm(X[rows], axis=1) > 0]
    if len(rows) < 2:
        return float("nan")
    rng = numpy.random.default_rng(seed)
    a = rng.integers(0, len(rows), n_pairs)
    # Add 1..n-1 modulo n: a uniform partner that is never the row itself.
    b = (a + rng.integers(1, len(rows), n_pairs)) % len(rows)
    U = unit_rows(X[rows])
    return float(numpy.einsum("ij,ij->i", U[a], U[b]).mean())



class Normalizer:
    """A fitted post-hoc correction, with separate parameters per key.

    method: "center", "whiten" or "abtt".
    n_components: for "abtt", how many top principal directions to remove
        (None = width / 100, rounded, at least 1: Mu & Viswanath's rule).
    eps: for "whiten", added to the covariance eigenvalues, relative to the
        largest one (shrinkage whitening). Near-constant directions are then
        not blown up: on MiniLM, pure whitening (eps 1e-5) cost 0.02 of
        polysemy AUC on SemCor, eps 0.1 about 0.005, and random-pair cosine
        stays <= 0.02 at every layer.
    skip_below: leave a key uncorrected (identity) when its random-pair
        cosine on the fit data is already <= this value (None = correct
        every key). MiniLM's last layer, trained for sentence similarity, is
        nearly isotropic (0.03); correcting it anyway cost polysemy AUC.
        The keys left as they are: `kept_raw`.
    """

    def __init__(
        self,
        method: str = "abtt",
        *,
        n_components: Optional[int] = None,
        eps: float = 0.1,
        skip_below: Optional[float] = None,
    ):
        if method not in METHODS:
            raise SpacyCtxError(
                Errors.A001.format(method=method, options=", ".join(METHODS))
            )
        self.method = method
        self.n_components = n_components
        self.eps = float(eps)
        self.skip_below = None if skip_below is None else float(skip_below)
        self.kept_raw: List[str] = []
        # key -> {"mean": [width], "matrix": [width, width] (whiten) or
        # "components": [D, width] (abtt)}, all float32
        self.params: Dict[str, Dict[str, Array]] = {}

    def __repr__(self) -> str:
        return f"Normalizer(method={self.method!r}, keys={self.keys})"

    @property
    def keys(self):
        """The representations this normalizer has parameters for."""
        return list(self.params)

    def fit(self, data: Mapping[str, Array]) -> "Normalizer":
        """Fit one correction per key from vectors [n_vectors, width].

        data: e.g. {"mix": ..., "layer0": ..., "layer6": ...}; see
            `spacy_ctx.analysis.features.encode_docs` to collect them from a
            corpus. Keys fitted before and not in `data` are kept.
        """
        for key, X in data.items():
            X = numpy.asarray(X, dtype="float64")
            if key in self.kept_raw:
                self.kept_raw.remove(key)
            if self.skip_below is not None and random_pair_cosine(X) <= self.skip_below:
                self.params[key] = {"mean": numpy.zeros(X.shape[1], dtype="float32")}  # identity
                self.kept_raw.append(key)
            else:
                self.params[key] = self._fit_one(key, X)
        return self

    def _fit_one(self, key: str, X: Array) -> Dict[str, Array]:
        n, width = X.shape
        need = {"center": 1, "abtt": self._n_components(width) + 1, "whiten": width + 1}
        if n < need[self.method]:
            raise SpacyCtxError(
                Errors.A003.format(method=self.method, key=key, n=n, need=need[self.method])
            )
        mean = X.mean(axis=0)
        params = {"mean": mean.astype("float32")}
        if self.method == "center":
            return params
        centered = X - mean
        cov = centered.T @ centered / (n - 1)
        eigvals, eigvecs = numpy.linalg.eigh(cov)  # ascending eigenvalues
        if self.method == "abtt":
            # The principal directions, largest variance first: [D, width].
            top = eigvecs[:, ::-1][:, : self._n_components(width)]
            params["components"] = top.T.astype("float32")
            return params
        eigvals = numpy.clip(eigvals, 0.0, None) + self.eps * eigvals.max()
        params["matrix"] = ((eigvecs / numpy.sqrt(eigvals)) @ eigvecs.T).astype("float32")
        return params

    def _n_components(self, width: int) -> int:
        d = self.n_components
        if d is None:
            d = max(1, int(round(width / 100)))
        if not 1 <= d < width:
            raise SpacyCtxError(Errors.A005.format(max=width - 1, value=d))
        return d

    def transform(self, X: Array, key: str = "mix") -> Array:
        """Correct vectors [n_vectors, width] (or one [width] vector) of the
        representation `key`. Returns float32 of the same shape."""
        if key not in self.params:
            raise KeyError(Errors.A002.format(key=key, keys=self.keys))
        params = self.params[key]
        # Host arrays: a CuPy array (GPU encoder output) is copied over.
        X = numpy.asarray(X.get() if hasattr(X, "get") else X, dtype="float32")
        width = params["mean"].shape[0]
        if X.shape[-1] != width:
            raise SpacyCtxError(Errors.A004.format(key=key, got=X.shape[-1], expected=width))
        Y = X - params["mean"]
        if "components" in params:
            U = params["components"]  # [D, width]
            Y = Y - (Y @ U.T) @ U
        elif "matrix" in params:
            Y = Y @ params["matrix"]  # symmetric
        return Y.astype("float32", copy=False)

    def to_bytes(self) -> bytes:
        """Serialize with msgpack (arrays included)."""
        return srsly.msgpack_dumps(
            {
                "version": FORMAT_VERSION,
                "method": self.method,
                "n_components": self.n_components,
                "eps": self.eps,
                "skip_below": self.skip_below,
                "kept_raw": self.kept_raw,
                "params": self.params,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> "Normalizer":
        """Load a Normalizer written by `to_bytes`."""
        msg = srsly.msgpack_loads(data)
        for field in ("method", "params"):
            if not isinstance(msg, dict) or field not in msg:
                raise SpacyCtxError(Errors.A012.format(field=field))
        norm = cls(
            msg["method"],
            n_components=msg.get("n_components"),
            eps=msg.get("eps", 0.1),
            skip_below=msg.get("skip_below"),
        )
        norm.kept_raw = list(msg.get("kept_raw", []))
        norm.params = {
            key: {name: numpy.asarray(value, dtype="float32") for name, value in params.items()}
            for key, params in msg["params"].items()
        }
        return norm

    def to_disk(self, path: Union[str, PathLike]) -> None:
        """Write `to_bytes()` to a file."""
        with open(path, "wb") as file_:
            file_.write(self.to_bytes())

    @classmethod
    def from_disk(cls, path: Union[str, PathLike]) -> "Normalizer":
        """Read a file written by `to_disk`."""
        with open(path, "rb") as file_:
            return cls.from_bytes(file_.read())
