"""spacy_ctx.analysis.probing: property items from annotations, linear probes and their baselines."""
import numpy
import pytest
import spacy
from spacy.tokens import Doc

from spacy_ctx.analysis.probing import ProbeItems, baseline, probe_property, property_items


def test_property_items_read_bio_tags():
    nlp = spacy.blank("en")
    doc = Doc(nlp.vocab, words=["Ada", "Lovelace", "wrote", "."], ents=["B-PER", "I-PER", "O", "O"])
    unannotated = nlp.make_doc("no entities here")
    items = property_items([unannotated, doc], "ner")
    assert items.labels == ["B-PER", "I-PER", "O", "O"]
    assert items.starts.tolist() == [3, 4, 5, 6]
    assert property_items([doc], "dep") is None


def test_probe_separates_separable_classes():
    rng = numpy.random.default_rng(0)
    labels = ["a", "b", "c"] * 20
    centres = {"a": [5, 0, 0], "b": [0, 5, 0], "c": [0, 0, 5]}
    X = numpy.asarray([centres[y] for y in labels]) + rng.normal(size=(60, 3))
    items = ProbeItems(numpy.arange(60), numpy.arange(1, 61), labels, [frozenset([y]) for y in labels])
    train, test = items.subset(range(40)), items.subset(range(40, 60))
    assert probe_property(X[:40], train, X[40:], test) == 1.0
    # "a" is the most frequent training label (14 of 40) and 6 of the 20 test labels.
    assert baseline(train, test)["baseline"] == pytest.approx(6 / 20)


def test_sense_probe_is_per_lemma_with_an_mfs_baseline():
    # Lemma x: senses by the sign of the first feature; lemma y: one sense
    # only in training, so it is not scored.
    X = numpy.asarray([[1, 0], [2, 0], [-1, 0], [-2, 0], [0, 1], [3, 0], [-3, 0], [0, 2]], dtype="f")
    labels = ["x:1", "x:1", "x:2", "x:2", "y:1", "x:1", "x:2", "y:1"]
    groups = ["x", "x", "x", "x", "y", "x", "x", "y"]
    items = ProbeItems(numpy.arange(8), numpy.arange(1, 9), labels, [frozenset([y]) for y in labels], groups)
    train, test = items.subset(range(5)), items.subset(range(5, 8))
    assert probe_property(X[:5], train, X[5:], test) == 1.0
    assert baseline(train, test) == {"baseline": 0.5, "n_scored": 2, "coverage": 1.0}
