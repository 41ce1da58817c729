"""Analysis tools: metrics against hand-computed values, the normalizer
round trip through a saved pipeline, and the three CLIs end to end."""
import math
from itertools import product

import numpy
import pytest
import spacy
import srsly
from numpy.testing import assert_allclose
from spacy.tokens import Doc, DocBin, Span
from typer.testing import CliRunner

from spacy_ctx.analysis.anisotropy import (
    TokenInfo,
    intra_sentence_similarity,
    measure,
    random_pair_cosine,
    self_similarity,
    token_info,
)
from spacy_ctx.normalizer import Normalizer
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
from spacy_ctx.analysis.probing import ProbeItems, baseline, probe_property, property_items
from spacy_ctx.cli import app

S2 = 1 / math.sqrt(2)


# Metrics, by hand


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


# Normalizers


@pytest.fixture(scope="module")
def cloud():
    """Anisotropic data: a big common offset and one dominant direction."""
    rng = numpy.random.default_rng(0)
    X = rng.normal(size=(500, 8)) * [10, 1, 1, 1, 1, 1, 1, 0.5] + 5.0
    return X.astype("f")


def test_center_removes_the_mean(cloud):
    norm = Normalizer("center").fit({"mix": cloud})
    assert_allclose(norm.transform(cloud, "mix").mean(axis=0), 0, atol=1e-4)
    assert norm.transform(cloud, "mix").dtype == numpy.float32


def test_abtt_removes_the_top_direction(cloud):
    norm = Normalizer("abtt", n_components=1).fit({"mix": cloud})
    top = norm.params["mix"]["components"][0]
    assert abs(top[0]) == pytest.approx(1.0, abs=0.01)  # the variance-10 axis
    Y = norm.transform(cloud, "mix")
    assert_allclose(Y @ top, 0, atol=1e-3)
    centered = cloud - cloud.mean(axis=0)
    assert_allclose(Y, centered - numpy.outer(centered @ top, top), atol=1e-4)


def test_whiten_gives_unit_covariance(cloud):
    norm = Normalizer("whiten", eps=1e-5).fit({"mix": cloud, "layer0": cloud[:, ::-1]})
    Y = norm.transform(cloud, "mix")
    # eps (1e-5 of the top eigenvalue, 100) shrinks the 0.25-variance axis a little.
    assert_allclose(numpy.cov(Y, rowvar=False), numpy.eye(8), atol=5e-3)
    # The default shrinkage (eps 0.1 of the top eigenvalue) keeps the order
    # of the variances but flattens them: eigenvalue l maps to l / (l + 10).
    shrunk = Normalizer("whiten").fit({"mix": cloud}).transform(cloud, "mix")
    variances = numpy.linalg.eigvalsh(numpy.cov(shrunk, rowvar=False))
    expected = numpy.linalg.eigvalsh(numpy.cov(cloud, rowvar=False))
    assert_allclose(variances, expected / (expected + 0.1 * expected.max()), rtol=0.05)
    assert norm.transform(cloud[0], "mix").shape == (8,)
    assert sorted(norm.keys) == ["layer0", "mix"]


def test_skip_below_leaves_isotropic_keys_alone(cloud):
    rng = numpy.random.default_rng(1)
    isotropic = rng.normal(size=(500, 8)).astype("f")  # random-pair cosine ~ 0
    norm = Normalizer("whiten", skip_below=0.05).fit({"mix": cloud, "layer6": isotropic})
    assert norm.kept_raw == ["layer6"]
    assert_allclose(norm.transform(isotropic, "layer6"), isotropic)
    assert numpy.abs(norm.transform(cloud, "mix").mean(axis=0)).max() < 1e-3  # corrected
    loaded = Normalizer.from_bytes(norm.to_bytes())
    assert (loaded.skip_below, loaded.kept_raw) == (0.05, ["layer6"])
    assert_allclose(loaded.transform(isotropic, "layer6"), isotropic)
    # Refitting a key on anisotropic data corrects it again.
    assert norm.fit({"layer6": cloud}).kept_raw == []


def test_normalizer_errors(cloud):
    with pytest.raises(ValueError, match="A001"):
        Normalizer("pca")
    norm = Normalizer("center").fit({"mix": cloud})
    with pytest.raises(KeyError, match="A002"):
        norm.transform(cloud, "layer3")
    with pytest.raises(ValueError, match="A004"):
        norm.transform(cloud[:, :4], "mix")
    with pytest.raises(ValueError, match="A003"):
        Normalizer("whiten").fit({"mix": cloud[:5]})
    with pytest.raises(ValueError, match="A005"):
        Normalizer("abtt", n_components=8).fit({"mix": cloud})


@pytest.mark.parametrize("method", ["center", "whiten", "abtt"])
def test_normalizer_bytes_round_trip(cloud, method):
    norm = Normalizer(method, n_components=2).fit({"mix": cloud, "layer1": cloud * 2})
    loaded = Normalizer.from_bytes(norm.to_bytes())
    assert (loaded.method, loaded.n_components, loaded.keys) == (method, 2, norm.keys)
    for key in norm.keys:
        assert_allclose(loaded.transform(cloud, key), norm.transform(cloud, key))
    with pytest.raises(ValueError, match="A012"):
        Normalizer.from_bytes(srsly.msgpack_dumps({"method": "center"}))


# Probes


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


# With the real MiniLM: sample data written here, the CLIs end to end

SUBJECTS = [("Ada", "PROPN", "NNP", "PER"), ("Paris", "PROPN", "NNP", "LOC"), ("the", "DET", "DT", None)]
VERBS = [("likes", "VERB", "VBZ"), ("sees", "VERB", "VBZ"), ("painted", "VERB", "VBD")]
OBJECTS = [("red", "ADJ", "JJ"), ("old", "ADJ", "JJ")]
NOUNS = [("car", "NOUN", "NN"), ("river", "NOUN", "NN"), ("boats", "NOUN", "NNS")]
BANK = [
    (["She", "sat", "on", "the", "bank", "of", "the", "river", "."], "bank%1:17:01::"),
    (["He", "put", "his", "money", "in", "the", "bank", "today", "."], "bank%1:14:00::"),
    (["The", "muddy", "bank", "of", "the", "stream", "was", "steep", "."], "bank%1:17:01::"),
    (["The", "bank", "lent", "them", "money", "for", "a", "house", "."], "bank%1:14:00::"),
]


def _tagged_docs(vocab):
    """Template sentences with UPOS, XPOS, dependencies and entities."""
    docs = []
    for subj, verb, adj, noun in product(SUBJECTS, VERBS, OBJECTS, NOUNS):
        if subj[0] == "the":
            subj_words = [("the", "DET", "DT", None), ("man", "NOUN", "NN", None)]
        else:
            subj_words = [subj]
        words = [w[0] for w in subj_words] + [verb[0], "a", adj[0], noun[0], "."]
        pos = [w[1] for w in subj_words] + [verb[1], "DET", adj[1], noun[1], "PUNCT"]
        tags = [w[2] for w in subj_words] + [verb[2], "DT", adj[2], noun[2], "."]
        ents = [f"B-{w[3]}" if w[3] else "O" for w in subj_words] + ["O"] * 5
        v = len(subj_words)  # index of the verb
        heads = ([1, v] if v == 2 else [v]) + [v, v + 3, v + 3, v, v]
        deps = (["det", "nsubj"] if v == 2 else ["nsubj"]) + ["ROOT", "det", "amod", "obj", "punct"]
        docs.append(Doc(vocab, words=words, pos=pos, tags=tags, heads=heads, deps=deps, ents=ents))
    return docs


def _sense_docs(vocab, copies=3):
    docs = []
    for _ in range(copies):
        for words, key in BANK:
            doc = Doc(vocab, words=words)
            i = words.index("bank")
            doc.spans["wsd"] = [Span(doc, i, i + 1, label=key)]
            docs.append(doc)
    return docs


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("analysis_data")
    vocab = spacy.blank("en").vocab
    DocBin(docs=_tagged_docs(vocab) + _sense_docs(vocab), store_user_data=True).to_disk(path / "sample.spacy")
    (path / "sample.txt").write_text(
        "\n".join(" ".join(words) for words, _ in BANK) + "\nA quick brown fox jumps over the lazy dog.\n",
        encoding="utf8",
    )
    return path


def test_sense_items_read_the_span_group(sample_dir):
    nlp = spacy.blank("en")
    docs = list(DocBin().from_disk(sample_dir / "sample.spacy").get_docs(nlp.vocab))
    items = sense_items(docs)
    assert len(items) == 12 and set(items.lemmas) == {"bank%1"}
    first = docs[54]  # the first sense doc follows the 54 tagged ones
    assert items.starts[0] == sum(len(d) for d in docs[:54]) + 4
    assert first[4].text == "bank"


def test_probe_cli(sample_dir, tmp_path):
    out = tmp_path / "probe"
    result = CliRunner().invoke(app, ["probe", "default", str(sample_dir / "sample.spacy"), str(out), "--test-fraction", "0.3"])
    assert result.exit_code == 0, result.output
    report = srsly.read_json(out / "probe.json")
    assert set(report["properties"]) == {"upos", "xpos", "ner", "dep", "sense"}
    upos = report["properties"]["upos"]
    assert list(upos["accuracy"]) == [f"layer{i}" for i in range(7)] + ["mix"]
    # Template data: a linear probe on the mix gets nearly every tag right.
    assert upos["accuracy"]["mix"] > 0.9 > upos["baseline"]
    assert "| upos |" in (out / "probe.md").read_text()
    assert (out / "probe.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_anisotropy_cli(sample_dir, tmp_path):
    out = tmp_path / "aniso"
    args = ["anisotropy", "default", str(sample_dir / "sample.spacy"), str(out), "-c", "none,center,abtt", "--min-count", "3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = srsly.read_json(out / "anisotropy.json")
    assert set(data["anisotropy"]) == {"none", "center", "abtt"}
    raw, centered = data["anisotropy"]["none"]["layer3"], data["anisotropy"]["center"]["layer3"]
    assert raw["random_pair_cosine"] > 0.1  # MiniLM is anisotropic...
    assert abs(centered["random_pair_cosine"]) < 0.05  # ...centering fixes it
    assert data["polysemy"]["none"]["mix"]["n_lemmas"] == 1
    change = data["polysemy"]["abtt"]["mix"]
    assert change["auc_change"] == pytest.approx(change["auc"] - data["polysemy"]["none"]["mix"]["auc"])
    assert change["auc_change_lo"] <= change["auc_change_hi"]
    md = (out / "anisotropy.md").read_text()
    assert "### Anisotropy: abtt" in md and "auc change [95% CI]" in md
    assert (out / "anisotropy.png").read_bytes()[:4] == b"\x89PNG"


def test_anisotropy_cli_rejects_unknown_correction(sample_dir, tmp_path):
    args = ["anisotropy", "default", str(sample_dir / "sample.txt"), str(tmp_path), "-c", "pca"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "A011" in result.output


def test_fit_normalizer_cli_and_round_trip(sample_dir, tmp_path):
    out = tmp_path / "pipeline"
    args = ["fit-normalizer", "default", str(sample_dir / "sample.txt"), str(out), "--method", "abtt", "-D", "2"]
    # A threshold no layer is under: nothing is left raw; the saved pipeline
    # keeps the setting.
    result = CliRunner().invoke(app, args + ["--skip-below", "-1"])
    assert result.exit_code == 0, result.output
    assert "left as they are" not in result.output
    nlp = spacy.load(out)
    assert nlp.get_pipe("ctx_encoder").normalizer.skip_below == -1.0
    assert nlp.config["components"]["ctx_encoder"]["normalize"] is True
    encoder = nlp.get_pipe("ctx_encoder")
    norm = encoder.normalizer
    assert norm.method == "abtt" and "mix" in norm.keys and "layer6" in norm.keys
    doc = nlp("She sat on the bank of the river.")
    raw = encoder.mix.predict(encoder.predict([doc]))[0]
    corrected = norm.transform(raw, "mix")
    assert_allclose(doc[4].vector, corrected[4], atol=1e-5)
    assert_allclose(doc[4]._.ctx_vector, corrected[4], atol=1e-5)
    cos = corrected[4] @ corrected[7] / numpy.linalg.norm(corrected[4]) / numpy.linalg.norm(corrected[7])
    assert doc[4].similarity(doc[7]) == pytest.approx(float(cos), abs=1e-5)
    assert not numpy.allclose(doc[4].vector, raw[4], atol=1e-3)
    # Save again and reload: the same normalizer, the same vectors.
    nlp.to_disk(tmp_path / "again")
    nlp2 = spacy.load(tmp_path / "again")
    assert_allclose(nlp2.get_pipe("ctx_encoder").normalizer.params["mix"]["components"], norm.params["mix"]["components"])
    assert_allclose(nlp2(doc.text)[4].vector, doc[4].vector, atol=1e-5)


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
