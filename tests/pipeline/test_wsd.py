"""The ctx_wsd component, trained on the small samples in corpus/ (needs WordNet)."""
import shutil
import sys

import numpy
import pytest
import spacy
from spacy.tokens import Doc, Span
from spacy.training import Example

from spacy_ctx.errors import SpacyCtxError
from spacy_ctx.senses.scoring import score_wsd
from spacy_ctx.senses.targets import find_targets, gold_targets, plan_batch

from ..util import dev_docs, wsd_nlp

pytestmark = pytest.mark.data


def test_training_makes_the_loss_fall(trained_wsd):
    _, history = trained_wsd
    assert history[-1] < 0.7 * history[0]


def test_predictions_are_candidates_of_the_target_lemma(trained_wsd, wsd_corpus):
    nlp, _ = trained_wsd
    inventory = nlp.get_pipe("ctx_wsd").inventory
    docs, examples = dev_docs(nlp, wsd_corpus)
    n = 0
    for doc in docs:
        for span in doc.spans["wsd"]:
            lemma, pos = span[0].lemma_, span[0].pos_
            assert span.label_ in inventory.candidates(lemma, pos)
            assert inventory.key_lemma_pos(span.label_)[0] == lemma
            assert span[0]._.sense == span.label_
            assert 0.0 < span[0]._.sense_score <= 1.0
            n += 1
    assert n == sum(len({s.id_ for s in eg.reference.spans["wsd"]}) for eg in examples)
    scores = score_wsd([Example(d, eg.reference) for d, eg in zip(docs, examples)])
    # Answers every instance: P == R, and well above chance on the sample.
    assert scores["wsd_p"] == scores["wsd_r"] >= 0.6


def test_bank_senses_follow_the_context(trained_wsd):
    """The river context moves "bank" towards the sloping-land row and away
    from the institution's, against the money context, and moves probability
    towards the sloping land. (After 8 steps on 18 sentences with
    cross-fitting, whose half-corpus rows are mostly WordNet propagations,
    both contexts may sit on one side of the two rows, within 1e-3, and the
    bias may pick the institution for both: neither the sign nor the argmax
    is asserted.)"""
    nlp, _ = trained_wsd
    wsd = nlp.get_pipe("ctx_wsd")
    E = wsd.model.ops.to_numpy(wsd.model.get_param("E"))
    land, money_row = E[wsd._rows["bank%1:17:01::"]], E[wsd._rows["bank%1:14:00::"]]
    words = ["They", "fished", "from", "the", "bank", "of", "the", "river", "."]
    money = ["She", "put", "her", "money", "in", "the", "bank", "."]
    margins, p_land = [], []
    for ws, i in ((words, 4), (money, 6)):
        doc = Doc(nlp.vocab, words=ws, pos=["NOUN" if w == "bank" else "X" for w in ws],
                  lemmas=[w.lower() for w in ws])
        doc.spans["wsd"] = [Span(doc, i, i + 1)]
        doc = nlp(doc)
        h = wsd.model.ops.to_numpy(wsd.model.get_ref("tok2vec").predict([doc])[0])[i]
        margins.append(float(h @ land - h @ money_row))
        ranking = wsd.rank([doc])[0][0]
        p_land.append(ranking.scores[ranking.keys.index("bank%1:17:01::")])
    assert margins[0] > margins[1]
    assert p_land[0] > p_land[1]


def test_save_load_gives_identical_predictions(trained_wsd, wsd_corpus, tmp_path):
    nlp, _ = trained_wsd
    nlp.to_disk(tmp_path / "wsd")
    loaded = spacy.load(tmp_path / "wsd")
    docs1, _ = dev_docs(nlp, wsd_corpus)
    docs2, _ = dev_docs(loaded, wsd_corpus)
    for d1, d2 in zip(docs1, docs2):
        assert [(s.id_, s.label_) for s in d1.spans["wsd"]] == [(s.id_, s.label_) for s in d2.spans["wsd"]]
        s1 = [t._.sense_score for t in d1 if t._.sense]
        s2 = [t._.sense_score for t in d2 if t._.sense]
        numpy.testing.assert_allclose(s1, s2, rtol=1e-5)


def test_bad_input_no_lemma_no_candidates_empty_doc(trained_wsd):
    nlp, _ = trained_wsd
    # Empty doc.
    empty = nlp(Doc(nlp.vocab, words=[]))
    assert len(empty.spans["wsd"]) == 0
    # A target with no lemma (and no POS): its text stands in, any POS.
    doc = Doc(nlp.vocab, words=["The", "plant", "closed", "."])
    doc.spans["wsd"] = [Span(doc, 1, 2, span_id="t1")]
    doc = nlp(doc)
    assert doc[1]._.sense is not None and doc[1]._.sense.startswith("plant%")
    # A lemma with no candidates gets no answer, and the others still do.
    doc = Doc(nlp.vocab, words=["Xyzzyq", "banks", "."], lemmas=["xyzzyq", "bank", "."],
              pos=["NOUN", "NOUN", "PUNCT"])
    doc.spans["wsd"] = [Span(doc, 0, 1, span_id="a"), Span(doc, 1, 2, span_id="b")]
    doc = nlp(doc)
    assert doc[0]._.sense is None
    assert [s.id_ for s in doc.spans["wsd"]] == ["b"]


def test_plain_text_targets_content_words(trained_wsd):
    nlp, _ = trained_wsd
    doc = nlp("The plant by the river closed.")
    targets = {s.text for s in doc.spans["wsd"]}
    assert {"plant", "river"} <= targets and "The" not in targets and "by" not in targets


def test_unseen_lemma_falls_back_to_the_most_frequent_sense(trained_wsd):
    nlp, _ = trained_wsd
    wsd = nlp.get_pipe("ctx_wsd")
    doc = Doc(nlp.vocab, words=["a", "dog"], lemmas=["a", "dog"], pos=["DET", "NOUN"])
    doc.spans["wsd"] = [Span(doc, 1, 2)]
    assert "dog%1:05:00::" not in wsd.senses
    assert nlp(doc)[1]._.sense == wsd.inventory.candidates("dog", "NOUN")[0] == "dog%1:05:00::"


def test_initialize_errors(trained_wsd, wsd_corpus, wordnet_path, tmp_path):
    nlp, _ = trained_wsd
    bad = nlp.add_pipe("ctx_wsd", name="bad_wsd", config={"gloss_weight": 0.0})
    try:
        train = list(wsd_corpus["train"](nlp))
        with pytest.raises(SpacyCtxError, match="E101"):
            bad.initialize(lambda: train, nlp=nlp, wordnet_path=str(tmp_path))
        plain = [Example(Doc(nlp.vocab, words=["no", "senses"]), Doc(nlp.vocab, words=["no", "senses"]))]
        with pytest.raises(SpacyCtxError, match="E102"):
            bad.initialize(lambda: plain, nlp=nlp, wordnet_path=wordnet_path)
    finally:
        nlp.remove_pipe("bad_wsd")


def test_no_wordnet_anywhere_says_how_to_get_it(wsd_corpus, tmp_path, monkeypatch):
    import nltk

    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])  # an nltk without WordNet
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder")
    nlp.add_pipe("ctx_wsd", config={"gloss_weight": 0.0})
    train = list(wsd_corpus["train"](nlp))
    with pytest.raises(SpacyCtxError, match="E107") as err:
        nlp.initialize(lambda: train)
    assert "python -m nltk.downloader wordnet" in str(err.value)
    assert str(tmp_path) in str(err.value)


def test_trained_pipeline_travels_without_wordnet_or_nltk(shared_data, wsd_corpus, tmp_path, monkeypatch):
    """Trained on nltk's WordNet, saved, moved; then with that WordNet gone
    and nltk unimportable (WordNet is read through nltk only), the loaded
    pipeline predicts the same senses with the same scores."""
    import nltk

    nltk_data = tmp_path / "nltk_data"
    (nltk_data / "corpora").mkdir(parents=True)
    (nltk_data / "corpora" / "wordnet").symlink_to(shared_data / "wordnet30" / "dict")
    monkeypatch.setattr(nltk.data, "path", [str(nltk_data)])
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder")
    nlp.add_pipe("ctx_wsd", config={"gloss_weight": 0.0})  # wordnet_path: none, nltk's
    train = list(wsd_corpus["train"](nlp))
    optimizer = nlp.initialize(lambda: train)
    for _ in range(3):
        nlp.update(train, sgd=optimizer)
    # Gold targets (seen and unseen lemmas), and plain text: inflected words
    # go through WordNet's morphology, with any POS.
    text = "The rivers flooded the old plants ."

    def predict(pipeline):
        docs = dev_docs(pipeline, wsd_corpus)[0] + [pipeline(text)]
        return [[(s.start, s.end, s.id_, s.label_, s[0]._.sense_score) for s in d.spans["wsd"]] for d in docs]

    before = predict(nlp)
    assert [(label.partition("%")[0], start) for start, _, _, label, _ in before[-1]] == [
        ("river", 1), ("flood", 2), ("old", 4), ("plant", 5)
    ]
    nlp.to_disk(tmp_path / "saved")
    shutil.move(tmp_path / "saved", tmp_path / "moved")
    shutil.rmtree(nltk_data)
    monkeypatch.setitem(sys.modules, "nltk", None)  # `import nltk` now fails
    loaded = spacy.load(tmp_path / "moved")
    assert predict(loaded) == before
    # Bytes carry the inventory too.
    wsd = loaded.get_pipe("ctx_wsd")
    copy = spacy.blank("en").add_pipe("ctx_wsd").from_bytes(wsd.to_bytes())
    assert copy.senses == wsd.senses
    assert copy.candidates("geese", "NOUN") == wsd.candidates("goose", "NOUN") != ()
    assert copy.log_prior(wsd.candidates("bank", "NOUN")).tolist() == wsd.log_prior(wsd.candidates("bank", "NOUN")).tolist()


def test_get_loss_is_the_candidate_cross_entropy(trained_wsd, wsd_corpus):
    """get_loss(examples, scores) against softmax cross-entropy computed
    here over the gold instances' candidate segments."""
    from scipy.special import softmax

    nlp, _ = trained_wsd
    wsd = nlp.get_pipe("ctx_wsd")
    examples = list(wsd_corpus["train"](nlp))[:6]
    docs = list(nlp.get_pipe("ctx_encoder").pipe([eg.predicted for eg in examples]))
    rows = {key: i for i, key in enumerate(wsd.senses)}
    gold = [gold_targets(eg, "wsd") for eg in examples]
    batch, scored, _ = plan_batch(docs, [t for t, _ in gold], wsd.inventory, rows)
    scores = wsd.model.predict(batch)
    loss, d_scores = wsd.get_loss(examples, scores)
    expected, grads, offset = [], [], 0
    for (d, t, keys), n in zip(scored, batch.lengths):
        probs = softmax(scores[offset : offset + n].astype("d"))
        hits = numpy.asarray([key in gold[d][1][t] for key in keys], dtype="d")
        expected.append(-numpy.log(probs[hits > 0].sum()))
        grads.append((probs - hits / hits.sum()) / len(scored))
        offset += n
    assert len(scored) > 10
    assert loss == pytest.approx(numpy.mean(expected), rel=1e-5)
    numpy.testing.assert_allclose(d_scores, numpy.concatenate(grads), atol=1e-6)


def test_gloss_weight_errors(wordnet_path, wsd_corpus):
    nlp = spacy.blank("en")
    with pytest.raises(SpacyCtxError, match="E106"):
        nlp.add_pipe("ctx_wsd", config={"wordnet_path": wordnet_path, "gloss_weight": -1.0})
    nlp = wsd_nlp(wordnet_path)
    train = list(wsd_corpus["train"](nlp))
    wsd = nlp.get_pipe("ctx_wsd")
    nlp.get_pipe("ctx_encoder").initialize(lambda: train, nlp=nlp)
    # Without the pipeline, the glosses cannot be encoded: a clear error.
    with pytest.raises(SpacyCtxError, match="E105"):
        wsd.initialize(lambda: train)


def test_spacy_train_runs_the_wsd_config(root, wordnet_path, tmp_path):
    """configs/wsd.cfg through spaCy's own training loop, then spacy.load."""
    import srsly
    from spacy.cli.train import train as spacy_train

    overrides = {
        "paths.train": str(root / "corpus" / "wsd-train.spacy"),
        "paths.dev": str(root / "corpus" / "wsd-dev.spacy"),
        "paths.wordnet": wordnet_path,
        "training.max_steps": 10,
        "training.max_epochs": 0,
        "training.eval_frequency": 5,
        "initialize.components.ctx_wsd.gloss_cache": str(tmp_path / "glosses"),
    }
    spacy_train(root / "configs" / "wsd.cfg", tmp_path, overrides=overrides, use_gpu=-1)
    (cache,) = (tmp_path / "glosses").iterdir()  # the glosses of one encoder and listener
    assert (cache / "rows.npy").exists() and (cache / "texts.json").exists()
    meta = srsly.read_json(tmp_path / "model-last" / "meta.json")
    assert {"wsd_p", "wsd_r", "wsd_f"} <= set(meta["performance"])
    assert meta["performance"]["wsd_f"] > 0.3  # far above chance among the candidates
    nlp = spacy.load(tmp_path / "model-last")
    wsd = nlp.get_pipe("ctx_wsd")
    assert wsd.cfg["gloss_weight"] == 1.0
    doc = nlp.make_doc("She sat on the bank of the river .")
    doc[4].lemma_, doc[4].pos_ = "bank", "NOUN"
    doc.spans["wsd"] = [Span(doc, 4, 5, span_id="d0.s0.t0")]
    doc = nlp(doc)
    assert doc[4]._.sense in wsd.candidates("bank", "NOUN")


def test_training_rows_leave_out_the_instance(trained_wsd, wsd_corpus):
    """Cross-fitting: an instance is trained against the rows built from the
    other half of the docs, so a sense seen once is not its own mean there."""
    from spacy_ctx.senses.embeddings import fold as _fold

    nlp, _ = trained_wsd
    wsd = nlp.get_pipe("ctx_wsd")
    train = list(wsd_corpus["train"](nlp))
    cross, E = wsd._cross_rows.astype("f"), wsd.model.ops.to_numpy(wsd.model.get_param("E"))
    assert cross.shape == (2, *E.shape)
    assert {_fold(eg) for eg in train} == {0, 1}
    counts = {}
    for eg in train:
        for _, keys in zip(*gold_targets(eg, "wsd")):
            for key in keys:
                counts[key] = counts.get(key, 0) + 1
    tok2vec, encoder = wsd.model.get_ref("tok2vec"), nlp.get_pipe("ctx_encoder")
    encoder.set_annotations([eg.predicted for eg in train], encoder.predict([eg.predicted for eg in train]))
    n = own = other = 0
    for eg, vectors in zip(train, tok2vec.predict([eg.predicted for eg in train])):
        for target, keys in zip(*gold_targets(eg, "wsd")):
            if counts[keys[0]] != 1:
                continue
            h = vectors[target.start : target.end].mean(axis=0)
            h /= numpy.linalg.norm(h)
            row = wsd._rows[keys[0]]
            cos = lambda v: float(h @ v) / (numpy.linalg.norm(v) + 1e-8)
            own += cos(E[row])
            other += cos(cross[_fold(eg), row])
            n += 1
    assert n >= 5
    # The prediction row holds the instance itself; its training row does not.
    assert other / n < own / n - 0.1


def test_the_config_trains_by_updates_with_early_stopping(root):
    from spacy.util import load_config

    training = load_config(root / "configs" / "wsd.cfg")["training"]
    assert training["max_epochs"] == 0 and training["max_steps"] >= 1000
    assert 0 < training["eval_frequency"] < training["patience"] < training["max_steps"]


def test_extra_senses_let_the_model_score_an_unseen_lemma(wordnet_path, wsd_corpus):
    """Rows for a lemma the training data lacks (glosses + propagation): the
    model scores it instead of answering WordNet's first sense."""
    nlp = wsd_nlp(wordnet_path)
    train = list(wsd_corpus["train"](nlp))
    dog = nlp.get_pipe("ctx_wsd").candidates("dog", "NOUN")
    nlp.get_pipe("ctx_encoder").initialize(lambda: train, nlp=nlp)
    nlp.get_pipe("ctx_wsd").initialize(lambda: train, nlp=nlp, extra_senses=dog)
    wsd = nlp.get_pipe("ctx_wsd")
    E = wsd.model.ops.to_numpy(wsd.model.get_param("E"))
    assert all(k in wsd._rows and numpy.linalg.norm(E[wsd._rows[k]]) > 0.5 for k in dog)
    doc = Doc(nlp.vocab, words=["the", "dog", "barked"], lemmas=["the", "dog", "bark"], pos=["DET", "NOUN", "VERB"])
    doc.spans["wsd"] = [Span(doc, 1, 2)]
    doc = nlp.get_pipe("ctx_encoder")(doc)
    _, scored, decided = plan_batch([doc], [find_targets(doc, "wsd", wsd.inventory)], wsd.inventory, wsd._rows)
    assert [keys for _, _, keys in scored] == [dog] and not decided


def test_gloss_projection_trains_saves_and_loads(wordnet_path, wsd_corpus, tmp_path):
    """The scorer's gloss projection (with the identity pull): the glosses
    sit apart from E in a fixed table G, the loss falls over a few steps on
    the sample, and a saved pipeline predicts the same after spacy.load.
    The gloss cache is an [initialize] setting, as spacy train passes it."""
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder")
    nlp.add_pipe("ctx_wsd", config={"wordnet_path": wordnet_path, "model": {"gloss_projection": True, "identity_l2": 0.01}})
    nlp.config["initialize"]["components"]["ctx_wsd"] = {"gloss_cache": str(tmp_path / "glosses")}
    train = list(wsd_corpus["train"](nlp))
    optimizer = nlp.initialize(lambda: train)
    assert len(list((tmp_path / "glosses").iterdir())) == 1
    wsd = nlp.get_pipe("ctx_wsd")
    G = wsd.model.ops.to_numpy(wsd.model.get_param("G"))
    numpy.testing.assert_allclose(numpy.linalg.norm(G, axis=1).mean(), 1.0, atol=0.02)  # gloss_weight 1 times unit rows
    Pc0 = wsd.model.ops.to_numpy(wsd.model.get_param("Pc")).copy()
    optimizer.learn_rate = 0.01
    history = []
    for _ in range(8):
        losses = {}
        nlp.update(train, sgd=optimizer, losses=losses)
        history.append(losses["ctx_wsd"])
    assert history[-1] < 0.7 * history[0]
    assert not numpy.allclose(wsd.model.ops.to_numpy(wsd.model.get_param("Pc")), Pc0)
    numpy.testing.assert_array_equal(wsd.model.ops.to_numpy(wsd.model.get_param("G")), G)

    nlp.to_disk(tmp_path / "wsd")
    loaded = spacy.load(tmp_path / "wsd")
    assert loaded.get_pipe("ctx_wsd").model.attrs["gloss_projection"] is True
    for name in ("Pc", "Pg", "G", "W"):
        numpy.testing.assert_array_equal(
            loaded.get_pipe("ctx_wsd").model.get_param(name), wsd.model.get_param(name)
        )
    docs1, _ = dev_docs(nlp, wsd_corpus)
    docs2, _ = dev_docs(loaded, wsd_corpus)
    assert [s.label_ for d in docs1 for s in d.spans["wsd"]] == [s.label_ for d in docs2 for s in d.spans["wsd"]]
    numpy.testing.assert_allclose(
        [t._.sense_score for d in docs1 for t in d if t._.sense], [t._.sense_score for d in docs2 for t in d if t._.sense],
        rtol=1e-5,
    )
