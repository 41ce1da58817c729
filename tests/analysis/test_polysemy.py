"""spacy_ctx.analysis.polysemy: sense lemmas, the polysemy AUC and its change by hand and against scikit-learn."""
import numpy
import pytest
import spacy
from numpy.testing import assert_allclose
from spacy.tokens import DocBin

from spacy_ctx.analysis.polysemy import (
    SenseItems,
    SensePairs,
    auc_change,
    grouped_auc,
    polysemy_auc,
    sense_items,
    sense_lemma,
    span_vectors,
)


def test_sense_lemma():
    assert sense_lemma("bank%1:14:00::") == "bank%1"
    assert sense_lemma("Big%5:00:01:large:00") == "big%3"


def test_polysemy_auc_by_hand():
    # bank: two instances of sense A (cosine .6), one of B at cosine .8 and 0
    # to them: the same-sense pair ranks between the two different-sense pairs.
    V = numpy.asarray([[1, 0], [0.6, 0.8], [0.8, -0.6], [1, 0], [0, 1]], dtype="f")
    senses = [frozenset([k]) for k in ("bank%1:A", "bank%1:A", "bank%1:B", "cat%1:A", "cat%1:A")]
    items = SenseItems(numpy.arange(5), numpy.arange(1, 6), senses, [sense_lemma(s) for s, in senses])
    scores = polysemy_auc(V, items)
    assert scores["auc"] == pytest.approx(0.5)
    assert scores["auc_macro"] == pytest.approx(0.5)
    # "cat" has one sense only: not counted.
    assert (scores["n_lemmas"], scores["n_pairs"], scores["n_same"]) == (1, 3, 1)


def test_auc_change_is_exact_and_bootstrap_brackets_it():
    # Two lemmas, 4 pairs each (2 same-sense). "before": lemma 0 ranks
    # perfectly, lemma 1 backwards; "after" fixes lemma 1 only.
    pairs = SensePairs(
        a=numpy.arange(8), b=numpy.arange(8),
        same=numpy.asarray([1, 1, 0, 0] * 2, dtype=bool),
        group=numpy.asarray([0] * 4 + [1] * 4), n_lemmas=2,
    )
    before = numpy.asarray([0.9, 0.8, 0.2, 0.1, 0.1, 0.2, 0.8, 0.9])
    after = numpy.asarray([0.9, 0.8, 0.2, 0.1, 0.9, 0.8, 0.2, 0.1])
    change = auc_change(before, after, pairs, n_boot=100)
    # Per lemma: AUC 1 -> 1 and 0 -> 1, so the mean rises by 0.5; pooled:
    # 8 of 16 same/different orderings -> 16 of 16, also +0.5.
    assert change["auc_macro_change"] == pytest.approx(0.5)
    assert change["auc_change"] == pytest.approx(0.5)
    # Resamples hold lemma 1 zero, one or two times: changes 0 .. 1.
    assert 0.0 <= change["auc_macro_change_lo"] <= 0.5 <= change["auc_macro_change_hi"] <= 1.0
    # No change -> a zero-width interval at zero.
    same = auc_change(before, before, pairs, n_boot=50)
    assert same["auc_change"] == same["auc_change_lo"] == same["auc_change_hi"] == 0.0


def test_span_vectors_average_multiword_instances():
    X = numpy.asarray([[1, 1], [3, 5], [0, 2]], dtype="f")
    assert_allclose(span_vectors(X, numpy.asarray([0, 2]), numpy.asarray([2, 3])), [[2, 3], [0, 2]])


def test_sense_items_read_the_span_group(analysis_data):
    nlp = spacy.blank("en")
    docs = list(DocBin().from_disk(analysis_data / "sample.spacy").get_docs(nlp.vocab))
    items = sense_items(docs)
    assert len(items) == 12 and set(items.lemmas) == {"bank%1"}
    first = docs[54]  # the first sense doc follows the 54 tagged ones
    assert items.starts[0] == sum(len(d) for d in docs[:54]) + 4
    assert first[4].text == "bank"


def test_grouped_auc_matches_sklearn_with_ties():
    from sklearn.metrics import roc_auc_score

    rng = numpy.random.default_rng(0)
    groups = rng.integers(0, 5, 300)
    scores = rng.integers(0, 6, 300).astype("f")  # many ties
    labels = rng.random(300) < 0.4
    labels[groups == 4] = True  # group 4: positives only -> NaN
    auc = grouped_auc(scores, labels, groups, 6)  # group 5: empty -> NaN
    for g in range(4):
        assert auc[g] == pytest.approx(roc_auc_score(labels[groups == g], scores[groups == g]))
    assert numpy.isnan(auc[4]) and numpy.isnan(auc[5])
