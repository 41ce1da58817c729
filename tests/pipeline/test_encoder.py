"""ctx_encoder with the real bundled MiniLM, against independent computations."""
import numpy
import pytest
import spacy
from numpy.testing import assert_allclose

from spacy_ctx.errors import SpacyCtxError

from ..reference import reference_layers as pool_reference

TEXTS = [
    "The boat drifted toward the river bank.",
    "I can't believe it's already 5:30pm in São Paulo!",
    "Dr. Smith's co-worker e-mailed  the U.S. office\tyesterday.",
]


def reference_layers(raw_transformer, doc, pooling="mean"):
    """Raw transformers hidden states, pooled to spaCy tokens by char offsets."""
    return pool_reference(*raw_transformer, doc, pooling)


def test_shapes_and_views(nlp):
    doc = nlp("The boat drifted toward the river bank.")
    assert doc._.ctx_layers.shape == (7, 8, 384)
    assert doc._.ctx_layer_ids == list(range(7))
    assert doc[6]._.ctx_layers.shape == (7, 384)
    assert doc[5:7]._.ctx_layers.shape == (7, 2, 384)
    assert_allclose(doc[5:7]._.ctx_layers, doc._.ctx_layers[:, 5:7])
    assert doc[6]._.ctx_vector.shape == (384,)
    assert doc.tensor.shape == (8, 384)
    assert_allclose(doc[6].vector, doc[6]._.ctx_vector)
    assert_allclose(doc[5:7].vector, doc.tensor[5:7].mean(axis=0), rtol=1e-6)
    assert_allclose(doc.vector, doc.tensor.mean(axis=0), rtol=1e-6)
    assert_allclose(doc._.ctx_vector, doc.vector, rtol=1e-6)


def test_default_mix_is_the_top_layer(nlp):
    doc = nlp(TEXTS[0])
    assert_allclose(doc.tensor, doc._.ctx_layers[-1], rtol=1e-6, atol=1e-7)
    everything = spacy.blank("en")
    everything.add_pipe("ctx_encoder", config={"mix": {"layers": None}})
    assert_allclose(everything(TEXTS[0]).tensor, doc._.ctx_layers.mean(axis=0), rtol=1e-5, atol=1e-6)


def cosine(a, b):
    return float(numpy.dot(a, b) / (numpy.linalg.norm(a) * numpy.linalg.norm(b)))


def test_tokens_read_layers_2_and_6_and_docs_the_top_layer(nlp):
    """MiniLM has 6 layers: token-level hooks read the plain mean of layers
    round(6 / 3) = 2 and 6, doc- and span-level ones the top layer."""
    a, b = nlp(TEXTS[0]), nlp("She deposited her salary at the bank on Monday.")
    assert nlp.get_pipe("ctx_encoder").token_layers == [2, 6]
    words = (a._.ctx_layers[2] + a._.ctx_layers[6]) / 2
    bank = (b._.ctx_layers[2, 6] + b._.ctx_layers[6, 6]) / 2
    assert b[6].text == "bank"
    assert_allclose(a._.ctx_token_mix, words, atol=1e-6)
    assert_allclose(a[6].vector, words[6], atol=1e-6)
    assert_allclose(a[6]._.ctx_vector, words[6], atol=1e-6)
    assert a[6].vector_norm == pytest.approx(float(numpy.linalg.norm(words[6])), rel=1e-5)
    assert a[6].has_vector
    assert a[6].similarity(b[6]) == pytest.approx(cosine(words[6], bank), rel=1e-5)
    top = a._.ctx_layers[6]
    assert_allclose(a.tensor, top, atol=1e-6)
    assert_allclose(a.vector, top.mean(axis=0), atol=1e-6)
    assert_allclose(a[5:7].vector, top[5:7].mean(axis=0), atol=1e-6)
    assert a.similarity(b) == pytest.approx(cosine(top.mean(axis=0), b._.ctx_layers[6].mean(axis=0)), rel=1e-5)
    sentence = a[:]
    assert sentence.similarity(b[:]) == pytest.approx(a.similarity(b), rel=1e-5)


def test_token_layers_from_config():
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config={"token_layers": [-1], "mix": {"layers": [0]}})
    doc = nlp(TEXTS[0])
    assert nlp.get_pipe("ctx_encoder").token_layers == [6]
    assert_allclose(doc[6].vector, doc._.ctx_layers[6, 6], atol=1e-6)
    assert_allclose(doc.vector, doc._.ctx_layers[0].mean(axis=0), atol=1e-6)


def test_docs_without_a_token_mix_read_doc_tensor(nlp):
    """Docs annotated before the token mix existed (a DocBin of then) have
    no doc._.ctx_token_mix: token vectors read doc.tensor."""
    doc = nlp(TEXTS[0])
    doc._.ctx_token_mix = None
    assert_allclose(doc[6].vector, doc.tensor[6])
    assert_allclose(doc[6]._.ctx_vector, doc.tensor[6])


@pytest.mark.parametrize("pooling", ["mean", "first", "last", "max"])
def test_layers_match_raw_transformers(raw_transformer, pooling):
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config={"model": {"pooling": pooling}})
    for text in TEXTS:
        doc = nlp(text)
        expected = reference_layers(raw_transformer, doc, pooling)
        assert_allclose(doc._.ctx_layers, expected, atol=1e-4, rtol=0)


def test_batch_equals_single(nlp):
    texts = TEXTS + ["Short.", "A much longer sentence with many more words in it than the others."]
    batched = list(nlp.pipe(texts, batch_size=8))
    for text, doc in zip(texts, batched):
        single = nlp(text)
        assert_allclose(doc._.ctx_layers, single._.ctx_layers, atol=1e-5, rtol=0)
        assert_allclose(doc.tensor, single.tensor, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "text",
    ["", " ", "   \n\t  ", "I love it 😀🎉!", "北京是中国的首都。", "שלום עולם, مرحبا بالعالم",
     "bell\x07 and\x00null \u200b zero-width"],
)
def test_odd_inputs(nlp, text):
    doc = nlp(text)
    assert doc._.ctx_layers.shape == (7, len(doc), 384)
    assert doc.tensor.shape == (len(doc), 384)
    assert numpy.isfinite(doc._.ctx_layers).all()
    for token in doc:
        has_text = any(not c.isspace() and c.isprintable() for c in token.text)
        if token.is_space or not has_text:
            # No wordpiece: a zero vector, not an error.
            assert not token._.ctx_layers.any() or has_text
        else:
            assert token._.ctx_layers.any(), token.text


def test_whitespace_tokens_are_zero(nlp):
    doc = nlp("Hello   \n\n  world")
    space = [t for t in doc if t.is_space]
    assert space and all(not t._.ctx_layers.any() for t in space)
    assert all(t._.ctx_layers.any() for t in doc if not t.is_space)


def test_polysemy(nlp):
    river1 = nlp("The boat drifted toward the river bank.")
    river2 = nlp("We had a picnic on the grassy bank of the stream.")
    money = nlp("She deposited her salary at the bank on Monday.")
    bank = lambda doc: next(t for t in doc if t.text == "bank")
    same = bank(river1).similarity(bank(river2))
    cross = max(bank(river1).similarity(bank(money)), bank(river2).similarity(bank(money)))
    assert same > cross


def test_similarity_is_contextual_even_with_static_vectors():
    nlp = spacy.blank("en")
    for word in ("bank", "river", "money"):
        nlp.vocab.set_vector(word, numpy.ones(4, dtype="f"))
    nlp.add_pipe("ctx_encoder")
    a = nlp("the river bank")
    b = nlp("the bank account")
    assert a[2].vector.shape == (384,)
    assert_allclose(a[2].vector, a._.ctx_token_mix[2])
    # Static vectors would give exactly 1.0 for bank/bank.
    assert a[2].similarity(b[1]) < 0.99
    assert a.similarity(b) == pytest.approx(
        float(numpy.dot(a.vector, b.vector) / (numpy.linalg.norm(a.vector) * numpy.linalg.norm(b.vector))),
        rel=1e-5,
    )


def test_storage_controls():
    nlp = spacy.blank("en")
    # A mix of every layer, to check that it reads layers that are not stored.
    every_layer = {"layers": None}
    nlp.add_pipe("ctx_encoder", config={"store_layers": [0, -1], "store_dtype": "float16", "mix": every_layer})
    full = spacy.blank("en")
    full.add_pipe("ctx_encoder", config={"mix": every_layer})
    text = TEXTS[0]
    doc, ref = nlp(text), full(text)
    assert doc._.ctx_layers.shape == (2, len(doc), 384)
    assert doc._.ctx_layers.dtype == numpy.float16
    assert doc._.ctx_layer_ids == [0, 6]
    assert_allclose(doc._.ctx_layers.astype("f"), ref._.ctx_layers[[0, 6]], atol=2e-2, rtol=1e-2)
    # The mix still uses every layer. They come in float16 too (the encoder
    # writes float16 straight away), and are mixed in float32.
    assert doc.tensor.dtype == numpy.float32
    rounded = ref._.ctx_layers.astype("float16").astype("f")
    assert_allclose(doc.tensor, rounded.mean(axis=0), atol=2e-5)
    assert_allclose(doc.tensor, ref.tensor, atol=2e-3)


def test_inference_mix_from_config():
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config={"mix": {"layers": [-1], "gamma": 2.0}})
    doc = nlp(TEXTS[0])
    assert_allclose(doc.tensor, 2.0 * doc._.ctx_layers[-1], rtol=1e-5, atol=1e-6)


def test_missing_model_dir_fails_at_initialize():
    """Building reads no files (a saved pipeline must load where they are
    gone): a bad name is reported when the model is first loaded."""
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config={"model": {"name": "/no/such/model"}})
    with pytest.raises(SpacyCtxError, match="E001"):
        nlp.initialize()


@pytest.mark.parametrize("config", [{"store_layers": [7]}, {"mix": {"layers": [0, -8]}}, {"token_layers": [2, 7]}])
def test_bad_layer_fails_when_the_encoder_loads(config):
    """The encoder's depth is known once its model is loaded (initialize,
    from_disk or first use), and layer settings are checked then."""
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config=config)
    with pytest.raises(SpacyCtxError, match="E002"):
        nlp.initialize()


@pytest.mark.parametrize(
    "config,match",
    [
        ({"store_dtype": "int8"}, "E005"),
        ({"model": {"pooling": "median"}}, "E004"),
        ({"token_layers": []}, "E016.*components.ctx_encoder.token_layers"),
        ({"mix": {"layers": []}}, "E016.*components.ctx_encoder.mix.layers"),
    ],
)
def test_bad_config_fails_at_creation(config, match):
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match=match):
        nlp.add_pipe("ctx_encoder", config=config)
