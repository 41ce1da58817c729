"""Linear probes on frozen layers (Tenney et al. 2019 style).

For each property (UPOS, XPOS, NER BIO tags, dependency labels, word senses)
and each representation ("layer0".."layerN" and "mix"), a logistic
regression is trained on vectors of the training docs and scored on the test
docs. The encoder is never updated: a probe only reads what a layer holds.

Senses are probed per lemma: one classifier per lemma that has two or more
senses in the training data, scored on the test instances of those lemmas
(a prediction is right if it is one of the instance's gold keys). The
baseline is then the most frequent training sense of the lemma; for the
other properties it is the most frequent training label.
"""
import random
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Optional, Sequence, Tuple

import numpy
from spacy.tokens import Doc

from ..compat import require
from ..errors import Errors, SpacyCtxError
from .features import LayerFeatures
from .polysemy import WSD_SPANS_KEY, sense_items, span_vectors

PROPERTIES = ("upos", "xpos", "ner", "dep", "sense")
# Doc.has_annotation attribute that each token property needs.
_ANNOTATION = {"upos": "POS", "xpos": "TAG", "ner": "ENT_IOB", "dep": "DEP"}


@dataclass
class ProbeItems:
    """The labelled items of one property, in row coordinates of LayerFeatures.

    starts, ends: [n_items] token rows [start, end) (one token, except for
        multiword sense instances, whose vector is the mean of their tokens).
    labels: the label to train on.
    golds: the labels that count as right at test time.
    groups: for senses, the lemma of each item (one classifier per lemma).
    """

    starts: numpy.ndarray
    ends: numpy.ndarray
    labels: List[str]
    golds: List[FrozenSet[str]]
    groups: Optional[List[str]] = None

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: Sequence[int]) -> "ProbeItems":
        index = list(index)
        return ProbeItems(
            self.starts[index],
            self.ends[index],
            [self.labels[i] for i in index],
            [self.golds[i] for i in index],
            None if self.groups is None else [self.groups[i] for i in index],
        )


def property_items(docs: Sequence[Doc], prop: str) -> Optional[ProbeItems]:
    """The items of property `prop` in docs laid out as in LayerFeatures, or
    None when no doc carries that annotation."""
    if prop == "sense":
        items = sense_items(docs, WSD_SPANS_KEY)
        if not len(items):
            return None
        labels = items.first_sense()
        return ProbeItems(items.starts, items.ends, labels, list(items.senses), list(items.lemmas))
    if prop not in _ANNOTATION:
        raise SpacyCtxError(
            Errors.A009.format(plural="y", names=prop, options=", ".join(PROPERTIES))
        )
    rows, labels = [], []
    offset = 0
    for doc in docs:
        if doc.has_annotation(_ANNOTATION[prop]):
            for token in doc:
                label = _token_label(token, prop)
                if label:
                    rows.append(offset + token.i)
                    labels.append(label)
        offset += len(doc)
    if not rows:
        return None
    starts = numpy.asarray(rows, dtype="int64")
    return ProbeItems(starts, starts + 1, labels, [frozenset([label]) for label in labels])


def _token_label(token, prop: str) -> str:
    if prop == "upos":
        return token.pos_
    if prop == "xpos":
        return token.tag_
    if prop == "dep":
        return token.dep_
    if token.ent_iob_ in ("", "O"):  # "" = unannotated: no label
        return token.ent_iob_
    return f"{token.ent_iob_}-{token.ent_type_}"


def split_indices(n_docs: int, test_fraction: float, seed: int = 0) -> Tuple[List[int], List[int]]:
    """A seeded random split of range(n_docs) into sorted (train, test) indices."""
    order = list(range(n_docs))
    random.Random(seed).shuffle(order)
    n_test = min(n_docs - 1, max(1, int(round(n_docs * test_fraction))))
    test = set(order[:n_test])
    return [i for i in range(n_docs) if i not in test], sorted(test)


def split_docs(docs: Sequence[Doc], test_fraction: float, seed: int = 0) -> Tuple[List[Doc], List[Doc]]:
    """A seeded random split of docs into (train, test), as split_indices."""
    train, test = split_indices(len(docs), test_fraction, seed)
    return [docs[i] for i in train], [docs[i] for i in test]


def _sklearn(name: str):
    # scikit-learn is the [analysis] extra: imported when a probe runs.
    return require(f"sklearn.{name}", "analysis", "Probing")


def _classifier(C: float, max_iter: int, seed: int):
    return _sklearn("linear_model").LogisticRegression(C=C, max_iter=max_iter, random_state=seed)


def _fit_predict(clf, X_train, y_train, X_test):
    with warnings.catch_warnings():
        # A probe stopped at max_iter is still a fair (slightly weaker) probe.
        warnings.simplefilter("ignore", _sklearn("exceptions").ConvergenceWarning)
        clf.fit(X_train, y_train)
    return clf.predict(X_test)


def _accuracy(predicted: Sequence[str], golds: Sequence[FrozenSet[str]]) -> float:
    if not len(golds):
        return float("nan")
    return float(numpy.mean([p in g for p, g in zip(predicted, golds)]))


def probe_property(
    train_X: numpy.ndarray,
    train: ProbeItems,
    test_X: numpy.ndarray,
    test: ProbeItems,
    *,
    C: float = 1.0,
    max_iter: int = 200,
    seed: int = 0,
) -> float:
    """Train a linear probe on item vectors train_X [n_train, width] and
    return its accuracy on test_X [n_test, width]. Features are standardized
    with the training statistics first."""
    scaler = _sklearn("preprocessing").StandardScaler().fit(train_X)
    train_X, test_X = scaler.transform(train_X), scaler.transform(test_X)
    if train.groups is None:
        if len(set(train.labels)) < 2:
            predicted = [train.labels[0]] * len(test)
        else:
            predicted = _fit_predict(_classifier(C, max_iter, seed), train_X, train.labels, test_X)
        return _accuracy(predicted, test.golds)
    by_group = _group_rows(train.groups)
    correct, total = 0, 0
    for group, test_rows in _group_rows(test.groups).items():
        train_rows = by_group.get(group, [])
        labels = [train.labels[i] for i in train_rows]
        if len(set(labels)) < 2:
            continue  # not ambiguous in training: nothing for a probe to learn
        predicted = _fit_predict(
            _classifier(C, max_iter, seed), train_X[train_rows], labels, test_X[test_rows]
        )
        correct += sum(p in test.golds[i] for p, i in zip(predicted, test_rows))
        total += len(test_rows)
    return correct / total if total else float("nan")


def _group_rows(groups: Sequence[str]) -> Dict[str, List[int]]:
    rows: Dict[str, List[int]] = defaultdict(list)
    for i, group in enumerate(groups):
        rows[group].append(i)
    return rows


def baseline(train: ProbeItems, test: ProbeItems) -> Dict[str, float]:
    """Most-frequent-label accuracy (per lemma for senses), the number of test
    items scored and the share of test items whose label was seen in training."""
    seen = set(train.labels)
    coverage = float(numpy.mean([bool(g & seen) for g in test.golds]))
    if train.groups is None:
        top = Counter(train.labels).most_common(1)[0][0]
        return {"baseline": _accuracy([top] * len(test), test.golds), "n_scored": len(test), "coverage": coverage}
    by_group = _group_rows(train.groups)
    predicted, golds = [], []
    for i, group in enumerate(test.groups):
        labels = [train.labels[j] for j in by_group.get(group, [])]
        if len(set(labels)) >= 2:
            predicted.append(Counter(labels).most_common(1)[0][0])
            golds.append(test.golds[i])
    return {"baseline": _accuracy(predicted, golds), "n_scored": len(golds), "coverage": coverage}


def run_probes(
    train_features: LayerFeatures,
    train_docs: Sequence[Doc],
    test_features: LayerFeatures,
    test_docs: Sequence[Doc],
    properties: Optional[Sequence[str]] = None,
    *,
    keys: Optional[Sequence[str]] = None,
    C: float = 1.0,
    max_iter: int = 200,
    max_train: Optional[int] = None,
    seed: int = 0,
    progress: bool = False,
) -> Dict:
    """Probe every representation for every property the data carries.

    properties: names from PROPERTIES (None = all; those without labels in
        both train and test are listed under "skipped").
    max_train: subsample at most this many training items per property.

    Returns {"keys": [...], "properties": {prop: {"accuracy": {key: acc},
    "baseline", "n_train", "n_test", "n_scored", "n_classes", "coverage",
    "best"}}, "skipped": [...]}.
    """
    properties = list(properties or PROPERTIES)
    unknown = [p for p in properties if p not in PROPERTIES]
    if unknown:
        raise SpacyCtxError(
            Errors.A009.format(
                plural="ies" if len(unknown) > 1 else "y",
                names=", ".join(unknown),
                options=", ".join(PROPERTIES),
            )
        )
    keys = list(keys or train_features.keys)
    tasks, skipped = [], []
    for prop in properties:
        train, test = property_items(train_docs, prop), property_items(test_docs, prop)
        if train is None or test is None:
            skipped.append(prop)
            continue
        if max_train is not None and len(train) > max_train:
            keep = numpy.random.default_rng(seed).choice(len(train), max_train, replace=False)
            train = train.subset(sorted(keep.tolist()))
        tasks.append((prop, train, test))
    if not tasks:
        raise SpacyCtxError(Errors.A010.format(names=", ".join(properties)))
    from tqdm import tqdm

    results: Dict[str, Dict] = {}
    bar = tqdm(total=len(tasks) * len(keys), desc="Probing", disable=not progress, leave=False)
    # Single-threaded BLAS: these small problems gain nothing from threads,
    # and on a busy machine spinning BLAS threads made them 40x slower.
    # threadpoolctl comes with scikit-learn (the [analysis] extra).
    with require("threadpoolctl", "analysis", "Probing").threadpool_limits(limits=1, user_api="blas"):
        for prop, train, test in tasks:
            results[prop] = _probe_all_keys(
                prop, train, test, train_features, test_features, keys, bar, C, max_iter, seed
            )
    bar.close()
    return {"keys": keys, "properties": results, "skipped": skipped}


def _probe_all_keys(
    prop: str,
    train: ProbeItems,
    test: ProbeItems,
    train_features: LayerFeatures,
    test_features: LayerFeatures,
    keys: Sequence[str],
    bar,
    C: float,
    max_iter: int,
    seed: int,
) -> Dict:
    """Probe one property on every representation: its row of the report."""
    accuracy = {}
    for key in keys:
        bar.set_postfix_str(f"{prop} {key}")
        accuracy[key] = probe_property(
            span_vectors(train_features.get(key), train.starts, train.ends),
            train,
            span_vectors(test_features.get(key), test.starts, test.ends),
            test,
            C=C,
            max_iter=max_iter,
            seed=seed,
        )
        bar.update(1)
    layer_scores = {k: v for k, v in accuracy.items() if k != "mix" and v == v}
    return {
        "accuracy": accuracy,
        "best": max(layer_scores, key=layer_scores.get) if layer_scores else None,
        "n_train": len(train),
        "n_test": len(test),
        "n_classes": len(set(train.labels)),
        **baseline(train, test),
    }
