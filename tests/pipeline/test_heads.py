"""NER and tagger heads on contextual layers: corpus samples, configs, `spacy train`, and listeners without an encoder.

The training runs go through spaCy's own training code; a listener without a ctx_encoder to listen to is an error."""
from pathlib import Path
from typing import Dict, List

import pytest
import spacy
from spacy.cli.evaluate import evaluate as spacy_evaluate
from spacy.cli.train import train as spacy_train
from spacy.tokens import DocBin
from spacy.training import Corpus
from spacy.util import load_model_from_config, registry
from thinc.api import Config

from ..util import ROOT

CORPUS = ROOT / "corpus"
CONFIGS = ROOT / "configs"

LOGGED: List[Dict[str, float]] = []


@registry.loggers("spacy_ctx_test.loss_recorder.v1")
def make_loss_recorder():
    """A spacy train logger that keeps the losses of every evaluation window."""

    def setup(nlp, stdout=None, stderr=None):
        def log_step(info):
            if info is not None:
                LOGGED.append(dict(info["losses"]))

        return log_step, lambda: None

    return setup


def _train(config: str, output: Path, head: str, steps: int = 30, every: int = 10):
    """Run spacy.cli.train.train for `steps` steps, with the paths relative to
    the repository root as on a fresh checkout."""
    LOGGED.clear()
    overrides = {
        "paths.train": str(CORPUS / f"{head}-train.spacy"),
        "paths.dev": str(CORPUS / f"{head}-dev.spacy"),
        "training.max_steps": steps,
        "training.max_epochs": 0,
        "training.eval_frequency": every,
        "training.logger": {"@loggers": "spacy_ctx_test.loss_recorder.v1"},
    }
    spacy_train(CONFIGS / config, output, overrides=overrides, use_gpu=-1)
    return list(LOGGED)


def test_corpus_samples_are_annotated():
    nlp = spacy.blank("en")
    ner = list(DocBin().from_disk(CORPUS / "ner-train.spacy").get_docs(nlp.vocab))
    tagged = list(DocBin().from_disk(CORPUS / "tagger-train.spacy").get_docs(nlp.vocab))
    assert len(ner) >= 40 and len(tagged) >= 40
    assert {ent.label_ for doc in ner for ent in doc.ents} == {"PER", "ORG", "LOC", "MISC"}
    assert all(token.pos_ and token.tag_ for doc in tagged for token in doc)
    # The UPOS is not simply a function of the XPOS: auxiliaries are AUX.
    assert {(t.tag_, t.pos_) for doc in tagged for t in doc} >= {("VBZ", "AUX"), ("VBZ", "VERB")}


def test_configs_are_filled(tmp_path):
    """The configs are complete: `spacy init fill-config` adds nothing."""
    from spacy.cli.init_config import fill_config

    for name in ("ner.cfg", "ner_few_labels.cfg", "tagger.cfg", "wsd.cfg"):
        filled, _ = fill_config(tmp_path / name, CONFIGS / name, silent=True)
        assert filled == Config().from_disk(CONFIGS / name, interpolate=False)
        assert filled["nlp"]["pipeline"][0] == "ctx_encoder"


HEAD_CONFIGS = ["ner.cfg", "ner_few_labels.cfg", "ner_finetune.cfg", "ner_static.cfg", "tagger.cfg", "tagger_static.cfg"]


@pytest.mark.parametrize("name", HEAD_CONFIGS)
def test_head_configs_train_by_updates_with_early_stopping(name):
    """A corpus of a few thousand sentences gets as many updates as CoNLL-2003
    (a schedule by epochs would give it a few hundred), and dev stops the run
    once it stops improving."""
    training = Config().from_disk(CONFIGS / name, interpolate=False)["training"]
    assert training["max_epochs"] == 0 and training["max_steps"] == 3000
    assert 0 < training["patience"] < training["max_steps"]
    assert training["patience"] % training["eval_frequency"] == 0


@pytest.fixture(scope="module")
def trained_ner(tmp_path_factory):
    output = tmp_path_factory.mktemp("ner")
    logged = _train("ner.cfg", output, "ner", steps=80, every=20)
    return output, logged


def test_ner_training_loss_falls(trained_ner):
    _, logged = trained_ner
    # logged[0] is step 0 (one batch); the later windows have 10 steps each.
    losses = [window["ner"] for window in logged[1:]]
    assert len(losses) >= 3
    assert losses[-1] < 0.5 * losses[0]
    # Frozen mode: nothing flows back into the encoder.
    assert all(window["ctx_encoder"] == 0.0 for window in logged)


def test_trained_ner_pipeline_loads_and_annotates(trained_ner):
    output, _ = trained_ner
    nlp = spacy.load(output / "model-last")
    assert nlp.pipe_names == ["ctx_encoder", "ner"]
    doc = nlp("Angela Merkel met Microsoft executives in Berlin on Tuesday .")
    assert doc._.ctx_layers.shape == (7, len(doc), 384)
    assert doc[0]._.ctx_vector.shape == (384,)
    assert {ent.label_ for ent in doc.ents} <= {"PER", "ORG", "LOC", "MISC"}
    # After 80 steps on the training sentences, it finds at least one of them.
    assert {ent.text for ent in doc.ents} & {"Angela Merkel", "Microsoft", "Berlin"}
    scores = spacy_evaluate(str(output / "model-last"), CORPUS / "ner-dev.spacy", silent=True)
    assert {"ents_f", "ents_p", "ents_r", "speed"} <= set(scores)


def test_few_labels_config_is_ner_cfg_with_one_window_layer():
    """ner_few_labels.cfg is ner.cfg but for the head's encode block, so the
    learning curves compare heads, nothing else."""
    shipped = Config().from_disk(CONFIGS / "ner.cfg", interpolate=False)
    few = Config().from_disk(CONFIGS / "ner_few_labels.cfg", interpolate=False)
    encode = few["components"]["ner"]["model"]["tok2vec"].pop("encode")
    del shipped["components"]["ner"]["model"]["tok2vec"]["encode"]
    assert few == shipped
    assert encode["@architectures"] == "spacy.MaxoutWindowEncoder.v2" and encode["depth"] == 1


def test_few_labels_ner_trains(tmp_path):
    logged = _train("ner_few_labels.cfg", tmp_path, "ner", steps=30, every=10)
    losses = [window["ner"] for window in logged[1:]]
    assert losses[-1] < 0.5 * losses[0]
    nlp = spacy.load(tmp_path / "model-last")
    encode = nlp.config["components"]["ner"]["model"]["tok2vec"]["encode"]
    assert encode["@architectures"] == "spacy.MaxoutWindowEncoder.v2"
    doc = nlp("Angela Merkel met Microsoft executives in Berlin on Tuesday .")
    assert doc._.ctx_layers.shape == (7, len(doc), 384)
    assert {ent.label_ for ent in doc.ents} <= {"PER", "ORG", "LOC", "MISC"}


@pytest.mark.slow
def test_tagger_training_and_saved_pipeline(tmp_path):
    logged = _train("tagger.cfg", tmp_path, "tagger", steps=30, every=10)
    first, last = logged[1], logged[-1]
    assert last["tagger"] < 0.5 * first["tagger"]
    assert last["morphologizer"] < 0.5 * first["morphologizer"]
    nlp = spacy.load(tmp_path / "model-last")
    doc = nlp("The cat sat on the mat .")
    assert [t.pos_ for t in doc][:2] == ["DET", "NOUN"]
    assert doc[0].tag_ == "DT"
    assert doc._.ctx_layers is not None


@pytest.mark.slow
def test_fine_tuning_sends_gradients_to_the_encoder(tmp_path):
    output = tmp_path / "ft"
    LOGGED.clear()
    overrides = {
        "paths.train": str(CORPUS / "ner-train.spacy"),
        "paths.dev": str(CORPUS / "ner-dev.spacy"),
        "training.max_steps": 4,
        "training.max_epochs": 0,
        "training.eval_frequency": 2,
        "training.logger": {"@loggers": "spacy_ctx_test.loss_recorder.v1"},
        "components.ner.model.tok2vec.ctx.grad_factor": 1.0,
    }
    spacy_train(CONFIGS / "ner.cfg", output, overrides=overrides, use_gpu=-1)
    assert any(window["ctx_encoder"] > 0.0 for window in LOGGED)


def _ner_config(**changes) -> Config:
    config = Config().from_disk(CONFIGS / "ner.cfg", interpolate=False)
    if changes.get("drop_encoder"):
        config["nlp"]["pipeline"] = ["ner"]
        del config["components"]["ctx_encoder"]
    if "upstream" in changes:
        config["components"]["ner"]["model"]["tok2vec"]["ctx"]["upstream"] = changes["upstream"]
    return config


@pytest.mark.parametrize(
    "changes,named",
    [
        ({"drop_encoder": True}, "'ctx_encoder'"),
        ({"upstream": "tagger"}, "'tagger'"),
        ({"upstream": "ner"}, "'ner'"),
    ],
    ids=["no-encoder", "unknown-upstream", "upstream-not-an-encoder"],
)
def test_listener_without_encoder_fails_at_creation(changes, named):
    # The configs run spacy_ctx.check_listeners.v1 after pipeline creation.
    with pytest.raises(ValueError, match=r"component 'ner'.*spacy-ctx E003.*" + named):
        load_model_from_config(_ner_config(**changes), auto_fill=True, validate=True)


def test_listener_without_encoder_fails_at_initialize_without_the_check():
    config = _ner_config(drop_encoder=True)
    config["nlp"]["after_pipeline_creation"] = None
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    corpus = Corpus(str(CORPUS / "ner-train.spacy"))
    with pytest.raises(ValueError, match=r"spacy-ctx E003"):
        nlp.initialize(lambda: corpus(nlp))
