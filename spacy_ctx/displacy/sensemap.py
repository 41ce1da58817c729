"""The sense map: one word's occurrences projected to 2-D, layer by layer.

The picture of "same word, different vectors" (Coenen et al. 2019, and
TensorBoard's embedding projector): each occurrence of a word is a point,
coloured by its sense, and a slider walks up the layers. The numbers behind
it, all computed here with numpy (and scikit-learn's k-means and
silhouette, the `[analysis]` extra):

- occurrences: every token of the docs whose lower-cased text is the word,
  then those of an embedded corpus, up to `MAX_POINTS`, in order;
- geometry: every vector is scaled to unit length first, so distances are
  cosine distances and the layers share one scale; the projection is PCA
  fitted per layer (and for the mix), each axis's sign chosen so that it
  agrees with the layer below (the first layer: its largest loading
  positive), so points do not flip as the slider moves;
- colours: ctx_wsd's sense of each occurrence when the pipeline has one,
  every point comes from the docs (a corpus stores no senses) and it gives
  them two senses or more (one colour would show nothing); otherwise
  k-means clusters of the mix (the top layer without one) on unit vectors,
  k from 2 to 6 chosen by silhouette, seed 0;
- separation: per layer, the silhouette of those labels in the
  full-dimensional space, by cosine distance (`separation`): 1 when each
  sense is a tight clump far from the others, 0 when they overlap.
"""
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy
from spacy.language import Language
from spacy.tokens import Doc

from ..compat import require
from ..errors import Errors, SpacyCtxError
from ..normalizer import unit_rows
from ..pipeline.wsd import CtxWSD
from ..util import MIX_KEY
from .neighbors import EmbeddedCorpus
from .views import Panel, View, find_wsd, gloss_reader, key_title, token_vectors

MAX_POINTS = 500
K_RANGE = (2, 6)
SEED = 0
METRIC = "cosine"
# Words of context either side of an occurrence, for its hover text.
CONTEXT_WORDS = 12


@dataclass
class Occurrences:
    """One word's occurrences: where each is, its context split around the
    word (so the page can mark it without parsing text), its sense (or
    None), and its vectors by key ("layer<i>", "mix"): [n, width] each."""

    where: List[str]
    contexts: List[Tuple[str, str, str]]
    senses: List[Optional[str]]
    vectors: Dict[str, numpy.ndarray]
    n_corpus: int = 0  # how many (the last ones) come from a corpus
    truncated: bool = False  # whether the word occurs more often than shown

    def __len__(self) -> int:
        return len(self.where)


def doc_context(doc: Doc, i: int, window: int = CONTEXT_WORDS) -> Tuple[str, str, str]:
    """(left, word, right): the doc's text around token i, up to `window`
    tokens either side, with the doc's own whitespace."""
    lo, hi = doc[max(0, i - window)], doc[min(len(doc), i + 1 + window) - 1]
    token = doc[i]
    return doc.text[lo.idx : token.idx], token.text, doc.text[token.idx + len(token) : hi.idx + len(hi)]


def find_occurrences(
    docs: Sequence[Doc],
    target: str,
    corpus: Optional[EmbeddedCorpus] = None,
    limit: int = MAX_POINTS,
) -> Occurrences:
    """The occurrences of `target` (any case, whole tokens) in the docs, then
    in `corpus`, the first `limit` of them (E505 when there are none). Keys
    are those the docs store (and the corpus too, when it gives points)."""
    if limit < 1:
        raise SpacyCtxError(Errors.E205.format(setting="limit", min=1, value=limit))
    word = target.lower()
    refs = [(d, t.i) for d, doc in enumerate(docs) for t in doc if t.lower_ == word]
    rows = [r for r, text in enumerate(corpus.texts) if text.lower() == word] if corpus is not None else []
    truncated = len(refs) + len(rows) > limit
    refs = refs[:limit]
    rows = rows[: limit - len(refs)]
    if not refs and not rows:
        raise SpacyCtxError(Errors.E505.format(target=target))
    if refs:
        vectors = token_vectors(docs, refs)
    else:  # every point from the corpus: its keys
        vectors = {key: numpy.zeros((0, X.shape[1]), "float32") for key, X in corpus.vectors.items()}
    where = [f"doc {d}, token {i}" for d, i in refs]
    contexts = [doc_context(docs[d], i) for d, i in refs]
    senses = [docs[d][i]._.sense for d, i in refs]
    if rows:
        keys = [key for key in vectors if key in corpus.vectors]
        if not keys:
            raise SpacyCtxError(Errors.E519.format(corpus=corpus.keys, pipeline=list(vectors)))
        vectors = {key: numpy.concatenate([vectors[key], corpus.vectors[key][rows]]) for key in keys}
        where += [f"{corpus.path.name}: doc {corpus.doc_ids[r]}, token {corpus.token_ids[r]}" for r in rows]
        contexts += [corpus.context_parts(r, CONTEXT_WORDS) for r in rows]
        senses += [None] * len(rows)
    return Occurrences(where, contexts, senses, vectors, len(rows), truncated)


def kmeans_labels(X: numpy.ndarray, k_range: Tuple[int, int] = K_RANGE, seed: int = SEED) -> Tuple[numpy.ndarray, int]:
    """k-means clusters of the unit rows of X, with the k in k_range (at
    most n - 1) of the best cosine silhouette: (labels [n], k). Fewer than
    3 rows make one cluster."""
    cluster = require("sklearn.cluster", "analysis", "the sense map's clusters")
    metrics = require("sklearn.metrics", "analysis", "the sense map's clusters")
    U = unit_rows(X)
    best, best_k, best_score = numpy.zeros(len(X), "int64"), 1, -2.0
    for k in range(k_range[0], min(k_range[1], len(X) - 1) + 1):
        labels = cluster.KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(U)
        if len(set(labels.tolist())) < 2:
            continue
        score = metrics.silhouette_score(U, labels, metric=METRIC)
        if score > best_score:
            best, best_k, best_score = labels, k, score
    return numpy.asarray(best, "int64"), best_k


def separation(X: numpy.ndarray, labels: Sequence[int]) -> Optional[float]:
    """The silhouette of `labels` (-1: unlabelled, left out) among the rows
    of X, by cosine distance in the full-dimensional space; None unless
    there are 2 to n - 1 labels."""
    metrics = require("sklearn.metrics", "analysis", "the sense map's separation")
    labels = numpy.asarray(labels)
    keep = labels >= 0
    n_labels = len(set(labels[keep].tolist()))
    if not 2 <= n_labels <= keep.sum() - 1:
        return None
    return float(metrics.silhouette_score(X[keep], labels[keep], metric=METRIC))


def pca_2d(X: numpy.ndarray) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """The unit rows of X projected on their first two principal axes:
    (coordinates [n, 2], axes [2, width]). Missing axes (n < 3) are zero."""
    U = unit_rows(X)
    C = U - U.mean(axis=0)
    axes = numpy.zeros((2, X.shape[1]))
    if len(C) > 1:
        _, _, Vt = numpy.linalg.svd(C, full_matrices=False)
        axes[: min(2, len(Vt))] = Vt[:2]
    return C @ axes.T, axes


def aligned_projections(vectors: Dict[str, numpy.ndarray]) -> Dict[str, numpy.ndarray]:
    """pca_2d per key, in order, each axis's sign set so that the points'
    coordinates on it agree with those of the key before (the first key:
    each axis's largest loading positive). [n, 2] per key."""
    out: Dict[str, numpy.ndarray] = {}
    previous = None
    for key, X in vectors.items():
        coords, axes = pca_2d(X)
        for a in range(2):
            if previous is None:
                sign = numpy.sign(axes[a][numpy.argmax(numpy.abs(axes[a]))]) or 1.0
            else:
                sign = 1.0 if coords[:, a] @ previous[:, a] >= 0 else -1.0
            coords[:, a] *= sign
        out[key] = coords
        previous = coords
    return out


def occurrence_labels(occ: Occurrences, has_wsd: bool) -> Tuple[numpy.ndarray, List[str], str]:
    """(label index per point, -1 for none; label names; what they are):
    ctx_wsd's senses when `has_wsd`, no point comes from a corpus and they
    are at least two; else k-means clusters (`kmeans_labels`) of the mix."""
    names = sorted({s for s in occ.senses if s is not None})
    if has_wsd and not occ.n_corpus and len(names) > 1:
        labels = numpy.asarray([names.index(s) if s is not None else -1 for s in occ.senses])
        return labels, names, "ctx_wsd's senses"
    key = MIX_KEY if MIX_KEY in occ.vectors else list(occ.vectors)[-1]
    labels, k = kmeans_labels(occ.vectors[key])
    what = f"k-means clusters of the {key_title(key)} (k = {k}, by silhouette)" if k > 1 else "one group (too few points to cluster)"
    if has_wsd and not occ.n_corpus and names:
        what += f"; ctx_wsd gave every occurrence one sense, {names[0]}"
    return labels, [f"cluster {c + 1}" for c in range(k)], what


def _glosses(nlp: Language, keys: Sequence[str]) -> List[str]:
    gloss = gloss_reader(find_wsd(nlp))
    return [gloss(key) for key in keys]


def sensemap_view(
    docs: Sequence[Doc],
    target: str,
    nlp: Optional[Language] = None,
    corpus: Optional[EmbeddedCorpus] = None,
    limit: int = MAX_POINTS,
) -> View:
    """The sense map of `target`: a figure (kind "sensemap") with every
    occurrence's 2-D position per key, its label and context, and the
    separation per key; and the separation as a table."""
    occ = find_occurrences(docs, target, corpus, limit)
    has_wsd = nlp is not None and any(isinstance(component, CtxWSD) for _, component in nlp.pipeline)
    labels, names, what = occurrence_labels(occ, has_wsd)
    keys = list(occ.vectors)
    coords = aligned_projections(occ.vectors)
    scores = [separation(unit_rows(occ.vectors[key]), labels) for key in keys]
    layer_scores = [(s, k) for k, (key, s) in enumerate(zip(keys, scores)) if key != MIX_KEY and s is not None]
    best = max(layer_scores)[1] if layer_scores else 0
    figure: Dict[str, Any] = {
        "kind": "sensemap",
        "word": target,
        "keys": keys,
        "titles": [key_title(key) for key in keys],
        "coords": [numpy.round(coords[key], 6).tolist() for key in keys],
        "labels": labels.tolist(),
        "label_names": names,
        "labelled_by": what,
        "label_glosses": _glosses(nlp, names) if what == "ctx_wsd's senses" else [""] * len(names),
        "where": occ.where,
        "contexts": [list(c) for c in occ.contexts],
        "separation": scores,
        "metric": METRIC,
        "best": best,
    }
    n_docs = len(occ) - occ.n_corpus
    where = f"{n_docs} in the docs, {occ.n_corpus} in {corpus.path.name}" if occ.n_corpus else "in the docs"
    title = f"sense map of '{target}': {len(occ)} occurrences ({where})"
    view = View("sensemap", title, figures=[figure])
    view.panels.append(Panel(
        f"separation: silhouette of the labels, {METRIC} distance", "table",
        figure["titles"], ["silhouette"], [[s] for s in scores],
    ))
    if occ.truncated:
        view.notes.append(Errors.E527.format(n=limit, target=target))
    return view
