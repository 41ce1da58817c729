"""Sense-annotated instances, and how well cosine separates a word's senses.

Senses come from the span group doc.spans["wsd"] (see
spacy_ctx.senses.raganato): each span is an instance, its label a WordNet
sense key such as "bank%1:14:00::". Spans over the same tokens are one
instance with several gold keys. Spans with an empty label are ignored.
"""
from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations
from typing import Dict, FrozenSet, List, Optional, Sequence, Tuple

import numpy
from spacy.tokens import Doc

from ..compat import require
from .anisotropy import corrected_views, unit_rows

WSD_SPANS_KEY = "wsd"


def sense_lemma(sense_key: str) -> str:
    """The lemma and WordNet POS of a sense key: "bank%1:14:00::" -> "bank%1".
    Satellite adjectives (5) count as adjectives (3)."""
    lemma, _, rest = sense_key.partition("%")
    ss_type = rest[:1]
    return f"{lemma.lower()}%{'3' if ss_type == '5' else ss_type}"


@dataclass
class SenseItems:
    """Sense-annotated instances, in row coordinates of LayerFeatures.

    starts, ends: [n_items] token rows [start, end) of each instance.
    senses: the gold sense keys of each instance.
    lemmas: the lemma%pos of each instance (from its first key).
    """

    starts: numpy.ndarray
    ends: numpy.ndarray
    senses: List[FrozenSet[str]]
    lemmas: List[str]

    def __len__(self) -> int:
        return len(self.lemmas)

    def first_sense(self) -> List[str]:
        """One label per instance (the alphabetically first gold key)."""
        return [min(keys) for keys in self.senses]


def sense_items(docs: Sequence[Doc], spans_key: str = WSD_SPANS_KEY) -> SenseItems:
    """Collect the labelled instances of doc.spans[spans_key] over docs laid
    out as in LayerFeatures (doc after doc)."""
    starts, ends, senses, lemmas = [], [], [], []
    offset = 0
    for doc in docs:
        if spans_key in doc.spans:
            keys: Dict[tuple, List[str]] = defaultdict(list)
            for span in doc.spans[spans_key]:
                if span.label_:
                    keys[(span.start, span.end)].append(span.label_)
            for (start, end), labels in sorted(keys.items()):
                starts.append(offset + start)
                ends.append(offset + end)
                senses.append(frozenset(labels))
                lemmas.append(sense_lemma(labels[0]))
        offset += len(doc)
    return SenseItems(
        numpy.asarray(starts, dtype="int64"), numpy.asarray(ends, dtype="int64"), senses, lemmas
    )


def span_vectors(X: numpy.ndarray, starts: numpy.ndarray, ends: numpy.ndarray) -> numpy.ndarray:
    """The mean row of each [start, end) range of X: [n_items, width]."""
    if len(starts) and numpy.all(ends - starts == 1):
        return numpy.asarray(X[starts], dtype="float32")
    # Cumulative sums: ranges may overlap or leave gaps, unlike reduceat's.
    cum = numpy.concatenate([numpy.zeros((1, X.shape[1])), numpy.cumsum(X, axis=0, dtype="float64")])
    sums = cum[ends] - cum[starts]
    return (sums / (ends - starts)[:, None]).astype("float32")


@dataclass
class SensePairs:
    """Pairs of instances of the same lemma, over lemmas with >= 2 senses.

    a, b: [n_pairs] item indices; same: [n_pairs] whether they share a gold
    sense; group: [n_pairs] the lemma's number (0..n_lemmas-1).
    """

    a: numpy.ndarray
    b: numpy.ndarray
    same: numpy.ndarray
    group: numpy.ndarray
    n_lemmas: int


def sense_pairs(items: SenseItems, *, max_per_lemma: int = 50, seed: int = 0) -> SensePairs:
    """All pairs of instances of each lemma that has two or more senses among
    its instances; at most `max_per_lemma` instances per lemma are paired
    (sampled with `seed`), so frequent lemmas do not swamp the score."""
    rng = numpy.random.default_rng(seed)
    by_lemma: Dict[str, List[int]] = defaultdict(list)
    for i, lemma in enumerate(items.lemmas):
        by_lemma[lemma].append(i)
    a, b, group = [], [], []
    n_lemmas = 0
    for lemma in sorted(by_lemma):
        rows = by_lemma[lemma]
        if len(rows) < 2 or len(set().union(*(items.senses[i] for i in rows))) < 2:
            continue
        if len(rows) > max_per_lemma:
            rows = sorted(rng.choice(rows, max_per_lemma, replace=False).tolist())
        for i, j in combinations(rows, 2):
            a.append(i)
            b.append(j)
        group.extend([n_lemmas] * (len(rows) * (len(rows) - 1) // 2))
        n_lemmas += 1
    same = [bool(items.senses[i] & items.senses[j]) for i, j in zip(a, b)]
    as_int = lambda x: numpy.asarray(x, dtype="int64")  # noqa: E731
    return SensePairs(as_int(a), as_int(b), numpy.asarray(same, dtype=bool), as_int(group), n_lemmas)


def grouped_auc(scores: numpy.ndarray, labels: numpy.ndarray, groups: numpy.ndarray, n_groups: int) -> numpy.ndarray:
    """ROC AUC of `scores` for `labels` (bool) within each group, ties counted
    as half (as sklearn's roc_auc_score): [n_groups], NaN where a group lacks
    positives or negatives. Vectorized Mann-Whitney U over all groups."""
    order = numpy.lexsort((scores, groups))
    g, s, pos = groups[order], scores[order], labels[order].astype("float64")
    n = len(order)
    starts = numpy.searchsorted(g, numpy.arange(n_groups))
    rank = numpy.arange(n) - starts[g] + 1.0  # 1-based rank within the group
    # Tied scores within a group share their mean rank.
    new_tie = numpy.ones(n, dtype=bool)
    new_tie[1:] = (g[1:] != g[:-1]) | (s[1:] != s[:-1])
    tie = numpy.cumsum(new_tie) - 1
    rank = (numpy.bincount(tie, weights=rank) / numpy.bincount(tie))[tie]
    n_pos = numpy.bincount(g, weights=pos, minlength=n_groups)
    n_neg = numpy.bincount(g, minlength=n_groups) - n_pos
    rank_sum = numpy.bincount(g, weights=rank * pos, minlength=n_groups)
    with numpy.errstate(invalid="ignore", divide="ignore"):
        auc = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    auc[(n_pos == 0) | (n_neg == 0)] = numpy.nan
    return auc


def pair_cosines(vectors: numpy.ndarray, pairs: SensePairs) -> numpy.ndarray:
    """Cosine similarity of each pair's two instance vectors: [n_pairs]."""
    U = unit_rows(vectors)
    return numpy.einsum("ij,ij->i", U[pairs.a], U[pairs.b])


def auc_change(
    before: numpy.ndarray,
    after: numpy.ndarray,
    pairs: SensePairs,
    *,
    n_boot: int = 200,
    seed: int = 0,
) -> Dict[str, float]:
    """How a correction changes the polysemy AUC, with a 95% interval.

    before, after: [n_pairs] cosines of the same pairs (see pair_cosines).
    The interval is a paired bootstrap over lemmas (resampled with
    replacement, both AUCs recomputed on each resample), so it reflects how
    much the change depends on which words happen to be in the data.

    Returns "auc_change" and "auc_macro_change" (after - before, on all the
    data) with "_lo" / "_hi" bounds (2.5th / 97.5th percentiles).
    """
    same, group, n = pairs.same, pairs.group, pairs.n_lemmas
    result: Dict[str, float] = {}
    if n == 0 or not 0 < same.sum() < len(same):
        for name in ("auc_change", "auc_macro_change"):
            result.update({name: float("nan"), f"{name}_lo": float("nan"), f"{name}_hi": float("nan")})
        return result
    per_lemma = grouped_auc(after, same, group, n) - grouped_auc(before, same, group, n)
    valid = ~numpy.isnan(per_lemma)
    delta = numpy.where(valid, per_lemma, 0.0)

    def changes(weights: numpy.ndarray):
        # A resample is a count per lemma; its pairs weigh that count.
        w = weights[group]
        pooled = roc_auc_score(same, after, sample_weight=w) - roc_auc_score(same, before, sample_weight=w)
        n_valid = (weights * valid).sum()
        macro = (weights * delta).sum() / n_valid if n_valid else float("nan")
        return pooled, macro

    point = changes(numpy.ones(n))
    rng = numpy.random.default_rng(seed)
    boot = []
    for _ in range(n_boot):
        weights = numpy.bincount(rng.integers(0, n, n), minlength=n).astype("float64")
        if not 0 < (weights[group] * same).sum() < weights[group].sum():
            continue  # a resample with one kind of pair has no AUC
        boot.append(changes(weights))
    boot_arr = numpy.asarray(boot, dtype="float64").reshape(-1, 2)
    for i, name in enumerate(("auc_change", "auc_macro_change")):
        result[name] = float(point[i])
        lo, hi = numpy.nanpercentile(boot_arr[:, i], [2.5, 97.5]) if len(boot_arr) else (float("nan"),) * 2
        result[f"{name}_lo"], result[f"{name}_hi"] = float(lo), float(hi)
    return result


def polysemy_auc(
    vectors: numpy.ndarray,
    items: SenseItems,
    *,
    max_per_lemma: int = 50,
    seed: int = 0,
    pairs: Optional[SensePairs] = None,
) -> Dict[str, float]:
    """ROC AUC of cosine similarity for same-sense vs different-sense pairs of
    instances of the same lemma, over lemmas with >= 2 senses in the data.

    vectors: [n_items] instance vectors (see span_vectors).
    max_per_lemma, seed: see sense_pairs.
    pairs: precomputed sense_pairs(items) (to score many representations).

    Returns "auc" (all pairs pooled), "auc_macro" (mean per-lemma AUC over
    the "n_lemmas_macro" lemmas that have both kinds of pairs), "n_lemmas",
    "n_pairs", "n_same".
    """
    if pairs is None:
        pairs = sense_pairs(items, max_per_lemma=max_per_lemma, seed=seed)
    cos = pair_cosines(vectors, pairs)
    same = pairs.same
    pooled = roc_auc_score(same, cos) if 0 < same.sum() < len(same) else float("nan")
    per_lemma = grouped_auc(cos, same, pairs.group, pairs.n_lemmas)
    per_lemma = per_lemma[~numpy.isnan(per_lemma)]
    return {
        "auc": float(pooled),
        "auc_macro": float(per_lemma.mean()) if len(per_lemma) else float("nan"),
        "n_lemmas": pairs.n_lemmas,
        "n_lemmas_macro": int(len(per_lemma)),
        "n_pairs": int(len(same)),
        "n_same": int(same.sum()),
    }


def polysemy_table(
    features,
    items: SenseItems,
    normalizers: Dict[str, Optional["Normalizer"]],
    *,
    keys: Optional[Sequence[str]] = None,
    max_per_lemma: int = 50,
    seed: int = 0,
    n_boot: int = 200,
) -> Dict[str, Dict[str, Dict[str, float]]]:
    """{correction: {key: polysemy_auc(...)}} for each representation.

    When "none" (no correction) is among the normalizers, every corrected
    row also gets auc_change(...) against it: the change and its bootstrap
    interval over `n_boot` resamples of the lemmas (0 = no bootstrap).
    """
    table: Dict[str, Dict[str, Dict[str, float]]] = {name: {} for name in normalizers}
    pairs = sense_pairs(items, max_per_lemma=max_per_lemma, seed=seed)
    vectors = {key: span_vectors(features.get(key), items.starts, items.ends) for key in keys or features.keys}
    raw = {key: pair_cosines(V, pairs) for key, V in vectors.items()} if "none" in normalizers else {}
    for name, key, V in corrected_views(normalizers, vectors):
        table[name][key] = polysemy_auc(V, items, pairs=pairs)
        if normalizers[name] is not None and key in raw:
            change = auc_change(raw[key], pair_cosines(V, pairs), pairs, n_boot=n_boot, seed=seed)
            table[name][key].update(change)
    return table


def roc_auc_score(*args, **kwargs) -> float:
    """scikit-learn's ROC AUC (the [analysis] extra), imported on use."""
    return require("sklearn.metrics", "analysis", "The polysemy AUC").roc_auc_score(*args, **kwargs)


# The `demo` command: one word, two senses, four contexts.
DEMO_SENTENCES = (
    ("river", "The boat drifted toward the river bank.", "bank"),
    ("river", "We had a picnic on the grassy bank of the stream.", "bank"),
    ("money", "She deposited her salary at the bank on Monday.", "bank"),
    ("money", "The bank raised its interest rates again.", "bank"),
)


def sense_demo(nlp, sentences: Sequence[Tuple[str, str, str]] = DEMO_SENTENCES) -> Dict:
    """The cosine (`token.similarity`) between the vectors of one word in
    several contexts, each (sense, text, word): a contextual encoder gives a
    word a different vector in each sense, so the same-sense mean should be
    above the cross-sense mean.

    Raw cosines hide how large the contrast is: in an anisotropic layer any
    two tokens are close. So each layer also gets its random-pair baseline b
    (the mean cosine of two tokens from different contexts, punctuation
    left out) and the baseline-adjusted cosines (c - b) / (1 - b), 0 for a
    pair no closer than two unrelated tokens (Ethayarajh 2019).

    Returns {"contexts": [(sense, text)], "similarity": [n, n] nested lists,
    "same_sense", "cross_sense": the mean over the pairs of contexts,
    "layers": one dict per stored layer (layer, same_sense, cross_sense,
    baseline, same_adjusted, cross_adjusted), empty when the pipeline stores
    no layers}.
    """
    docs, tokens = [], []
    for sense, text, word in sentences:
        doc = nlp(text)
        docs.append(doc)
        tokens.append((sense, next(t for t in doc if t.lower_ == word)))
    similarity = [[a.similarity(b) for _, b in tokens] for _, a in tokens]
    pairs = list(combinations(range(len(tokens)), 2))
    same_pairs = [(i, j) for i, j in pairs if tokens[i][0] == tokens[j][0]]
    cross_pairs = [(i, j) for i, j in pairs if tokens[i][0] != tokens[j][0]]
    return {
        "contexts": [(sense, text) for sense, text, _ in sentences],
        "similarity": similarity,
        "same_sense": float(numpy.mean([similarity[i][j] for i, j in same_pairs])),
        "cross_sense": float(numpy.mean([similarity[i][j] for i, j in cross_pairs])),
        "layers": _demo_layers(docs, [token for _, token in tokens], same_pairs, cross_pairs),
    }


def _demo_layers(docs: Sequence[Doc], words, same_pairs, cross_pairs) -> List[Dict]:
    if any(doc._.ctx_layers is None for doc in docs):
        return []
    layer_ids = list(docs[0]._.ctx_layer_ids)
    rows = []
    for k, layer in enumerate(layer_ids):
        word = unit_rows(numpy.stack([numpy.asarray(t._.ctx_layers[k], dtype="float32") for t in words]))
        # Every other token of each context, as the unrelated population.
        targets = {(t.doc, t.i) for t in words}
        others = [
            unit_rows(numpy.stack([
                numpy.asarray(t._.ctx_layers[k], dtype="float32")
                for t in doc if not t.is_punct and (doc, t.i) not in targets
            ]))
            for doc in docs
        ]
        baseline = float(numpy.mean([
            float((others[a] @ others[b].T).mean()) for a, b in combinations(range(len(others)), 2)
        ]))
        cosines = word @ word.T
        same = float(numpy.mean([cosines[i, j] for i, j in same_pairs]))
        cross = float(numpy.mean([cosines[i, j] for i, j in cross_pairs]))
        rows.append({
            "layer": int(layer), "same_sense": same, "cross_sense": cross, "baseline": baseline,
            "same_adjusted": (same - baseline) / (1 - baseline),
            "cross_adjusted": (cross - baseline) / (1 - baseline),
        })
    return rows
