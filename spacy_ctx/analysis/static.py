"""Static word vectors distilled from contextual ones.

A word type's static vector aggregates its contextual vectors (one layer, or
the scalar mix) over a corpus:

- "mean": the mean over all its occurrences (Bommasani et al. 2020), kept as
  running sums.
- "pca": its first principal component (Ethayarajh 2019): the top right
  singular vector of its [n_occurrences, width] matrix, uncentred as in
  Ethayarajh's "maximum explainable variance", scaled by sigma_1 / sqrt(n)
  (the root-mean-square length of the occurrences along it) and signed to
  agree with the mean. It is computed from at most `max_occurrences`
  occurrences per type, a uniform reservoir sample. A type seen once gets
  exactly its one vector, as with "mean".

Two passes over the texts: the first only tokenizes, counts the types and
fixes the vocabulary (min_count, vocab_size); the second encodes and
accumulates. Memory is bounded by the vocabulary, not the corpus: per
representation, [n_types, width] sums and sum_t min(count_t,
max_occurrences) reservoir rows.

With `subwords=True` a third pass distils a wordpiece table
(`static_subwords`), so that a word outside the table gets the pooled
vectors of its wordpieces through the `ctx_static_vectors` component.

`write_static_vectors` saves a table the way `spacy init vectors` does: a
blank pipeline directory whose vocab holds the vectors (keyed by ORTH: the
type and every surface form seen of it), so it serves as
`[initialize] vectors` for `include_static_vectors` heads, loads with
`spacy.load`, and its vocab/ directory with `Vectors().from_disk`; with a
wordpiece table, the pipeline also holds the component
(`static_pipeline`).
`load_vectors_vocab` and `table_info` read a table and its distill.json back
(the `similarity` command scores them).
"""
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy
import srsly
from spacy import attrs as spacy_attrs
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import minibatch
from spacy.vocab import Vocab

from ..corpora import read_texts
from ..errors import Errors, SpacyCtxError
from ..normalizer import Normalizer
from ..pipeline.loading import find_encoder
from ..util import MIX_KEY, TOKEN_MIX_KEY, layer_key
from .features import encode_docs
from .static_pipeline import static_pipeline
from .static_subwords import PIECE_POOLINGS, SubwordTable, distill_subwords

PathLike = Union[str, Path]
METHODS = ("mean", "pca")
ATTRS = ("LOWER", "ORTH", "NORM")
# A distilled table's settings, beside its vectors.
DISTILL_INFO = "distill.json"
# The PCA both tables were projected with: mean [width], components [dims, width].
PCA_FILE = "pca.npz"
# SVDs of this many types at once: [chunk, n, width] float32 stays small.
SVD_CHUNK = 2048


@dataclass
class StaticTable:
    """One distilled table: `vectors[i]` ([n_types, width], float32) is the
    vector of the type `words[i]` (its `attr` string), seen `counts[i]`
    times; `forms` maps each surface form seen of a kept type to its row."""

    words: List[str]
    vectors: numpy.ndarray
    counts: numpy.ndarray
    key: str
    method: str
    attr: str
    forms: Dict[str, int] = field(default_factory=dict)
    settings: Dict = field(default_factory=dict)
    # The wordpiece table of the same key (distill_static(subwords=True)).
    subwords: Optional[SubwordTable] = None


def resolve_key(key: Union[str, int], n_layers: int) -> str:
    """"mix", "token" (or "token_mix"), or a layer index (negative from the
    top) -> "mix" / "token_mix" / "layer<i>"."""
    text = str(key).strip()
    if text == MIX_KEY:
        return MIX_KEY
    if text in ("token", TOKEN_MIX_KEY):
        return TOKEN_MIX_KEY
    if text.startswith("layer"):
        text = text[5:]
    try:
        layer = int(text)
    except ValueError:
        layer = n_layers  # out of range: reported below
    if not -n_layers <= layer < n_layers:
        raise SpacyCtxError(Errors.E306.format(key=key, last=n_layers - 1, n=n_layers))
    return layer_key(layer % n_layers)


def count_types(docs: Iterable[Doc], attr: str = "LOWER") -> Tuple[Counter, Dict[int, int]]:
    """How often each type occurs ({attr hash: count}), and the type of each
    surface form ({ORTH hash: attr hash}). Whitespace tokens, which the
    encoder gives no vector, are not counted."""
    attr_id = _attr_id(attr)
    counts: Counter = Counter()
    forms: Dict[int, int] = {}
    for doc in docs:
        values = doc.to_array([attr_id, spacy_attrs.ORTH, spacy_attrs.IS_SPACE])
        values = values[values[:, 2] == 0]
        counts.update(values[:, 0].tolist())
        forms.update(zip(values[:, 1].tolist(), values[:, 0].tolist()))
    return counts, forms


def select_vocab(counts: Counter, *, min_count: int = 1, vocab_size: Optional[int] = None) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """The types kept: seen at least `min_count` times, the `vocab_size` most
    frequent (ties by first appearance). Returns (hashes, counts), most
    frequent first."""
    kept = [(h, c) for h, c in counts.most_common(vocab_size) if c >= min_count]
    if not kept:
        raise SpacyCtxError(Errors.E307.format(min_count=min_count))
    hashes, n = zip(*kept)
    return numpy.asarray(hashes, dtype="uint64"), numpy.asarray(n, dtype="int64")


class StaticAccumulator:
    """Running sums and per-type reservoir samples of token vectors.

    counts: [n_types], how often each type will be seen (from the counting
        pass): it sizes each type's reservoir.
    keys: the representations accumulated ("layer3", "mix", ...).
    max_occurrences: reservoir rows per type (the PCA sample); 0 = no
        reservoir (mean only).
    """

    def __init__(
        self,
        counts: numpy.ndarray,
        keys: Sequence[str],
        width: int,
        *,
        max_occurrences: int = 0,
        seed: int = 0,
    ):
        self.counts = numpy.asarray(counts, dtype="int64")
        self.keys = list(keys)
        self.max_occurrences = max_occurrences
        n_types = len(self.counts)
        self.seen = numpy.zeros(n_types, dtype="int64")
        self.sums = {key: numpy.zeros((n_types, width), dtype="float64") for key in self.keys}
        # Type t owns reservoir rows start[t] : start[t] + size[t].
        self.size = numpy.minimum(self.counts, max_occurrences)
        self.start = numpy.concatenate([[0], numpy.cumsum(self.size)[:-1]]).astype("int64")
        n_rows = int(self.size.sum())
        self.reservoir = {key: numpy.zeros((n_rows, width), dtype="float32") for key in self.keys} if max_occurrences else {}
        self._rng = numpy.random.default_rng(seed)

    def add(self, types: numpy.ndarray, vectors: Dict[str, numpy.ndarray]) -> None:
        """Add a batch of tokens: `types` [n_tokens] (a vocabulary row, or -1
        to skip the token) and {key: [n_tokens, width]}."""
        valid = types >= 0
        rows = types[valid]
        if not len(rows):
            return
        # Group the tokens by type (stable: corpus order within a type).
        order = numpy.argsort(rows, kind="stable")
        sorted_rows = rows[order]
        starts = numpy.flatnonzero(numpy.r_[True, sorted_rows[1:] != sorted_rows[:-1]])
        group_sizes = numpy.diff(numpy.r_[starts, len(rows)])
        rank = numpy.empty(len(rows), dtype="int64")
        rank[order] = numpy.arange(len(rows)) - numpy.repeat(starts, group_sizes)
        occurrence = self.seen[rows] + rank  # 0-based occurrence number of each token
        self.seen[sorted_rows[starts]] += group_sizes
        slots = None
        if self.max_occurrences:
            slots = self._reservoir_slots(rows, occurrence)
        for key in self.keys:
            X = vectors[key][valid]
            self.sums[key][sorted_rows[starts]] += numpy.add.reduceat(X[order], starts, axis=0, dtype="float64")
            if slots is not None:
                keep = slots >= 0
                self.reservoir[key][slots[keep]] = X[keep]

    def _reservoir_slots(self, rows: numpy.ndarray, occurrence: numpy.ndarray) -> numpy.ndarray:
        """Algorithm R: occurrence j of a type fills slot j while j < k, then
        replaces a uniform slot with probability k / (j + 1). Returns the
        reservoir row of each token, or -1 when it is not kept."""
        k = self.max_occurrences
        slot = occurrence.copy()
        late = occurrence >= k
        slot[late] = (self._rng.random(int(late.sum())) * (occurrence[late] + 1)).astype("int64")
        # Beyond the counted occurrences (texts changed between the passes)
        # there is no room: drop the token from the sample.
        keep = (slot < k) & (occurrence < self.counts[rows])
        return numpy.where(keep, self.start[rows] + slot, -1)

    def mean(self, key: str) -> numpy.ndarray:
        """[n_types, width]: each type's mean vector (zeros if never seen)."""
        return (self.sums[key] / numpy.maximum(self.seen, 1)[:, None]).astype("float32")

    def first_component(self, key: str) -> numpy.ndarray:
        """[n_types, width]: each type's signed, scaled first principal
        component over its reservoir sample (see the module docstring)."""
        if not self.max_occurrences:
            raise SpacyCtxError(Errors.E205.format(setting="max_occurrences (for 'pca')", min=1, value=0))
        width = self.sums[key].shape[1]
        mean = self.mean(key)
        out = numpy.zeros((len(self.counts), width), dtype="float32")
        n_rows = numpy.minimum(self.seen, self.size)  # filled rows per type
        for n in numpy.unique(n_rows[n_rows > 0]):
            types = numpy.flatnonzero(n_rows == n)
            for chunk in minibatch(types, SVD_CHUNK):
                chunk = numpy.asarray(chunk)
                rows = self.start[chunk][:, None] + numpy.arange(n)
                M = self.reservoir[key][rows]  # [chunk, n, width]
                _, s, Vt = numpy.linalg.svd(M.astype("float64"), full_matrices=False)
                pc = Vt[:, 0] * (s[:, 0] / numpy.sqrt(n))[:, None]  # [chunk, width]
                sign = numpy.where(numpy.einsum("ij,ij->i", pc, mean[chunk]) < 0, -1.0, 1.0)
                out[chunk] = pc * sign[:, None]
        return out


def distill_static(
    nlp: Language,
    texts: Sequence[PathLike],
    *,
    keys: Sequence[Union[str, int]] = (MIX_KEY,),
    methods: Sequence[str] = METHODS,
    normalizer: Optional[Normalizer] = None,
    attr: str = "LOWER",
    min_count: int = 1,
    max_occurrences: int = 32,
    vocab_size: Optional[int] = None,
    limit: Optional[int] = None,
    batch_size: int = 64,
    encoder_name: Optional[str] = None,
    seed: int = 0,
    subwords: bool = False,
    subword_pooling: str = "mean",
    progress: bool = False,
) -> Dict[Tuple[str, str], StaticTable]:
    """Distil one static table per (key, method) from the texts of the
    files `texts` (any format `spacy_ctx.corpora.read_texts` reads), in two
    streaming passes.

    keys: "mix" (the encoder's uncorrected scalar mix) and/or layer indices.
    normalizer: correct each key's vectors before aggregating (it needs
        parameters for every key).
    attr: the token attribute a type is: "LOWER" (right for an uncased
        encoder), "ORTH" or "NORM". The written table has a key for the
        type and for each surface form of it seen.
    min_count, vocab_size: keep the types seen at least min_count times, at
        most the vocab_size most frequent (None = all).
    max_occurrences: occurrences per type sampled for "pca".
    limit: read at most this many texts (over all files).
    subwords: also distil a wordpiece table per key (a third pass, see
        `static_subwords`); the wordpieces the texts never showed are
        encoded alone, pooled by `subword_pooling` ("mean" or "piece").
    """
    for method in methods:
        if method not in METHODS:
            raise SpacyCtxError(Errors.E305.format(method=method, options=", ".join(METHODS)))
    for setting, value in (("min_count", min_count), ("max_occurrences", max_occurrences)):
        if value < 1:
            raise SpacyCtxError(Errors.E205.format(setting=setting, min=1, value=value))
    if subwords and subword_pooling not in PIECE_POOLINGS:
        raise SpacyCtxError(Errors.E004.format(pooling=subword_pooling, options=", ".join(PIECE_POOLINGS)))
    attr_id = _attr_id(attr)
    encoder = find_encoder(nlp, encoder_name)
    resolved = list(dict.fromkeys(resolve_key(k, encoder.n_layers) for k in keys))
    if normalizer is not None:
        for key in resolved:
            if key not in normalizer.params:
                raise SpacyCtxError(Errors.E308.format(source=normalizer.method, key=key, keys=normalizer.keys))
    n_texts = 0

    def counting(docs: Iterable[Doc]) -> Iterator[Doc]:
        nonlocal n_texts
        for n_texts, doc in enumerate(docs, 1):
            yield doc

    counts, forms = count_types(counting(_progress(_docs(nlp, texts, limit), None, "Counting types", progress)), attr)
    hashes, type_counts = select_vocab(counts, min_count=min_count, vocab_size=vocab_size)
    order = numpy.argsort(hashes)
    acc = StaticAccumulator(
        type_counts, resolved, encoder.width,
        max_occurrences=max_occurrences if "pca" in methods else 0, seed=seed,
    )
    n_tokens = 0
    bar = _progress(None, n_texts, "Encoding", progress)
    for batch in minibatch(_docs(nlp, texts, limit), batch_size):
        batch = [doc for doc in batch if len(doc)]
        if batch:
            features = encode_docs(encoder, batch, batch_size=batch_size)
            values = numpy.concatenate([doc.to_array([attr_id, spacy_attrs.IS_SPACE]) for doc in batch])
            types = _vocab_rows(values[:, 0].astype("uint64"), hashes, order)
            types[values[:, 1] != 0] = -1
            vectors = {}
            for key in resolved:
                X = features.get(key)
                vectors[key] = X if normalizer is None else normalizer.transform(X, key)
            acc.add(types, vectors)
            n_tokens += features.n_tokens
        bar.update(len(batch))
    bar.close()
    pieces: Dict[str, SubwordTable] = {}
    if subwords:
        bar = _progress(None, n_texts, "Encoding wordpieces", progress)
        pieces = distill_subwords(
            encoder, _iter_texts(texts, limit), resolved, pooling=subword_pooling,
            batch_size=batch_size, normalizer=normalizer, bar=bar,
        )
        bar.close()
    words = [nlp.vocab.strings[int(h)] for h in hashes]
    row_of = {int(h): i for i, h in enumerate(hashes)}
    surface = {nlp.vocab.strings[orth]: row_of[t] for orth, t in forms.items() if t in row_of}
    settings = {
        "texts": [str(t) for t in texts],
        "n_texts": n_texts,
        "n_tokens": n_tokens,
        "attr": attr,
        "min_count": min_count,
        "vocab_size": vocab_size,
        "max_occurrences": max_occurrences,
        "normalizer": None if normalizer is None else normalizer.method,
        "seed": seed,
        "subwords": subwords,
    }
    tables = {}
    for key in resolved:
        for method in methods:
            vectors = acc.mean(key) if method == "mean" else acc.first_component(key)
            tables[(key, method)] = StaticTable(
                words=words, vectors=vectors, counts=type_counts, key=key, method=method,
                attr=attr, forms=surface, settings=dict(settings, key=key, method=method), subwords=pieces.get(key),
            )
    return tables


def write_static_vectors(
    table: StaticTable, output: PathLike, *, lang: str = "en", name: Optional[str] = None,
    weighting: str = "zipf", sif_a: float = 1e-2, pca_dims: Optional[int] = None,
) -> Path:
    """Save a table as `spacy init vectors` does: a blank `lang` pipeline
    whose vocab holds the vectors (see `static_pipeline`), plus distill.json
    with the settings. With a wordpiece table the pipeline also holds the
    ctx_static_vectors component, its sentence `weighting` and `sif_a` in
    its config; with `pca_dims`, both tables are projected and pca.npz keeps
    the projection. Returns the output directory."""
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    nlp, pca = static_pipeline(table, lang=lang, name=name, weighting=weighting, sif_a=sif_a, pca_dims=pca_dims)
    nlp.to_disk(output)
    if pca:
        numpy.savez(output / PCA_FILE, **pca)
    info = dict(table.settings, n_types=len(table.words))
    if table.subwords is not None:
        info.update(table.subwords.settings, weighting=weighting, sif_a=sif_a, pca_dims=pca_dims)
    srsly.write_json(output / DISTILL_INFO, info)
    return output


def load_vectors_vocab(path: PathLike, lang: str = "en") -> Vocab:
    """A vocab holding the vectors table at `path`: a pipeline directory
    (`spacy init vectors` or `distill-static` output), its vocab/ directory,
    or any directory with `vectors` and `key2row`. Lookups follow the table's
    key attribute (ORTH, LOWER, ...), as `vocab.get_vector` does."""
    import spacy
    from spacy.vectors import Vectors

    path = Path(path)
    for directory in (path / "vocab", path):
        if (directory / "key2row").exists() or (directory / "vectors.cfg").exists():
            vocab = spacy.blank(lang).vocab
            vocab.vectors = Vectors(strings=vocab.strings).from_disk(directory)
            if vocab.vectors.shape[0]:
                return vocab
    raise SpacyCtxError(Errors.E304.format(path=path))


def table_info(path: PathLike) -> Dict:
    """The settings `write_static_vectors` saved beside a table ({} for a
    table it did not write)."""
    info = Path(path) / DISTILL_INFO
    return dict(srsly.read_json(info)) if info.exists() else {}


def load_normalizer(nlp: Language, spec: Optional[str], encoder_name: Optional[str] = None) -> Optional[Normalizer]:
    """The normalizer to correct vectors with before distilling: None for no
    spec, the fitted normalizer of the pipeline's ctx_encoder for
    "pipeline" (E309 when it has none), else a Normalizer saved at `spec`."""
    if spec is None:
        return None
    if spec != "pipeline":
        return Normalizer.from_disk(spec)
    encoder = find_encoder(nlp, encoder_name)
    if encoder.normalizer is None:
        raise SpacyCtxError(Errors.E309.format(name=encoder.name))
    return encoder.normalizer


def _attr_id(attr: str) -> int:
    if attr not in ATTRS:
        raise SpacyCtxError(Errors.E310.format(attr=attr, options=", ".join(ATTRS)))
    return spacy_attrs.IDS[attr]


def _iter_texts(paths: Sequence[PathLike], limit: Optional[int]) -> Iterator[str]:
    n = 0
    for path in paths:
        for record in read_texts(path):
            if limit is not None and n >= limit:
                return
            n += 1
            yield record.text


def _docs(nlp: Language, paths: Sequence[PathLike], limit: Optional[int]) -> Iterator[Doc]:
    return (nlp.make_doc(text) for text in _iter_texts(paths, limit))


def _vocab_rows(values: numpy.ndarray, hashes: numpy.ndarray, order: numpy.ndarray) -> numpy.ndarray:
    """The vocabulary row of each hash, -1 for types not kept."""
    sorted_hashes = hashes[order]
    pos = numpy.minimum(numpy.searchsorted(sorted_hashes, values), len(sorted_hashes) - 1)
    found = sorted_hashes[pos] == values
    return numpy.where(found, order[pos], -1).astype("int64")


def _progress(items, total: Optional[int], desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(items, total=total, desc=desc, unit="text", disable=not enabled, leave=False)
