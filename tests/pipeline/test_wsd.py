"""The ctx_wsd component, trained on the small samples in corpus/ (needs WordNet)."""
import numpy
import pytest
import spacy
from spacy.tokens import Doc, Span
from spacy.training import Example

from spacy_ctx.senses.corpus import create_wsd_corpus_reader, with_gold_input
from spacy_ctx.senses.scoring import score_wsd

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def wordnet(shared_data):
    return str(shared_data / "wordnet30" / "dict")


@pytest.fixture(scope="module")
def corpus(root):
    return {
        split: create_wsd_corpus_reader(root / "corpus" / f"wsd-{split}.spacy")
        for split in ("train", "dev")
    }


def make_nlp(wordnet):
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder")
    nlp.add_pipe("ctx_wsd", config={"wordnet_path": wordnet})
    return nlp


@pytest.fixture(scope="module")
def trained(wordnet, corpus):
    """A pipeline trained a few steps on corpus/wsd-train, and its losses."""
    nlp = make_nlp(wordnet)
    train = list(corpus["train"](nlp))
    optimizer = nlp.initialize(lambda: train)
    optimizer.learn_rate = 0.01  # a few full-batch steps on 18 sentences
    history = []
    for _ in range(8):
        losses = {}
        nlp.update(train, sgd=optimizer, losses=losses)
        history.append(losses["ctx_wsd"])
    return nlp, history


def dev_docs(nlp, corpus):
    examples = list(corpus["dev"](nlp))
    docs = list(nlp.pipe([eg.predicted for eg in examples]))
    return docs, examples


def test_training_makes_the_loss_fall(trained):
    _, history = trained
    assert history[-1] < 0.7 * history[0]


def test_predictions_are_candidates_of_the_target_lemma(trained, corpus):
    nlp, _ = trained
    inventory = nlp.get_pipe("ctx_wsd").inventory
    docs, examples = dev_docs(nlp, corpus)
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


def test_bank_senses_follow_the_context(trained):
    nlp, _ = trained
    words = ["They", "fished", "from", "the", "bank", "of", "the", "river", "."]
    money = ["She", "put", "her", "money", "in", "the", "bank", "."]
    senses = []
    for ws, i in ((words, 4), (money, 6)):
        doc = Doc(nlp.vocab, words=ws, pos=["NOUN" if w == "bank" else "X" for w in ws],
                  lemmas=[w.lower() for w in ws])
        doc.spans["wsd"] = [Span(doc, i, i + 1)]
        senses.append(nlp(doc)[i]._.sense)
    assert senses == ["bank%1:17:01::", "bank%1:14:00::"]


def test_save_load_gives_identical_predictions(trained, corpus, tmp_path):
    nlp, _ = trained
    nlp.to_disk(tmp_path / "wsd")
    loaded = spacy.load(tmp_path / "wsd")
    docs1, _ = dev_docs(nlp, corpus)
    docs2, _ = dev_docs(loaded, corpus)
    for d1, d2 in zip(docs1, docs2):
        assert [(s.id_, s.label_) for s in d1.spans["wsd"]] == [(s.id_, s.label_) for s in d2.spans["wsd"]]
        s1 = [t._.sense_score for t in d1 if t._.sense]
        s2 = [t._.sense_score for t in d2 if t._.sense]
        numpy.testing.assert_allclose(s1, s2, rtol=1e-5)


def test_bad_input_no_lemma_no_candidates_empty_doc(trained):
    nlp, _ = trained
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


def test_plain_text_targets_content_words(trained):
    nlp, _ = trained
    doc = nlp("The plant by the river closed.")
    targets = {s.text for s in doc.spans["wsd"]}
    assert {"plant", "river"} <= targets and "The" not in targets and "by" not in targets


def test_unseen_lemma_falls_back_to_the_most_frequent_sense(trained):
    nlp, _ = trained
    wsd = nlp.get_pipe("ctx_wsd")
    doc = Doc(nlp.vocab, words=["a", "dog"], lemmas=["a", "dog"], pos=["DET", "NOUN"])
    doc.spans["wsd"] = [Span(doc, 1, 2)]
    assert "dog%1:05:00::" not in wsd.senses
    assert nlp(doc)[1]._.sense == wsd.inventory.candidates("dog", "NOUN")[0] == "dog%1:05:00::"


def test_initialize_errors(trained, corpus, tmp_path):
    nlp, _ = trained
    bad = nlp.add_pipe("ctx_wsd", name="bad_wsd", config={"wordnet_path": str(tmp_path)})
    try:
        train = list(corpus["train"](nlp))
        with pytest.raises(ValueError, match="E101"):
            bad.initialize(lambda: train, nlp=nlp)
        plain = [Example(Doc(nlp.vocab, words=["no", "senses"]), Doc(nlp.vocab, words=["no", "senses"]))]
        bad._inventory = nlp.get_pipe("ctx_wsd").inventory  # a good one, loaded once
        with pytest.raises(ValueError, match="E102"):
            bad.initialize(lambda: plain, nlp=nlp)
    finally:
        nlp.remove_pipe("bad_wsd")


def test_corpus_reader_gives_gold_input_without_senses(trained, corpus):
    nlp, _ = trained
    eg = next(iter(corpus["train"](nlp)))
    assert [t.lemma_ for t in eg.predicted] == [t.lemma_ for t in eg.reference]
    assert all(s.label_ == "" and s.id_ for s in eg.predicted.spans["wsd"])
    assert {s.id_ for s in eg.predicted.spans["wsd"]} == {s.id_ for s in eg.reference.spans["wsd"]}
    assert with_gold_input(eg.reference).text == eg.reference.text


def test_gloss_embeddings_enter_the_sense_table(trained, corpus, wordnet):
    nlp, _ = trained
    wsd = nlp.get_pipe("ctx_wsd")
    inventory = wsd.inventory
    G = wsd._gloss_table(nlp, inventory)
    keys = wsd.senses
    assert G.shape == (len(keys), 384)
    # Unit rows; a key nltk cannot resolve has no gloss and a zero row.
    no_gloss = numpy.asarray([inventory.gloss_text(k) == "" for k in keys])
    numpy.testing.assert_allclose(numpy.linalg.norm(G, axis=1), numpy.where(no_gloss, 0.0, 1.0), atol=1e-5)
    assert no_gloss.mean() < 0.01
    # Independent computation for one sense: encode its gloss text with the
    # pipeline and average the listener's mix (uniform over the last 4 layers).
    key = keys[0]
    text = inventory.gloss_text(key)
    assert text.startswith(inventory.synset(key).lemmas()[0].name().replace("_", " "))
    assert inventory.synset(key).definition() in text
    layers = nlp.get_pipe("ctx_encoder")(nlp.make_doc(text))._.ctx_layers
    mix = wsd.model.get_ref("tok2vec").get_ref("mix")
    weights = numpy.exp(mix.get_param("weights")) / numpy.exp(mix.get_param("weights")).sum()
    expected = (layers[-4:] * weights[:, None, None]).sum(axis=0).mean(axis=0) * mix.get_param("gamma")[0]
    numpy.testing.assert_allclose(G[0], expected / numpy.linalg.norm(expected), atol=1e-4)
    # Two keys of one synset (car / auto) share one gloss embedding.
    car, auto = "car%1:06:00::", "auto%1:06:00::"
    assert inventory.gloss_text(car) == inventory.gloss_text(auto)


def test_gloss_weight_errors(wordnet, corpus):
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match="E106"):
        nlp.add_pipe("ctx_wsd", config={"wordnet_path": wordnet, "gloss_weight": -1.0})
    nlp = make_nlp(wordnet)
    train = list(corpus["train"](nlp))
    wsd = nlp.get_pipe("ctx_wsd")
    nlp.get_pipe("ctx_encoder").initialize(lambda: train, nlp=nlp)
    # Without the pipeline, the glosses cannot be encoded: a clear error.
    with pytest.raises(ValueError, match="E105"):
        wsd.initialize(lambda: train)


def test_spacy_train_runs_the_wsd_config(root, wordnet, tmp_path):
    """configs/wsd.cfg through spaCy's own training loop, then spacy.load."""
    import srsly
    from spacy.cli.train import train as spacy_train

    overrides = {
        "paths.train": str(root / "corpus" / "wsd-train.spacy"),
        "paths.dev": str(root / "corpus" / "wsd-dev.spacy"),
        "paths.wordnet": wordnet,
        "training.max_steps": 10,
        "training.max_epochs": 0,
        "training.eval_frequency": 5,
    }
    spacy_train(root / "configs" / "wsd.cfg", tmp_path, overrides=overrides, use_gpu=-1)
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


def test_predict_wsd_cli_writes_framework_keys(trained, corpus, root, tmp_path):
    from typer.testing import CliRunner

    from spacy_ctx.cli import app
    from spacy_ctx.senses.raganato import read_gold_keys
    from spacy_ctx.senses.scoring import score_keys

    nlp, _ = trained
    nlp.to_disk(tmp_path / "wsd")
    data = root / "corpus" / "wsd-dev.data.xml"
    result = CliRunner().invoke(app, ["predict-wsd", str(tmp_path / "wsd"), str(data)])
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.stdout.strip().splitlines()]
    assert lines and all(len(parts) == 2 for parts in lines)
    predicted = dict(lines)
    gold = read_gold_keys(root / "corpus" / "wsd-dev.gold.key.txt")
    assert set(predicted) <= set(gold)
    # Each key is a candidate of its instance's lemma and POS.
    wsd = nlp.get_pipe("ctx_wsd")
    assert all(key in wsd.candidates(lemma, pos) for lemma, pos, key in _lemma_keys(data, predicted))
    # The key file scores as the in-pipeline scorer does on the same data.
    docs, examples = dev_docs(nlp, corpus)
    in_pipeline = score_wsd([Example(d, eg.reference) for d, eg in zip(docs, examples)])
    assert score_keys(gold, predicted)["f"] == pytest.approx(in_pipeline["wsd_f"], abs=1e-6)


def _lemma_keys(data, predicted):
    from spacy_ctx.senses.raganato import read_raganato

    for sent in read_raganato(data):
        for inst in sent.instances:
            if inst.id in predicted:
                yield inst.lemma, inst.pos, predicted[inst.id]
