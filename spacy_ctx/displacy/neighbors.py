"""Nearest contextual neighbours of a token in a corpus embedded with `embed`.

The corpus is the Parquet table `python -m spacy_ctx embed` writes (a file or
a directory of them): columns doc, i, text, idx, then one vector column per
output ("mix", "layer<i>"). Up to `threshold` tokens, a search is one matrix
product with the column's unit rows, normalised once per column on first use
and kept in float32 (as much memory again as the column: 100k tokens x 384
is 154 MB per column searched). Above it, candidates come from a usearch HNSW
index (the `[explore]` extra), built once per column on first use. Either way
the k reported cosines are recomputed in float64 from the stored vectors, so
they depend neither on the index nor on float32 rounding.
"""
from pathlib import Path
from typing import Dict, List, Sequence, Tuple, Union

import numpy
from spacy.tokens import Doc

from ..compat import require
from ..embed.writers import TOKEN_COLUMNS
from ..errors import Errors, SpacyCtxError
from ..normalizer import unit_rows
from .views import Panel, TokenRef, View, check_token, key_title, token_vectors

DEFAULT_THRESHOLD = 100_000
# Candidates taken from the approximate index per neighbour asked for, before
# exact re-scoring: a margin for what HNSW misses or orders wrongly.
OVERSAMPLE = 4
NEIGHBOR_COLUMNS = ["neighbour", "doc", "i", "cosine"]


class EmbeddedCorpus:
    """The tokens and vectors of an embedded corpus, searchable by cosine.

    path: a Parquet file or a directory of them, as `embed` writes.
    threshold: corpora of more tokens than this are searched through an
        approximate (usearch) index; smaller ones by brute force.
    """

    def __init__(self, path: Union[str, Path], threshold: int = DEFAULT_THRESHOLD):
        if threshold < 0:
            raise SpacyCtxError(Errors.E205.format(setting="threshold", min=0, value=threshold))
        pq = require("pyarrow.parquet", "embed", "reading an embedded corpus")
        self.path = Path(path)
        self.threshold = int(threshold)
        try:
            table = pq.read_table(self.path)
        except (OSError, ValueError) as err:
            raise SpacyCtxError(Errors.E513.format(path=path, reason=err)) from None
        missing = [c for c in TOKEN_COLUMNS if c not in table.column_names]
        if missing:
            raise SpacyCtxError(Errors.E513.format(path=path, reason=f"no column(s) {', '.join(missing)}"))
        self.doc_ids: List[str] = table.column("doc").to_pylist()
        self.token_ids: List[int] = table.column("i").to_pylist()
        self.texts: List[str] = table.column("text").to_pylist()
        self.vectors: Dict[str, numpy.ndarray] = {}
        for name in table.column_names[len(TOKEN_COLUMNS):]:
            column = table.column(name).combine_chunks()
            width = column.type.list_size
            # [n_tokens, width]
            self.vectors[name] = numpy.asarray(column.flatten(), dtype="float32").reshape(-1, width)
        if not self.vectors:
            raise SpacyCtxError(Errors.E513.format(path=path, reason="no vector columns"))
        self._units: Dict[str, numpy.ndarray] = {}  # see `units`
        self._indexes: Dict[str, object] = {}

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def keys(self) -> List[str]:
        """The vector columns ("mix", "layer<i>")."""
        return list(self.vectors)

    @property
    def approximate(self) -> bool:
        """Whether searches go through the approximate index."""
        return len(self) > self.threshold

    def search(self, key: str, vector: numpy.ndarray, k: int) -> List[Tuple[int, float]]:
        """The k rows of column `key` nearest to `vector` by cosine, nearest
        first: (row, exact cosine) pairs."""
        if k < 1:
            raise SpacyCtxError(Errors.E205.format(setting="k", min=1, value=k))
        X = self.vectors[key]
        if vector.shape[-1] != X.shape[1]:
            raise SpacyCtxError(Errors.E514.format(key=key, corpus=X.shape[1], pipeline=vector.shape[-1]))
        q = unit_rows(vector[None, :])[0]
        if self.approximate:
            rows = self._candidates(key, vector, k * OVERSAMPLE)
            scores = self.units(key)[rows] @ q.astype("float32")
        else:
            rows = None
            scores = self.units(key) @ q.astype("float32")
        best = numpy.argsort(-scores, kind="stable")[:k]
        best = best if rows is None else rows[best]
        exact = unit_rows(X[best]) @ q  # float64
        order = numpy.argsort(-exact, kind="stable")
        return [(int(best[j]), float(exact[j])) for j in order]

    def units(self, key: str) -> numpy.ndarray:
        """Column `key` with unit rows (zero rows stay zero), float32
        [n_tokens, width]: computed on the first search of that key and kept,
        so a query costs one matrix product, not a pass over the corpus."""
        if key not in self._units:
            X = self.vectors[key]
            norms = numpy.linalg.norm(X, axis=1, keepdims=True)
            self._units[key] = numpy.divide(X, norms, out=numpy.zeros_like(X), where=norms > 0)
        return self._units[key]

    def _candidates(self, key: str, vector: numpy.ndarray, n: int) -> numpy.ndarray:
        if key not in self._indexes:
            usearch = require("usearch.index", "explore", "an approximate neighbour index")
            X = self.vectors[key]
            index = usearch.Index(ndim=X.shape[1], metric="cos", dtype="f32")
            index.add(numpy.arange(len(X)), numpy.ascontiguousarray(X))
            self._indexes[key] = index
        matches = self._indexes[key].search(numpy.ascontiguousarray(vector, dtype="float32"), min(n, len(self)))
        return numpy.asarray(matches.keys, dtype="int64")

    def context(self, row: int, window: int = 4) -> str:
        """The token of `row` in a few words of its doc: "left [token] right"."""
        left, token, right = self.context_parts(row, window)
        return " ".join(part for part in (left, f"[{token}]", right) if part)

    def context_parts(self, row: int, window: int = 4) -> Tuple[str, str, str]:
        """(left, token, right): up to `window` tokens of its doc either side
        of the token of `row`, joined by spaces (the corpus keeps no whitespace)."""
        doc = self.doc_ids[row]
        lo = row
        while lo > 0 and row - lo < window and self.doc_ids[lo - 1] == doc:
            lo -= 1
        hi = row
        while hi + 1 < len(self) and hi - row < window and self.doc_ids[hi + 1] == doc:
            hi += 1
        return " ".join(self.texts[lo:row]), self.texts[row], " ".join(self.texts[row + 1 : hi + 1])


def neighbors_view(corpus: EmbeddedCorpus, docs: Sequence[Doc], query: TokenRef, k: int = 5) -> View:
    """The k nearest neighbours in `corpus` of a token occurrence, per layer
    that both store, and for the mix (E519 when they share none)."""
    d, i = check_token(docs, query)
    vectors = token_vectors(docs, [(d, i)])
    keys = [key for key in vectors if key in corpus.vectors]
    if not keys:
        raise SpacyCtxError(Errors.E519.format(corpus=corpus.keys, pipeline=list(vectors)))
    kind = "approximate index, re-scored" if corpus.approximate else "exact search"
    view = View("neighbors", f"nearest neighbours of '{docs[d][i].text}' in {corpus.path.name} ({kind})")
    for key in keys:
        found = corpus.search(key, vectors[key][0], k)
        rows = [str(rank + 1) for rank in range(len(found))]
        values = [[corpus.context(j), corpus.doc_ids[j], str(corpus.token_ids[j]), cos] for j, cos in found]
        view.panels.append(Panel(key_title(key), "table", rows, list(NEIGHBOR_COLUMNS), values))
    return view
