"""The ELMo encoder (spacy_ctx.ELMoEncoder.v1): shapes, directions, gradients, and pretrained weights."""
import numpy
import pytest
import spacy
from spacy.tokens import Doc
from spacy.util import registry

from spacy_ctx.errors import SpacyCtxError

from ..util import TINY_ELMO

pytestmark = pytest.mark.usefixtures("one_thread")

WIDTH = 2 * TINY_ELMO["projection_dim"]


def make_encoder(**overrides):
    return registry.architectures.get("spacy_ctx.ELMoEncoder.v1")(**{**TINY_ELMO, **overrides})


def make_nlp(**overrides):
    nlp = spacy.blank("en")
    model = {"@architectures": "spacy_ctx.ELMoEncoder.v1", **TINY_ELMO, **overrides}
    nlp.add_pipe("ctx_encoder", config={"model": model})
    return nlp


def test_shapes_and_layer_count():
    nlp = make_nlp()
    encoder = nlp.get_pipe("ctx_encoder")
    assert encoder.model.attrs["n_layers"] == 3
    assert encoder.model.get_dim("nO") == WIDTH
    doc = nlp("ELMo reads characters, not word pieces.")
    assert doc._.ctx_layers.shape == (3, len(doc), WIDTH)
    assert doc.tensor.shape == (len(doc), WIDTH)
    assert doc[1]._.ctx_layers.shape == (3, WIDTH)
    # Layer 0 is the char-CNN vector, repeated to the biLSTM width.
    layer0 = doc._.ctx_layers[0]
    numpy.testing.assert_array_equal(layer0[:, : WIDTH // 2], layer0[:, WIDTH // 2 :])
    assert not numpy.allclose(doc._.ctx_layers[1], doc._.ctx_layers[2])


def test_empty_doc_and_batching_do_not_change_vectors():
    nlp = make_nlp()
    alone = nlp("A short doc .")
    docs = list(nlp.pipe(["", "A short doc .", "A much longer doc " + "x" * 300 + " with more words ."]))
    assert docs[0]._.ctx_layers.shape == (3, 0, WIDTH)
    numpy.testing.assert_allclose(docs[1]._.ctx_layers, alone._.ctx_layers, atol=1e-5)


def test_forward_and_backward_directions_see_one_side():
    nlp = make_nlp()
    half = WIDTH // 2
    a = nlp.make_doc("one two three four")
    b = nlp.make_doc("one two three five")
    encoder = nlp.get_pipe("ctx_encoder")
    la, lb = [encoder.model.ops.to_numpy(x) for x in encoder.predict([a, b])]
    for layer in (1, 2):
        # The forward LSTM at "one" has not seen the last word yet...
        numpy.testing.assert_allclose(la[layer, 0, :half], lb[layer, 0, :half], atol=1e-6)
        # ...the backward LSTM at "one" has.
        assert not numpy.allclose(la[layer, 0, half:], lb[layer, 0, half:], atol=1e-6)
    # The char-CNN layer is context-free.
    numpy.testing.assert_array_equal(la[0, :3], lb[0, :3])


def test_unicode_and_very_long_token():
    nlp = make_nlp()
    long_b = "a" * 5000 + "b"
    long_c = "a" * 5000 + "c"
    words = ["naïve", "日本語", "😀", long_b, "e\u0301", "مرحبا", "👩\u200d👩\u200d👧"]
    doc = Doc(nlp.vocab, words=words)
    layers = nlp.get_pipe("ctx_encoder").predict([doc, Doc(nlp.vocab, words=[long_c])])
    assert layers[0].shape == (3, len(words), WIDTH)
    assert numpy.isfinite(layers[0]).all()
    # Nothing is truncated: the 5,001st character changes the word vector.
    assert not numpy.allclose(layers[0][0, 3], layers[1][0, 0])


def test_gradients_flow_to_every_part():
    model = make_encoder()
    nlp = spacy.blank("en")
    docs = [nlp("Gradients reach the characters ."), nlp("And the LSTMs .")]
    outputs, backprop = model.begin_update(docs)
    backprop([numpy.ones_like(y) for y in outputs])
    module = model.layers[0].shims[0]._model
    parts = {
        "char embeddings": module.char_cnn.embed.weight,
        "convolution": module.char_cnn.convs[0].weight,
        "highway": module.char_cnn.highway.layers[0].weight,
        "projection": module.char_cnn.projection.weight,
        "forward LSTM 2": module.bilstm.forward_layers[1].weight_hh_l0,
        "backward LSTM 2": module.bilstm.backward_layers[1].weight_hh_l0,
    }
    for name, param in parts.items():
        assert param.grad is not None and float(param.grad.abs().sum()) > 0, name


def test_pretrained_weights_load_through_config(pretrained_elmo):
    _, output, _ = pretrained_elmo
    random_doc = make_nlp()("the cat sat on the log .")
    nlp = make_nlp(weights=str(output))
    doc = nlp("the cat sat on the log .")
    again = make_nlp(weights=str(output / "elmo.pt"))("the cat sat on the log .")
    numpy.testing.assert_array_equal(doc._.ctx_layers, again._.ctx_layers)
    assert not numpy.allclose(doc._.ctx_layers, random_doc._.ctx_layers)


def test_weights_errors(pretrained_elmo, tmp_path):
    _, output, _ = pretrained_elmo
    # Weights are read when the model is initialised, not when it is built.
    missing = make_encoder(weights=str(tmp_path / "missing"))
    with pytest.raises(SpacyCtxError, match="E401"):
        missing.initialize()
    with pytest.raises(SpacyCtxError, match="E402"):
        make_encoder(weights=str(output), hidden_size=32).initialize()


def test_save_and_load_give_identical_vectors(pretrained_elmo, tmp_path):
    _, output, _ = pretrained_elmo
    nlp = make_nlp(weights=str(output))
    texts = ["the dog saw the cat .", "Ünïcödé 😀 tokens work too ."]
    expected = [doc._.ctx_layers for doc in nlp.pipe(texts)]
    nlp.to_disk(tmp_path / "pipeline")
    # Loaded weights come from the saved pipeline, not from the weights file.
    loaded = spacy.load(
        tmp_path / "pipeline",
        config={"components": {"ctx_encoder": {"model": {"weights": None}}}},
    )
    for doc, layers in zip(loaded.pipe(texts), expected):
        numpy.testing.assert_array_equal(doc._.ctx_layers, layers)
        # The default inference mix: the top layer.
        numpy.testing.assert_allclose(doc.tensor, layers[-1], rtol=1e-5, atol=1e-6)
