"""Similarity scoring: Spearman against scipy, the representations against raw `transformers`, the tables by hand."""
import numpy
import pytest
import torch
from numpy.testing import assert_allclose
from scipy.stats import rankdata, spearmanr

from spacy_ctx.analysis.features import encode_docs
from spacy_ctx.analysis.similarity import (
    doc_means,
    first_wordpiece_vectors,
    isolation_vectors,
    row_cosines,
    spearman,
    sts_benchmark,
    word_similarity,
)
from spacy_ctx.evaluation_sets import ScoredPair
from spacy_ctx.normalizer import Normalizer
from spacy_ctx.pipeline.loading import find_encoder

PAIRS = [
    ScoredPair("A man is playing a guitar.", "A man plays the guitar.", 4.8),
    ScoredPair("A cat sleeps on the sofa.", "The stock market fell sharply.", 0.2),
    ScoredPair("A woman is cooking dinner.", "A woman is slicing an onion.", 2.6),
    ScoredPair("The river bank flooded.", "She put money in the bank.", 0.8),
    ScoredPair("Two dogs run in a field.", "Two dogs are running through grass.", 4.2),
]


def _hidden_states(raw_transformer, text):
    tokenizer, model = raw_transformer
    with torch.no_grad():
        batch = tokenizer([text], return_tensors="pt")
        return [h[0].numpy() for h in model(**batch, output_hidden_states=True).hidden_states]


# Spearman


def test_spearman_equals_scipy_with_ties():
    gold = [1.0, 2.0, 2.0, 3.0, 5.0, 5.0, 4.0, 0.5]
    pred = [0.1, 0.3, 0.3, 0.2, 0.9, 0.8, 0.5, 0.3]
    expected = 100 * spearmanr(gold, pred)[0]
    assert spearman(gold, pred) == pytest.approx(expected, abs=1e-12)
    # And Spearman's definition by hand: Pearson of the average ranks.
    by_hand = 100 * numpy.corrcoef(rankdata(gold), rankdata(pred))[0, 1]
    assert spearman(gold, pred) == pytest.approx(by_hand, abs=1e-10)


def test_spearman_undefined_is_nan():
    assert numpy.isnan(spearman([1.0], [2.0]))
    assert numpy.isnan(spearman([1.0, 2.0, 3.0], [0.5, 0.5, 0.5]))


def test_row_cosines_by_hand_and_zero_rows():
    A = numpy.asarray([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    B = numpy.asarray([[0.0, 2.0], [2.0, 2.0], [1.0, 0.0]])
    assert_allclose(row_cosines(A, B), [0.0, 1.0, 0.0])


# Representations


def test_doc_means_equal_doc_vector(nlp):
    texts = ["A man plays the guitar.", "Hi", "Money in the bank, again."]
    docs = [nlp(t) for t in texts]
    features = encode_docs(find_encoder(nlp), [nlp.make_doc(t) for t in texts])
    means = doc_means(features.get("mix"), features.offsets)
    assert_allclose(means, numpy.stack([d.vector for d in docs]), rtol=1e-5, atol=1e-5)
    assert_allclose(doc_means(numpy.ones((2, 3)), numpy.asarray([0, 0, 2]))[0], 0.0)


def test_first_wordpiece_is_cls_of_raw_transformers(nlp, raw_transformer):
    texts = ["A man plays the guitar.", "Unbelievably short."]
    first = first_wordpiece_vectors(find_encoder(nlp), texts)
    assert first.shape == (7, 2, 384)
    for i, text in enumerate(texts):
        hidden = _hidden_states(raw_transformer, text)
        for layer in (0, 3, 6):
            assert_allclose(first[layer, i], hidden[layer][0], rtol=1e-4, atol=1e-4)


def test_isolation_layer0_is_the_embedding_layer(nlp, raw_transformer):
    words = ["bank", "unhappiness"]
    vectors = isolation_vectors(find_encoder(nlp), words, make_doc=nlp.make_doc)
    for word in words:
        hidden = _hidden_states(raw_transformer, word)
        # [CLS] word-pieces [SEP]: the word is the mean of the pieces between.
        assert_allclose(vectors["layer0"][word], hidden[0][1:-1].mean(axis=0), rtol=1e-4, atol=1e-4)
        assert_allclose(vectors["layer6"][word], hidden[6][1:-1].mean(axis=0), rtol=1e-4, atol=1e-4)
    assert len(raw_transformer[0].tokenize("unhappiness")) > 1  # the case is not trivial


# Benchmarks


def test_sts_benchmark_rows_by_hand(nlp):
    fit_texts = [p.a for p in PAIRS] + ["The weather is nice today.", "Nobody came to the party."]
    encoder = find_encoder(nlp)
    fit = encode_docs(encoder, [nlp.make_doc(t) for t in fit_texts])
    result = sts_benchmark(nlp, PAIRS, fit_features=fit, methods=("center",))
    gold = [p.gold for p in PAIRS]
    a_docs = [nlp(p.a) for p in PAIRS]
    b_docs = [nlp(p.b) for p in PAIRS]
    # The pipeline row is doc.similarity itself.
    sims = [a.similarity(b) for a, b in zip(a_docs, b_docs)]
    assert result["pipeline"]["score"] == pytest.approx(100 * spearmanr(gold, sims)[0], abs=0.01)
    # The layer-6 mean row from the stored layers.
    top = lambda d: d._.ctx_layers[6].mean(axis=0)
    cos = [numpy.dot(top(a), top(b)) / numpy.linalg.norm(top(a)) / numpy.linalg.norm(top(b)) for a, b in zip(a_docs, b_docs)]
    assert result["rows"]["mean"]["layer6"] == pytest.approx(100 * spearmanr(gold, cos)[0], abs=0.01)
    # A correction row: correct every token, then average (as the pipeline would).
    norm = Normalizer("center").fit({"layer2": fit.get("layer2")})
    fixed = lambda d: norm.transform(d._.ctx_layers[2], "layer2").mean(axis=0)
    cos = [row_cosines(fixed(a)[None], fixed(b)[None])[0] for a, b in zip(a_docs, b_docs)]
    assert result["rows"]["center"]["layer2"] == pytest.approx(100 * spearmanr(gold, cos)[0], abs=0.01)
    assert set(result["rows"]) == {"mean", "first wordpiece", "center"}
    assert result["keys"] == [f"layer{i}" for i in range(7)] + ["mix"]


def test_word_similarity_coverage_and_shared_pairs():
    pairs = [ScoredPair(a, b, g) for a, b, g in [("a", "b", 1.0), ("a", "c", 2.0), ("b", "c", 3.0), ("c", "d", 4.0)]]
    vectors = {"a": [1.0, 0.0], "b": [1.0, 0.2], "c": [0.0, 1.0], "d": [0.5, 0.5]}
    full = {w: numpy.asarray(v) for w, v in vectors.items()}
    partial = {w: v for w, v in full.items() if w != "d"}
    partial["b"] = numpy.zeros(2)  # an all-zero vector counts as missing
    result = word_similarity({"full": full.get, "partial": partial.get}, {"set": pairs})
    row = result["rows"]["full"]["set"]
    cos = row_cosines(numpy.stack([full[p.a] for p in pairs]), numpy.stack([full[p.b] for p in pairs]))
    assert row["n"] == 4 and row["coverage"] == 1.0
    assert row["spearman"] == pytest.approx(round(100 * spearmanr([1, 2, 3, 4], cos)[0], 2))
    # "partial" covers only (a, c): too few pairs for a correlation.
    assert result["rows"]["partial"]["set"]["n"] == 1
    assert result["rows"]["partial"]["set"]["spearman"] is None
    assert result["n_shared"] == {"set": 1}
