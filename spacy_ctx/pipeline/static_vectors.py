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
best on the STS-B train pairs (docs/similarity.md). The hooks hold the doc's arrays in
closures: retokenizing a doc afterwards needs the component run again.
"""
from pathlib import Path
from typing import Dict, Iterable, Optional, Tuple

import numpy
import srsly
from spacy import attrs as spacy_attrs
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import ensure_path
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
        if self.pieces is None:
            raise SpacyCtxError(Errors.E314.format(name=self.name))
        T, w = self.token_vectors(doc)  # [n_tokens, width], [n_tokens]
        doc.user_token_hooks["vector"] = lambda token: T[token.i]
        doc.user_token_hooks["has_vector"] = lambda token: bool(w[token.i] > 0)
        doc.user_span_hooks["vector"] = lambda span: _weighted_mean(T[span.start : span.end], w[span.start : span.end])
        doc.user_span_hooks["has_vector"] = lambda span: bool(w[span.start : span.end].any())
        vector = _weighted_mean(T, w)
        doc.user_hooks["vector"] = lambda d: vector
        doc.user_hooks["has_vector"] = lambda d: bool(w.any())
        return doc

    def pipe(self, docs: Iterable[Doc], batch_size: int = 128) -> Iterable[Doc]:
        for doc in docs:
            yield self(doc)

    def token_vectors(self, doc: Doc) -> Tuple[numpy.ndarray, numpy.ndarray]:
        """Each token's vector ([n_tokens, width]) and sentence weight
        ([n_tokens]; 0 for whitespace)."""
        n = len(doc)
        T = numpy.zeros((n, self.width), dtype="float32")
        w = numpy.zeros(n, dtype="float32")
        if not n:
            return T, w
        values = doc.to_array([spacy_attrs.ORTH, spacy_attrs.LOWER, spacy_attrs.IS_SPACE])
        table = self.vocab.vectors
        rows = table.find(keys=values[:, 0]) if table.shape[0] else numpy.full(n, -1)
        missing = rows < 0
        if missing.any() and table.shape[0]:
            rows[missing] = table.find(keys=values[missing, 1])
            missing = rows < 0
        found = ~missing
        if found.any():
            T[found] = table.data[rows[found]]
            w[found] = self._weights[rows[found]]
        for i in numpy.flatnonzero(missing):
            T[i] = self.pooled(doc[int(i)].text)
            w[i] = self._oov_weight
        space = values[:, 2] != 0
        T[space] = 0.0
        w[space] = 0.0
        return T, w

    def pooled(self, word: str) -> numpy.ndarray:
        """The mean of the rows of a word's wordpieces (zeros for none)."""
        vector = self._cache.get(word)
        if vector is None:
            ids = self._tokenizer.encode(word, add_special_tokens=False).ids
            vector = self.pieces[ids].mean(axis=0) if ids else numpy.zeros(self.width, dtype="float32")
            if len(self._cache) < OOV_CACHE:
                self._cache[word] = vector
        return vector

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
        self._weights, self._oov_weight = sif_weights(self.row_counts, self.cfg["weighting"], self.cfg["sif_a"])
        self._cache = {}


def _weighted_mean(T: numpy.ndarray, w: numpy.ndarray) -> numpy.ndarray:
    total = float(w.sum())
    if total <= 0:
        return numpy.zeros(T.shape[1], dtype="float32")
    return (w @ T / total).astype("float32")
