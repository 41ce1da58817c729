"""spacy_ctx.analysis.anisotropy: random-pair cosine, self- and intra-sentence similarity by hand."""
import math

import numpy
import pytest
import spacy
from spacy.tokens import Doc

from spacy_ctx.analysis.anisotropy import (
    TokenInfo,
    intra_sentence_similarity,
    measure,
    random_pair_cosine,
    self_similarity,
    token_info,
)


S2 = 1 / math.sqrt(2)


def test_random_pair_cosine_of_two_rows():
    # Every pair of distinct rows is (0, 1) or (1, 0): cosine 1/sqrt(2).
    X = numpy.asarray([[1.0, 0.0], [1.0, 1.0]])
    assert random_pair_cosine(X, n_pairs=50) == pytest.approx(S2)


def test_random_pair_cosine_respects_mask_and_zero_rows():
    X = numpy.asarray([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 0.0]])
    # Rows 0 and 2 masked in (identical), row 3 is all zeros and never drawn.
    assert random_pair_cosine(X, mask=numpy.asarray([1, 0, 1, 1], bool)) == pytest.approx(1.0)


def test_self_similarity_by_hand():
    X = numpy.asarray([[1, 0], [0, 1], [1, 1], [1, 0], [2, 0], [5, 5]], dtype="f")
    types = numpy.asarray([0, 0, 0, 1, 1, -1])
    # Type 0: cosines 0, 1/sqrt2, 1/sqrt2 -> sqrt2/3. Type 1: 1. Row 5 excluded.
    sim, n = self_similarity(X, types, min_count=2)
    assert n == 2
    assert sim == pytest.approx((math.sqrt(2) / 3 + 1) / 2)
    sim, n = self_similarity(X, types, min_count=3)
    assert (n, sim) == (1, pytest.approx(math.sqrt(2) / 3))


def test_intra_sentence_similarity_by_hand():
    X = numpy.asarray([[1, 0], [0, 1], [1, 0], [3, 0], [0, 7]], dtype="f")
    # Sentence 1: mean (.5, .5), each token at cosine 1/sqrt2. Sentence 2
    # without its masked last token: two parallel vectors, cosine 1.
    mask = numpy.asarray([1, 1, 1, 1, 0], bool)
    sim, n = intra_sentence_similarity(X, [(0, 2), (2, 5)], mask=mask)
    assert n == 2
    assert sim == pytest.approx((S2 + 1) / 2)


def test_measure_adjusts_by_the_baseline():
    X = numpy.asarray([[1, 0], [1, 1], [1, 0], [1, 1]], dtype="f")
    info = TokenInfo(numpy.ones(4, bool), numpy.asarray([0, 1, 0, 1]), [(0, 2), (2, 4)])
    m = measure(X, info, min_count=2)
    assert m["self_similarity"] == pytest.approx(1.0)
    assert m["self_similarity_adj"] == pytest.approx(1.0 - m["random_pair_cosine"])
    assert m["intra_similarity_adj"] == pytest.approx(m["intra_similarity"] - m["random_pair_cosine"])


def test_token_info_skips_punctuation_and_reads_sentences():
    nlp = spacy.blank("en")
    doc = Doc(nlp.vocab, words=["The", "cat", ".", "the", "dog"], sent_starts=[1, 0, 0, 1, 0])
    info = token_info([doc, nlp.make_doc("A cat")])
    assert info.keep.tolist() == [True, True, False, True, True, True, True]
    assert info.types[0] == info.types[3] and info.types[1] == info.types[6]
    assert info.types[2] == -1
    assert info.sentences == [(0, 3), (3, 5), (5, 7)]
