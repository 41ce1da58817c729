"""Static vectors distilled from contextual ones: the accumulator by hand, the reservoir, real tables through spaCy.

The accumulator is checked against NumPy by hand, the reservoir for uniformity, and real tables through spaCy
(loading, round trips, include_static_vectors)."""
from collections import Counter

import numpy
import pytest
import spacy
from spacy.vectors import Vectors
from thinc.api import Config

from spacy_ctx.analysis.static import (
    StaticAccumulator,
    distill_static,
    load_vectors_vocab,
    resolve_key,
    select_vocab,
    write_static_vectors,
)
from spacy_ctx.errors import SpacyCtxError

from ..util import assert_allclose  # arrays on any device

TEXTS = ["The bank of the river.", "Money in the Bank.", "A river runs past the BANK.", "Rivers flow."]


@pytest.fixture(scope="module")
def texts_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("static") / "texts.txt"
    path.write_text("\n".join(TEXTS) + "\n", encoding="utf8")
    return path


@pytest.fixture(scope="module")
def tables(nlp, texts_path):
    return distill_static(nlp, [texts_path], keys=["mix", -1], max_occurrences=2)


# The accumulator, on synthetic vectors


def test_mean_by_hand_over_batches():
    rng = numpy.random.default_rng(0)
    types = numpy.asarray([0, 1, 0, -1, 2, 0, 1, 0])
    X = rng.normal(size=(8, 5)).astype("float32")
    acc = StaticAccumulator(numpy.bincount(types[types >= 0]), ["k"], 5, max_occurrences=0)
    acc.add(types[:3], {"k": X[:3]})
    acc.add(types[3:], {"k": X[3:]})
    for t in range(3):
        assert_allclose(acc.mean("k")[t], X[types == t].mean(axis=0), rtol=1e-6)


def test_first_component_is_the_signed_scaled_top_singular_vector():
    rng = numpy.random.default_rng(1)
    X = rng.normal(size=(4, 6)) + 3.0  # one type, four occurrences, all kept
    acc = StaticAccumulator(numpy.asarray([4]), ["k"], 6, max_occurrences=8)
    acc.add(numpy.zeros(4, dtype="int64"), {"k": X.astype("float32")})
    _, s, Vt = numpy.linalg.svd(X, full_matrices=False)
    expected = Vt[0] * s[0] / 2.0  # sigma_1 / sqrt(4)
    expected *= numpy.sign(expected @ X.mean(axis=0))
    assert_allclose(acc.first_component("k")[0], expected, rtol=1e-4, atol=1e-5)


def test_pca_and_mean_agree_on_a_type_seen_once():
    x = numpy.asarray([[-2.0, 0.5, 1.0]], dtype="float32")
    acc = StaticAccumulator(numpy.asarray([1]), ["k"], 3, max_occurrences=4)
    acc.add(numpy.asarray([0]), {"k": x})
    assert_allclose(acc.first_component("k")[0], x[0], rtol=1e-6)
    assert_allclose(acc.mean("k")[0], x[0])


def test_reservoir_keeps_a_uniform_sample():
    n, k, runs = 20, 5, 1500
    kept = Counter()
    X = numpy.arange(n, dtype="float32")[:, None]  # occurrence j has vector [j]
    for seed in range(runs):
        acc = StaticAccumulator(numpy.asarray([n]), ["k"], 1, max_occurrences=k, seed=seed)
        for start in range(0, n, 3):  # batches of 3 tokens
            acc.add(numpy.zeros(len(X[start : start + 3]), dtype="int64"), {"k": X[start : start + 3]})
        sample = acc.reservoir["k"][:, 0]
        assert len(set(sample.tolist())) == k  # k distinct occurrences
        kept.update(sample.astype(int).tolist())
    # Each occurrence is kept with probability k / n = 0.25 (sd ~ 0.011).
    freq = numpy.asarray([kept[j] for j in range(n)]) / runs
    assert numpy.abs(freq - k / n).max() < 0.05


def test_select_vocab_and_keys():
    counts = Counter({10: 5, 11: 1, 12: 3})
    hashes, n = select_vocab(counts, min_count=2)
    assert hashes.tolist() == [10, 12] and n.tolist() == [5, 3]
    assert select_vocab(counts, vocab_size=1)[0].tolist() == [10]
    with pytest.raises(SpacyCtxError, match="E307"):
        select_vocab(counts, min_count=6)
    assert resolve_key(-1, 7) == "layer6" and resolve_key("mix", 7) == "mix" and resolve_key("2", 7) == "layer2"
    assert resolve_key("token", 7) == resolve_key("token_mix", 7) == "token_mix"
    with pytest.raises(SpacyCtxError, match="E306"):
        resolve_key(7, 7)


# Real tables


def test_distilled_mean_equals_pipeline_layers(nlp, tables):
    table = tables[("layer6", "mean")]
    assert table.attr == "LOWER" and table.words[0] == "the"
    assert table.counts[table.words.index("bank")] == 3  # bank, Bank, BANK
    docs = [nlp(t) for t in TEXTS]
    bank = [d._.ctx_layers[6][t.i] for d in docs for t in d if t.lower_ == "bank"]
    assert len(bank) == 3
    assert_allclose(table.vectors[table.words.index("bank")], numpy.mean(bank, axis=0), rtol=1e-4, atol=1e-5)
    # "money" is seen once: pca is its one vector, as the mean is.
    pca = tables[("layer6", "pca")]
    row = table.words.index("money")
    assert_allclose(pca.vectors[row], table.vectors[row], rtol=1e-4, atol=1e-5)


def test_table_loads_into_blank_and_round_trips(tables, tmp_path):
    table = tables[("mix", "mean")]
    out = write_static_vectors(table, tmp_path / "vectors")
    blank = spacy.blank("en")
    blank.vocab.vectors.from_disk(out / "vocab")
    row = table.words.index("bank")
    for form in ("bank", "Bank", "BANK"):  # every surface form seen is a key
        vector = blank.vocab.get_vector(form)  # on the current device
        assert_allclose(vector, table.vectors[row])
    assert not blank.vocab.has_vector("Money ")
    blank.vocab.vectors.to_disk(tmp_path / "again")
    again = Vectors().from_disk(tmp_path / "again")
    assert_allclose(again.data, blank.vocab.vectors.data)  # on the current device
    assert again.key2row == blank.vocab.vectors.key2row
    loaded = spacy.load(out)  # the whole directory, like `spacy init vectors` output
    assert loaded.vocab.vectors.shape == table.vectors.shape


def test_table_serves_include_static_vectors(tables, tmp_path, root):
    out = write_static_vectors(tables[("layer6", "mean")], tmp_path / "vectors")
    config = Config().from_disk(root / "configs" / "ner_static.cfg", overrides={"paths.vectors": str(out)})
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    from spacy.training import Example

    doc = nlp.make_doc("Money in the Bank of England .")
    example = Example.from_dict(doc, {"entities": ["O", "O", "O", "B-ORG", "I-ORG", "L-ORG", "O"]})
    nlp.initialize(lambda: [example])
    assert nlp.vocab.vectors.shape == tables[("layer6", "mean")].vectors.shape
    losses = nlp.update([example])
    assert losses["ner"] > 0
    assert len(nlp("Money in the Bank of England .")) == 7


def test_distill_rejects_bad_settings(nlp, texts_path):
    with pytest.raises(SpacyCtxError, match="E305"):
        distill_static(nlp, [texts_path], methods=["median"])
    with pytest.raises(SpacyCtxError, match="E310"):
        distill_static(nlp, [texts_path], attr="SHAPE")


def test_load_vectors_vocab_without_table(tmp_path):
    with pytest.raises(SpacyCtxError, match="E304"):
        load_vectors_vocab(tmp_path)
