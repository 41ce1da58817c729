"""spacy_ctx.CtxListener.v1 inside real spaCy heads."""
import contextlib

import numpy
import pytest
import spacy
from spacy.training import Example
from thinc.api import Adam, Model, fix_random_seed

from spacy_ctx.errors import SpacyCtxError

from ..util import TAGGER_TRAIN, tagger_config, tagger_examples


def _train(nlp, n_steps=12, learn_rate=0.01, *, initialized=False):
    fix_random_seed(0)
    examples = tagger_examples(nlp)
    if not initialized:
        nlp.initialize(lambda: examples)
    optimizer = Adam(learn_rate)
    losses = []
    for _ in range(n_steps):
        step = {}
        nlp.update(examples, sgd=optimizer, losses=step)
        losses.append(step["tagger"])
    return losses


def _encoder_weights(nlp) -> bytes:
    return nlp.get_pipe("ctx_encoder").model.to_bytes()


def test_fine_tuning_trains_head_and_encoder():
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder")
    nlp.add_pipe("tagger", config=tagger_config(grad_factor=1.0, projection=32))
    nlp.initialize(lambda: tagger_examples(nlp))
    before = _encoder_weights(nlp)
    losses = _train(nlp, n_steps=8, learn_rate=0.002, initialized=True)
    assert losses[-1] < losses[0]
    assert _encoder_weights(nlp) != before
    doc = nlp("The dog sat on the park .")
    assert doc._.ctx_layers.shape == (7, 7, 384)
    assert all(t.tag_ for t in doc)
    # nlp.pipe (other batching) gives the same tags as nlp()
    piped = list(nlp.pipe(["I like long books .", "The dog sat on the park ."], batch_size=1))
    assert [t.tag_ for t in piped[1]] == [t.tag_ for t in doc]


def test_frozen_features_keep_encoder_fixed_and_cache_outputs():
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder")
    nlp.add_pipe("tagger", config=tagger_config(grad_factor=0.0))
    nlp.initialize(lambda: tagger_examples(nlp))
    before = _encoder_weights(nlp)
    losses = _train(nlp, initialized=True)
    assert losses[-1] < losses[0] * 0.5
    doc = nlp("The dog sat on the park .")
    assert [t.tag_ for t in doc][:3] == ["DET", "NOUN", "VERB"]
    assert _encoder_weights(nlp) == before
    encoder = nlp.get_pipe("ctx_encoder")
    # One cached encoding per training doc, reused on every later epoch:
    # another update leaves the cache as it is, and the encoder is not run.
    info = encoder.frozen_cache.info()
    assert info["docs"] == len(TAGGER_TRAIN)
    with encoder_calls(encoder) as calls:
        nlp.update(tagger_examples(nlp), sgd=nlp.create_optimizer())
        assert calls == []
        assert encoder.frozen_cache.info() == info
        encoder.frozen_cache.clear()
        assert encoder.frozen_cache.info()["docs"] == 0
        nlp.update(tagger_examples(nlp), sgd=nlp.create_optimizer())
        assert calls == [len(TAGGER_TRAIN)]


@contextlib.contextmanager
def encoder_calls(encoder):
    """The batch sizes the encoder's model predicts on inside the block."""
    calls = []
    original = Model.predict

    def spy(model, X):
        if model is encoder.model:
            docs = X[0] if isinstance(X, tuple) else X  # (docs, LayerRequest)
            calls.append(len(docs))
        return original(model, X)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Model, "predict", spy)
        yield calls


def test_shared_cache_encodes_each_doc_once_across_pipelines():
    store = {}
    encoders = []
    for _ in range(2):
        nlp = spacy.blank("en")
        nlp.add_pipe("ctx_encoder")
        nlp.add_pipe("tagger", config=tagger_config(grad_factor=0.0))
        nlp.initialize(lambda: tagger_examples(nlp))
        encoder = nlp.get_pipe("ctx_encoder")
        encoder.frozen_cache.share(store)
        encoders.append(encoder)
        with encoder_calls(encoder) as calls:
            nlp.update(tagger_examples(nlp), sgd=nlp.create_optimizer())
        # The first pipeline fills the store; the second finds every doc there.
        assert calls == ([len(TAGGER_TRAIN)] if len(encoders) == 1 else [])
    assert len(store) == len(TAGGER_TRAIN)
    assert encoders[0].frozen_cache.info() == encoders[1].frozen_cache.info()


def test_each_head_learns_its_own_mix():
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder")
    nlp.add_pipe("tagger", config=tagger_config(grad_factor=0.0))
    nlp.add_pipe(
        "tagger", name="tagger2", config=tagger_config(grad_factor=0.0, layers=[1, 2, 3])
    )
    examples = tagger_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(5):
        nlp.update(examples, sgd=optimizer)
    encoder = nlp.get_pipe("ctx_encoder")
    assert encoder.listening_components == ["tagger", "tagger2"]
    mix1 = nlp.get_pipe("tagger").model.get_ref("tok2vec").get_ref("mix")
    mix2 = nlp.get_pipe("tagger2").model.get_ref("tok2vec").get_ref("mix")
    assert mix1.get_param("weights").shape == (7,)
    assert mix2.get_param("weights").shape == (3,)
    # Both moved away from the uniform start.
    assert numpy.abs(mix1.get_param("weights")).sum() > 0
    assert numpy.abs(mix2.get_param("weights")).sum() > 0


def test_listener_without_encoder_fails_clearly():
    nlp = spacy.blank("en")
    nlp.add_pipe("tagger", config=tagger_config())
    examples = tagger_examples(nlp)
    with pytest.raises(ValueError, match="E003"):
        nlp.initialize(lambda: examples)


def test_listener_upstream_name_must_match():
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder")
    nlp.add_pipe("tagger", config=tagger_config(upstream="no_such_encoder"))
    assert nlp.get_pipe("ctx_encoder").listening_components == []
    with pytest.raises(ValueError, match="E003"):
        nlp.initialize(lambda: tagger_examples(nlp))


def test_listener_layer_out_of_range_fails_when_the_encoder_loads():
    # Building reads no model files, so the encoder's depth is known once it
    # loads: at nlp.initialize() (or first use), before any training step.
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder")
    nlp.add_pipe("tagger", config=tagger_config(layers=[0, 9]))
    with pytest.raises(SpacyCtxError, match="E002"):
        nlp.initialize(lambda: tagger_examples(nlp))


def test_listener_layer_not_stored_fails_when_the_encoder_loads():
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config={"store_layers": [-1]})
    nlp.add_pipe("tagger", config=tagger_config(layers=[0]))
    with pytest.raises(SpacyCtxError, match="E006"):
        nlp.initialize(lambda: tagger_examples(nlp))


def test_listener_added_to_a_loaded_encoder_fails_at_once():
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config={"store_layers": [-1]})
    nlp("Load the encoder.")
    with pytest.raises(SpacyCtxError, match="E006"):
        nlp.add_pipe("tagger", config=tagger_config(layers=[0]))


def test_listener_reads_float16_storage():
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config={"store_layers": [4, 5, 6], "store_dtype": "float16"})
    nlp.add_pipe("tagger", config=tagger_config(layers=[4, 5, 6], grad_factor=0.0))
    _train(nlp, n_steps=15)
    doc = nlp("The cat sat on the mat .")
    assert [t.tag_ for t in doc] == TAGGER_TRAIN[0][1].split()
    # The frozen cache holds only the mixed layers, in the storage dtype.
    info = nlp.get_pipe("ctx_encoder").frozen_cache.info()
    n_tokens = sum(len(words.split()) for words, _ in TAGGER_TRAIN)
    assert info["docs"] == len(TAGGER_TRAIN) and info["layers"] == [4, 5, 6]
    assert info["dtype"] == "float16" and info["nbytes"] == 3 * n_tokens * 384 * 2


LISTENER = {"@architectures": "spacy_ctx.CtxListener.v1", "grad_factor": 0.0}
# Two sentences the heads must tell apart: the same frame, different content.
OTHER_HEADS_TEXTS = ["The cat sat on the mat .", "The bank raised its interest rates ."]


def _textcat_fits(nlp, trained):
    """Untrained, the zero-initialised softmax says 0.5 for both labels;
    trained, each sentence gets its own label with confidence."""
    cats = [nlp(text).cats for text in OTHER_HEADS_TEXTS]
    if not trained:
        return all(max(c.values()) < 0.6 for c in cats)
    return cats[0]["ANIMAL"] > 0.9 and cats[1]["OTHER"] > 0.9


def _spancat_fits(nlp, trained):
    """Trained, the predicted span group is exactly the gold one: "The cat"
    in the first sentence, nothing in the second. Untrained, it is not."""
    docs = [nlp(text) for text in OTHER_HEADS_TEXTS]
    spans = [[(s.start, s.end, s.label_) for s in doc.spans["sc"]] for doc in docs]
    return (spans == [[(0, 2, "THING")], []]) == trained


@pytest.mark.parametrize(
    "factory,model,annotations,fits",
    [
        (
            "textcat",
            {"@architectures": "spacy.TextCatCNN.v2", "exclusive_classes": True, "nO": None, "tok2vec": LISTENER},
            [{"cats": {"ANIMAL": 1.0, "OTHER": 0.0}}, {"cats": {"ANIMAL": 0.0, "OTHER": 1.0}}],
            _textcat_fits,
        ),
        (
            "spancat",
            {"@architectures": "spacy.SpanCategorizer.v1",
             "reducer": {"@layers": "spacy.mean_max_reducer.v1", "hidden_size": 16},
             "scorer": {"@layers": "spacy.LinearLogistic.v1", "nO": None, "nI": None},
             "tok2vec": LISTENER},
            [{"spans": {"sc": [(0, 7, "THING")]}}, {"spans": {"sc": []}}],
            _spancat_fits,
        ),
    ],
    ids=["textcat", "spancat"],
)
def test_listener_serves_other_heads(factory, model, annotations, fits):
    """textcat and spancat learn through the listener: after initialize they
    do not fit their two examples, after training they do."""
    fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder")
    nlp.add_pipe(factory, config={"model": model})
    examples = [
        Example.from_dict(nlp.make_doc(text), gold) for text, gold in zip(OTHER_HEADS_TEXTS, annotations)
    ]
    optimizer = nlp.initialize(lambda: examples)
    assert nlp.get_pipe("ctx_encoder").listening_components == [factory]
    assert fits(nlp, trained=False)
    losses = []
    for _ in range(30):
        step = {}
        nlp.update(examples, sgd=optimizer, losses=step)
        losses.append(step[factory])
    assert losses[-1] < losses[0] / 4
    assert fits(nlp, trained=True)
