"""Ethayarajh's (2019) measures of how contextual a representation is.

For one representation X [n_tokens, width]:
- random-pair cosine: the mean cosine of uniformly sampled token pairs, the
  anisotropy baseline (0 for an isotropic space);
- self-similarity: for each word type seen in at least `min_count` contexts,
  the mean cosine between its occurrences, averaged over types;
- intra-sentence similarity: for each sentence, the mean cosine between its
  tokens and the sentence's mean vector, averaged over sentences;
- the anisotropy-adjusted versions: each of the two minus the baseline.
"""
from dataclasses import dataclass
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy
from spacy.tokens import Doc

from ..normalizer import random_pair_cosine, unit_rows
from .features import LayerFeatures

MEASURES = (
    "random_pair_cosine",
    "self_similarity",
    "intra_similarity",
    "self_similarity_adj",
    "intra_similarity_adj",
)


@dataclass
class TokenInfo:
    """What the measures need to know about the tokens behind the rows.

    keep: [n_tokens] bool, the word tokens (no punctuation or whitespace).
    types: [n_tokens] int word-type id (lowercase form), -1 where not kept.
    sentences: (start, end) row ranges, one per sentence.
    """

    keep: numpy.ndarray
    types: numpy.ndarray
    sentences: List[Tuple[int, int]]


def token_info(docs: Sequence[Doc]) -> TokenInfo:
    """Word types and sentence ranges for docs laid out as in LayerFeatures."""
    keep, types, sentences = [], [], []
    ids: Dict[str, int] = {}
    offset = 0
    for doc in docs:
        for token in doc:
            word = not (token.is_punct or token.is_space)
            keep.append(word)
            types.append(ids.setdefault(token.lower_, len(ids)) if word else -1)
        spans = doc.sents if doc.has_annotation("SENT_START") else [doc[:]]
        sentences.extend((offset + s.start, offset + s.end) for s in spans)
        offset += len(doc)
    return TokenInfo(numpy.asarray(keep, dtype=bool), numpy.asarray(types, dtype="int64"), sentences)


def self_similarity(
    X: numpy.ndarray,
    types: numpy.ndarray,
    *,
    min_count: int = 5,
    max_count: int = 100,
    seed: int = 0,
) -> Tuple[float, int]:
    """Mean over word types (id >= 0, seen >= min_count times) of the mean
    pairwise cosine of their occurrences; at most `max_count` occurrences per
    type are sampled. Returns (similarity, number of types)."""
    rng = numpy.random.default_rng(seed)
    order = numpy.argsort(types, kind="stable")
    ids, starts, counts = numpy.unique(types[order], return_index=True, return_counts=True)
    scores = []
    for type_id, start, count in zip(ids, starts, counts):
        if type_id < 0 or count < min_count:
            continue
        rows = order[start : start + count]
        if count > max_count:
            rows = rng.choice(rows, max_count, replace=False)
        scores.append(_mean_pairwise_cosine(unit_rows(X[rows])))
    return (float(numpy.mean(scores)) if scores else float("nan")), len(scores)


def _mean_pairwise_cosine(U: numpy.ndarray) -> float:
    # The sum over all i != j of u_i . u_j is |sum u|^2 - sum |u_i|^2.
    n = len(U)
    total = U.sum(axis=0)
    return float((total @ total - (U * U).sum()) / (n * (n - 1)))


def intra_sentence_similarity(
    X: numpy.ndarray,
    sentences: Sequence[Tuple[int, int]],
    *,
    mask: Optional[numpy.ndarray] = None,
) -> Tuple[float, int]:
    """Mean over sentences (with >= 2 kept tokens) of the mean cosine between
    each kept token and the sentence's mean vector. Returns (similarity,
    number of sentences)."""
    scores = []
    for start, end in sentences:
        rows = X[start:end] if mask is None else X[start:end][mask[start:end]]
        if len(rows) < 2:
            continue
        centroid = unit_rows(rows.mean(axis=0, keepdims=True))[0]
        scores.append(float((unit_rows(rows) @ centroid).mean()))
    return (float(numpy.mean(scores)) if scores else float("nan")), len(scores)


def measure(
    X: numpy.ndarray,
    info: TokenInfo,
    *,
    n_pairs: int = 10000,
    min_count: int = 5,
    seed: int = 0,
) -> Dict[str, float]:
    """All measures of MEASURES for one representation, plus counts."""
    baseline = random_pair_cosine(X, n_pairs=n_pairs, mask=info.keep, seed=seed)
    self_sim, n_types = self_similarity(X, info.types, min_count=min_count, seed=seed)
    intra, n_sents = intra_sentence_similarity(X, info.sentences, mask=info.keep)
    return {
        "random_pair_cosine": baseline,
        "self_similarity": self_sim,
        "intra_similarity": intra,
        "self_similarity_adj": self_sim - baseline,
        "intra_similarity_adj": intra - baseline,
        "n_types": n_types,
        "n_sentences": n_sents,
    }


def corrected_views(
    normalizers: Mapping[str, Optional["Normalizer"]],
    vectors: Mapping[str, numpy.ndarray],
) -> Iterator[Tuple[str, str, numpy.ndarray]]:
    """(correction name, key, vectors) for each correction and each key it
    has parameters for: raw vectors for a None normalizer, else corrected.
    A key the normalizer was not fitted on (e.g. a pipeline normalizer fitted
    on "mix" only) is left out."""
    for name, norm in normalizers.items():
        for key, X in vectors.items():
            if norm is None:
                yield name, key, X
            elif key in norm.keys:
                yield name, key, norm.transform(X, key)


def anisotropy_table(
    features: LayerFeatures,
    info: TokenInfo,
    normalizers: Mapping[str, Optional["Normalizer"]],
    *,
    keys: Optional[Sequence[str]] = None,
    n_pairs: int = 10000,
    min_count: int = 5,
    seed: int = 0,
) -> Dict[str, Dict[str, Dict[str, float]]]:
    """{correction: {key: measures}} for each representation of `features`,
    raw (normalizer None, e.g. under the name "none") and corrected. Keys a
    normalizer has no parameters for are left out of its rows."""
    table: Dict[str, Dict[str, Dict[str, float]]] = {name: {} for name in normalizers}
    vectors = {key: features.get(key) for key in keys or features.keys}
    for name, key, X in corrected_views(normalizers, vectors):
        table[name][key] = measure(X, info, n_pairs=n_pairs, min_count=min_count, seed=seed)
    return table
