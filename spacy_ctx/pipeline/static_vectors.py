"""`ctx_static_vectors`: static vectors for every word, and weighted sentence vectors, with no encoder at run time.

The component sits on a pipeline whose vocab holds a distilled word table
(`distill-static` output). It carries a wordpiece table (one row per
wordpiece of the encoder's vocabulary, distilled in context or, for pieces
the corpus never showed, from the encoder alone) and the encoder's fast
tokenizer (`tokenizer.json`, read with the `tokenizers` library; no
transformer). For each doc it sets:

- `token.vector`: the word table's row (looked up by ORTH, then LOWER);
  for a word outside the table, the mean of its wordpieces' rows. Whitespace
  tokens get zeros.
- `doc.vector` / `span.vector`: the weighted mean of the token vectors,
  each token weighted a / (a + p(word)) (SIF, Arora et al. 2017). p comes
  from the distillation corpus' counts ("sif") or from a Zipf law over the
  table's frequency ranks ("zipf"); "none" is the plain mean. A word
  outside the table has count 0 (weight 1 under "sif") or the rank after
  the table's last (under "zipf").

So `doc.similarity` works on a blank pipeline. The weights follow the
config (`weighting`, `sif_a`) and the counts saved beside the tables, so
changing them needs no new distillation. The defaults (Zipf, a = 0.01) scored
best on the STS-B train pairs (docs/similarity.md).

`nlp.pipe` annotates a batch of docs at once: one lookup of all their keys,
one tokenizer call for their unseen words, every doc vector in one pass.
Token vectors are read from the table when asked for; each doc's hooks keep
that doc's row indices, weights and the pooled vectors of its unseen words
(12 bytes a token, and a row per unseen word), so a pickled doc carries no
more. Retokenizing a doc afterwards needs the component run again.
"""
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

import numpy
import srsly
from spacy import attrs as spacy_attrs
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import ensure_path, minibatch
from spacy.vocab import Vocab

from ..errors import Errors, SpacyCtxError

WEIGHTINGS = ("none", "sif", "zipf")
PIECES = "pieces.npy"
PIECE_COUNTS = "piece_counts.npy"
ROW_COUNTS = "row_counts.npy"
TOKENIZER = "tokenizer.json"
CFG = "cfg"
# Words outside the table keep their pooled vector this long.
OOV_CACHE = 100_000
ATTRS = [spacy_attrs.ORTH, spacy_attrs.LOWER, spacy_attrs.IS_SPACE]


@Language.factory(
    "ctx_static_vectors",
    assigns=["token.vector", "doc.vector"],
    default_config={"weighting": "zipf", "sif_a": 1e-2},
)
def make_ctx_static_vectors(nlp: Language, name: str, weighting: str, sif_a: float) -> "StaticSubwordVectors":
    return StaticSubwordVectors(nlp.vocab, name, weighting=weighting, sif_a=sif_a)


def sif_weights(counts: numpy.ndarray, weighting: str, a: float) -> Tuple[numpy.ndarray, float]:
    """Each table row's weight a / (a + p) and the weight of a word outside
    the table. counts: [n_rows], how often each row's word occurred.

    "sif": p = count / total (outside the table: count 0, weight 1).
    "zipf": p = 1 / (rank * H), rank 1 for the most frequent row (ties by
    row order), H the harmonic number over n_rows + 1 ranks; outside the
    table: rank n_rows + 1. "none": every weight 1.
    """
    if weighting not in WEIGHTINGS:
        raise SpacyCtxError(Errors.E312.format(weighting=weighting, options=", ".join(WEIGHTINGS)))
    counts = numpy.asarray(counts, dtype="float64")
    if weighting == "none" or not len(counts):
        return numpy.ones(len(counts), dtype="float32"), 1.0
    if weighting == "sif":
        p = counts / max(counts.sum(), 1.0)
        return (a / (a + p)).astype("float32"), 1.0
    n = len(counts)
    rank = numpy.empty(n, dtype="float64")
    rank[numpy.argsort(-counts, kind="stable")] = numpy.arange(1, n + 1)
    harmonic = float(numpy.sum(1.0 / numpy.arange(1, n + 2)))
    p = 1.0 / (rank * harmonic)
    p_oov = 1.0 / ((n + 1) * harmonic)
    return (a / (a + p)).astype("float32"), float(a / (a + p_oov))


class StaticSubwordVectors:
    """Token, span and doc vectors from a word table and a wordpiece table
    (see the module docstring)."""

    def __init__(self, vocab: Vocab, name: str = "ctx_static_vectors", *, weighting: str = "zipf", sif_a: float = 1e-2):
        if weighting not in WEIGHTINGS:
            raise SpacyCtxError(Errors.E312.format(weighting=weighting, options=", ".join(WEIGHTINGS)))
        self.vocab = vocab
        self.name = name
        self.cfg: Dict = {"weighting": weighting, "sif_a": sif_a}
        self.pieces: Optional[numpy.ndarray] = None  # [n_wordpieces, width]
        self.piece_counts: Optional[numpy.ndarray] = None  # [n_wordpieces], in-context occurrences
        self.row_counts: Optional[numpy.ndarray] = None  # [n_rows of vocab.vectors]
        self.tokenizer_json: Optional[str] = None
        self._tokenizer = None
        self._weights: Optional[numpy.ndarray] = None
        self._oov_weight = 1.0
        self._cache: Dict[str, numpy.ndarray] = {}
        self._lookup: Optional[Tuple] = None  # (table, sorted keys, their rows)

    def set_tables(
        self, pieces: numpy.ndarray, tokenizer_json: str, row_counts: numpy.ndarray,
        piece_counts: Optional[numpy.ndarray] = None, info: Optional[Dict] = None,
    ) -> None:
        """Hold a wordpiece table ([n_wordpieces, width], rows by tokenizer
        id), the tokenizer that splits words into those pieces, and the
        counts of the vocab's vector rows (for the weights)."""
        self.pieces = numpy.ascontiguousarray(pieces, dtype="float32")
        self.tokenizer_json = tokenizer_json
        self.row_counts = numpy.asarray(row_counts, dtype="int64")
        self.piece_counts = None if piece_counts is None else numpy.asarray(piece_counts, dtype="int64")
        self.cfg.update(info or {})
        self._setup()

    @property
    def width(self) -> int:
        return 0 if self.pieces is None else self.pieces.shape[1]

    def __call__(self, doc: Doc) -> Doc:
        """Set the doc's, its spans' and its tokens' vector hooks."""
        return self._annotate([doc])[0]

    def pipe(self, docs: Iterable[Doc], batch_size: int = 128) -> Iterable[Doc]:
        """Annotate docs a batch at a time: one table lookup and one pooling
        per batch, not per doc."""
        for batch in minibatch(docs, size=batch_size):
            yield from self._annotate(batch)

    def token_vectors(self, doc: Doc) -> Tuple[numpy.ndarray, numpy.ndarray]:
        """Each token's vector ([n_tokens, width]) and sentence weight
        ([n_tokens]; 0 for whitespace)."""
        vectors = self._lookup_batch([doc]).doc(0)
        return vectors.matrix(doc.vocab, 0, len(doc)), vectors.w

    def _annotate(self, docs: List[Doc]) -> List[Doc]:
        if self.pieces is None:
            raise SpacyCtxError(Errors.E314.format(name=self.name))
        batch = self._lookup_batch(docs)
        for i, doc in enumerate(docs):
            batch.doc(i).set_hooks(doc)
        return docs

    def _lookup_batch(self, docs: List[Doc]) -> "BatchVectors":
        """The rows and weights of a batch's tokens, the pooled wordpieces of
        the words outside the table, and every doc's vector."""
        lengths = numpy.fromiter((len(doc) for doc in docs), dtype="int64", count=len(docs))
        values = numpy.concatenate([doc.to_array(ATTRS) for doc in docs] + [numpy.zeros((0, len(ATTRS)), dtype="uint64")])
        values = values.reshape(-1, len(ATTRS))
        rows = self._rows(values[:, 0])
        missing = rows < 0
        if missing.any():
            rows[missing] = self._rows(values[missing, 1])
            missing = rows < 0
        w = self._weights[numpy.maximum(rows, 0)] if len(self._weights) else numpy.ones(len(rows), dtype="float32")
        w[missing] = self._oov_weight
        strings = self.vocab.strings
        pooled = self.pooled_many([strings[key] for key in values[missing, 0].tolist()])
        # The pooled rows come doc after doc: doc d's are pooled[starts[d]:starts[d + 1]],
        # and outside the table its token i reads row -(rows[i] + 1) of those.
        doc_of = numpy.repeat(numpy.arange(len(docs)), lengths)
        pooled_starts = numpy.concatenate(([0], numpy.cumsum(numpy.bincount(doc_of[missing], minlength=len(docs)))))
        rows[missing] = -1 - (numpy.arange(len(pooled)) - pooled_starts[doc_of[missing]])
        space = values[:, 2] != 0
        rows[space] = SPACE
        w[space] = 0.0
        return BatchVectors(self.vocab.vectors.data, pooled, pooled_starts, rows, w, lengths)

    def _rows(self, keys: numpy.ndarray) -> numpy.ndarray:
        """The vector table's row of each key (-1 where absent), by binary
        search over the table's sorted keys: spaCy's `Vectors.find` looks
        keys up one at a time in Python, which costs more than the rest of
        the component."""
        table = self.vocab.vectors
        if self._lookup is None or self._lookup[0] is not table or len(self._lookup[1]) != len(table.key2row):
            sorted_keys = numpy.fromiter(table.key2row.keys(), dtype="uint64", count=len(table.key2row))
            key_rows = numpy.fromiter(table.key2row.values(), dtype="int64", count=len(table.key2row))
            order = numpy.argsort(sorted_keys)
            self._lookup = (table, sorted_keys[order], key_rows[order])
        _, sorted_keys, key_rows = self._lookup
        keys = numpy.asarray(keys, dtype="uint64")
        if not len(sorted_keys):
            return numpy.full(len(keys), -1, dtype="int64")
        at = numpy.minimum(numpy.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
        return numpy.where(sorted_keys[at] == keys, key_rows[at], -1)

    def pooled(self, word: str) -> numpy.ndarray:
        """The mean of the rows of a word's wordpieces (zeros for none)."""
        return self.pooled_many([word])[0]

    def pooled_many(self, words: List[str]) -> numpy.ndarray:
        """`pooled` of each word ([n_words, width]), the words not yet cached
        split in one batch call of the tokenizer."""
        new = [word for word in dict.fromkeys(words) if word not in self._cache]
        found = {}
        for word, encoding in zip(new, self._tokenizer.encode_batch(new, add_special_tokens=False) if new else []):
            ids = encoding.ids
            found[word] = self.pieces[ids].mean(axis=0) if ids else numpy.zeros(self.width, dtype="float32")
        for word, vector in found.items():
            if len(self._cache) >= OOV_CACHE:
                break
            self._cache[word] = vector
        if not words:
            return numpy.zeros((0, self.width), dtype="float32")
        return numpy.stack([found[word] if word in found else self._cache[word] for word in words])

    def initialize(self, get_examples=None, *, nlp: Optional[Language] = None) -> None:
        """Nothing to learn: the tables come from `set_tables` or `from_disk`."""

    def to_disk(self, path, *, exclude: Iterable[str] = tuple()) -> None:
        """Save the wordpiece table, the counts, the tokenizer and the cfg."""
        if self.pieces is None:
            raise SpacyCtxError(Errors.E314.format(name=self.name))
        path = ensure_path(path)
        path.mkdir(parents=True, exist_ok=True)
        numpy.save(path / PIECES, self.pieces)
        numpy.save(path / ROW_COUNTS, self.row_counts)
        if self.piece_counts is not None:
            numpy.save(path / PIECE_COUNTS, self.piece_counts)
        (path / TOKENIZER).write_text(self.tokenizer_json, encoding="utf8")
        srsly.write_json(path / CFG, self.cfg)

    def from_disk(self, path, *, exclude: Iterable[str] = tuple()) -> "StaticSubwordVectors":
        """Load what `to_disk` saved; the config's weighting and sif_a win
        over the saved cfg's, so a loaded pipeline can change them."""
        path = Path(path)
        weighting, sif_a = self.cfg["weighting"], self.cfg["sif_a"]
        self.cfg.update(srsly.read_json(path / CFG))
        self.cfg.update(weighting=weighting, sif_a=sif_a)
        self.pieces = numpy.load(path / PIECES)
        self.row_counts = numpy.load(path / ROW_COUNTS)
        self.piece_counts = numpy.load(path / PIECE_COUNTS) if (path / PIECE_COUNTS).exists() else None
        self.tokenizer_json = (path / TOKENIZER).read_text(encoding="utf8")
        self._setup()
        return self

    def _setup(self) -> None:
        from tokenizers import Tokenizer

        width = self.vocab.vectors.shape[1] if self.vocab.vectors.shape[0] else self.width
        if width != self.width:
            raise SpacyCtxError(Errors.E315.format(piece_width=self.width, width=width))
        self._tokenizer = Tokenizer.from_str(self.tokenizer_json)
        # The encoder's tokenizer.json may pad batches (and truncate): a word's
        # pieces are its own ids only.
        self._tokenizer.no_padding()
        self._tokenizer.no_truncation()
        self._weights, self._oov_weight = sif_weights(self.row_counts, self.cfg["weighting"], self.cfg["sif_a"])
        self._cache = {}
        self._lookup = None


# The row of a whitespace token: zeros and weight 0. Rows -1 .. -n_pooled
# are the pooled wordpieces of the batch's words outside the table.
SPACE = numpy.iinfo("int64").min


class BatchVectors:
    """A batch's token lookups: token i of doc d is row `rows[i]` of the word
    table (`data`), or of doc d's pooled vectors (see SPACE), with its
    sentence weight `w[i]`; `vectors` holds each doc's weighted mean."""

    def __init__(self, data, pooled: numpy.ndarray, pooled_starts: numpy.ndarray, rows: numpy.ndarray,
                 w: numpy.ndarray, lengths: numpy.ndarray):
        self.pooled, self.rows, self.w = pooled, rows, w
        self.starts = numpy.concatenate(([0], numpy.cumsum(lengths))).tolist()
        self.pooled_starts = pooled_starts.tolist()
        doc_of = numpy.repeat(numpy.arange(len(lengths)), lengths)
        width = pooled.shape[1]
        sums = _bag_sums(data, rows, w, doc_of, len(lengths), width)
        in_pooled = (rows < 0) & (rows != SPACE)
        if in_pooled.any():
            batch_rows = numpy.full(len(rows), -1, dtype="int64")
            batch_rows[in_pooled] = pooled_starts[doc_of[in_pooled]] - 1 - rows[in_pooled]
            sums += _bag_sums(pooled, batch_rows, w, doc_of, len(lengths), width)
        totals = numpy.bincount(doc_of, weights=w, minlength=len(lengths))
        ok = totals > 0
        sums[ok] /= totals[ok, None].astype("float32")
        self.vectors = sums

    def doc(self, i: int) -> "DocVectors":
        """Doc i's lookups, as views of the batch's arrays: a pickled doc
        carries only its own (NumPy pickles a view's data alone)."""
        start, end = self.starts[i], self.starts[i + 1]
        pooled = self.pooled[self.pooled_starts[i] : self.pooled_starts[i + 1]]
        return DocVectors(self.rows[start:end], self.w[start:end], pooled, self.vectors[i])


class DocVectors:
    """One doc's lookups (as in BatchVectors) and vector, and the vector
    hooks that serve them. The word table is read from the doc's vocab when
    a vector is asked for, never held."""

    __slots__ = ("rows", "w", "pooled", "vector")

    def __init__(self, rows: numpy.ndarray, w: numpy.ndarray, pooled: numpy.ndarray, vector: numpy.ndarray):
        self.rows, self.w, self.pooled, self.vector = rows, w, pooled, vector

    def token(self, vocab: Vocab, i: int) -> numpy.ndarray:
        row = int(self.rows[i])
        if row >= 0:
            return _numpy(vocab.vectors.data[row])
        if row == SPACE:
            return numpy.zeros(self.vector.shape[0], dtype="float32")
        return self.pooled[-1 - row]

    def matrix(self, vocab: Vocab, start: int, end: int) -> numpy.ndarray:
        out = numpy.zeros((max(end - start, 0), self.vector.shape[0]), dtype="float32")
        for i in range(start, end):
            out[i - start] = self.token(vocab, i)
        return out

    def span_vector(self, vocab: Vocab, start: int, end: int) -> numpy.ndarray:
        w = self.w[start:end]
        total = float(w.sum())
        if total <= 0:
            return numpy.zeros(self.vector.shape[0], dtype="float32")
        return (w @ self.matrix(vocab, start, end) / total).astype("float32")

    def set_hooks(self, doc: Doc) -> None:
        w, vector = self.w, self.vector
        doc.user_token_hooks["vector"] = lambda token: self.token(token.doc.vocab, token.i)
        doc.user_token_hooks["has_vector"] = lambda token: bool(w[token.i] > 0)
        doc.user_span_hooks["vector"] = lambda span: self.span_vector(span.doc.vocab, span.start, span.end)
        doc.user_span_hooks["has_vector"] = lambda span: bool(w[span.start : span.end].any())
        doc.user_hooks["vector"] = lambda d: vector
        doc.user_hooks["has_vector"] = lambda d: bool(w.any())


def _numpy(array) -> numpy.ndarray:
    """A float32 NumPy copy of a (NumPy or CuPy) array: the vocab's table is
    a CuPy array after `spacy.require_gpu()`."""
    if not isinstance(array, numpy.ndarray):
        from thinc.api import get_array_ops

        array = get_array_ops(array).to_numpy(array)
    return numpy.array(array, dtype="float32")


def _bag_sums(table, rows, w, doc_of, n_docs: int, width: int, mask=None) -> numpy.ndarray:
    """Each doc's weighted sum of `table[rows]` over its tokens where `mask`
    (default: rows >= 0): one gather for the batch, then one small
    matrix-vector product per doc (numpy's add.reduceat over the rows of a
    matrix is several times slower at these sizes). NumPy only: the component
    runs no torch op."""
    sums = numpy.zeros((n_docs, width), dtype="float32")
    mask = rows >= 0 if mask is None else mask
    if not mask.any() or not len(table):
        return sums
    gathered = _numpy(table[rows[mask]])
    weights = w[mask]
    counts = numpy.bincount(doc_of[mask], minlength=n_docs)
    ends = numpy.cumsum(counts).tolist()
    start = 0
    for i, end in enumerate(ends):
        if end > start:
            sums[i] = weights[start:end] @ gathered[start:end]
        start = end
    return sums
