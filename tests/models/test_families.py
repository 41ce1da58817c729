"""The transformer encoder on every tokenizer and architecture family, with tiny models, against raw transformers."""
import contextlib
import functools

import numpy
import pytest
import spacy
from torch import nn

from spacy_ctx.errors import SpacyCtxError
from spacy_ctx.models.hf_loading import usable_length
from spacy_ctx.models.pytorch.packed import packable
from spacy_ctx.models.types import LayerRequest
from spacy_ctx.testing import FAMILY, FAMILY_NAMES, sentences
from spacy_ctx.tokenization.wordpieces import special_tokens

from ..reference import load_reference, reference_layers
from ..util import assert_allclose, gpu_ops, needs_gpu

pytestmark = pytest.mark.usefixtures("one_thread")

TEXTS = [
    "The boat drifted toward the river bank.",
    "I can't believe it's already 5:30pm in São Paulo!",
    "Dr. Smith's co-worker e-mailed the U.S. office yesterday.",
]
ODD_TEXTS = [
    "I love it 😀🎉! 👩‍👩‍👧 family",
    "北京是中国的首都。東京も大きい",
    "cafe\u0301 nai\u0308ve Zoë Ångström",
    "tabs\tand\t\truns   of     spaces\n\nhere",
    "see https://example.com/a/b?x=1&y=two#frag or www.spacy.io",
    "bell\x07 and zero\u200bwidth",
]
HUGE_TOKEN = "Supercalifragilistic" * 250  # 5,000 characters, one spaCy token


@pytest.fixture(scope="module")
def nlp():
    return spacy.blank("en")


@functools.lru_cache(maxsize=None)
def make_encoder(directory, **settings):
    """Build and initialize the architecture the usual way: by its registered
    name, with `name` set to the model directory."""
    build = spacy.registry.architectures.get("spacy_ctx.TransformerEncoder.v1")
    model = build(name=str(directory), **settings)
    model.initialize()
    return model


reference = functools.lru_cache(maxsize=None)(load_reference)


@contextlib.contextmanager
def watch_inputs(model):
    """Record, for every embedding table of the loaded transformer, the
    largest index it was asked for, and the [batch, seq_len] shapes of the
    transformer's input ids."""
    transformer = model.layers[0].shims[0].encoder.transformer
    seen = {"shapes": [], "overflow": []}

    def check_index(module, args):
        (ids,) = args[:1]
        if ids.numel() and int(ids.max()) >= module.num_embeddings:
            seen["overflow"].append((module, int(ids.max())))

    def record_shape(module, args, kwargs):
        ids = kwargs["input_ids"] if "input_ids" in kwargs else args[0]
        seen["shapes"].append(tuple(ids.shape))

    handles = [
        m.register_forward_pre_hook(check_index)
        for m in transformer.modules()
        if isinstance(m, nn.Embedding)
    ]
    # On the model's own forward: some models (ModernBERT on CUDA) reach
    # their embedding table by a path that bypasses module hooks. A packed
    # forward (BERT-style families) calls the embeddings, not the model.
    entry = transformer.embeddings if packable(transformer) else transformer
    handles.append(entry.register_forward_pre_hook(record_shape, with_kwargs=True))
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


def assert_word_vectors(doc, layers):
    assert layers.shape[1] == len(doc)
    assert numpy.isfinite(layers).all()
    for token in doc:
        if any(c.isalnum() for c in token.text):
            assert numpy.abs(layers[:, token.i]).sum() > 0, token.text


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_every_layer_matches_raw_transformers(tiny_model, nlp, family):
    directory = tiny_model(family)
    tokenizer, transformer = reference(directory)
    docs = [nlp(text) for text in TEXTS]
    for pooling in ("mean", "first", "last", "max"):
        model = make_encoder(directory, pooling=pooling)
        outputs = model.predict(docs)
        for doc, layers in zip(docs, outputs):
            expected = reference_layers(tokenizer, transformer, doc, pooling)
            assert layers.shape == expected.shape == (3, len(doc), 32)
            assert_allclose(layers, expected, atol=1e-4, rtol=0)
    assert model.attrs["n_layers"] == 3 and model.get_dim("nO") == 32


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_fewer_layers_in_float16_match_raw_transformers(tiny_model, nlp, family):
    # Asking for layers 0-1 of 0-2 stops the forward pass after hidden layer
    # 1 where that is exact for the family, and computes all of it where
    # not (a final norm on the last state): the values are right either way.
    directory = tiny_model(family)
    tokenizer, transformer = reference(directory)
    docs = [nlp(text) for text in TEXTS]
    model = make_encoder(directory)
    outputs = model.predict((docs, LayerRequest((1, 0), "float16")))
    for doc, layers in zip(docs, outputs):
        expected = reference_layers(tokenizer, transformer, doc, "mean")
        assert layers.shape == (2, len(doc), 32) and layers.dtype == numpy.float16
        assert_allclose(layers.astype("f"), expected[[1, 0]], atol=2e-3, rtol=2e-3)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_odd_text_matches_raw_transformers(tiny_model, nlp, family):
    directory = tiny_model(family)
    tokenizer, transformer = reference(directory)
    model = make_encoder(directory)
    docs = [nlp(text) for text in ODD_TEXTS]
    for doc, layers in zip(docs, model.predict(docs)):
        # Each fits one window, so the reference sees the same context.
        assert len(tokenizer(doc.text)["input_ids"]) <= FAMILY[family].limit
        assert_allclose(layers, reference_layers(tokenizer, transformer, doc), atol=1e-4, rtol=0)
        assert_word_vectors(doc, layers)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_usable_length(tiny_model, family):
    """The helper finds what positions and tokenizer allow: RoBERTa-style
    tables less their padding offset, rotary and relative models by their
    stated maximum, whichever of model and tokenizer is smaller."""
    tokenizer, transformer = reference(tiny_model(family))
    assert usable_length(transformer, tokenizer) == FAMILY[family].limit


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_long_doc_windows_fit_the_model(tiny_model, nlp, family):
    """A doc of many windows: every window uses the full usable length and
    never more (a RoBERTa model whose tokenizer sets no maximum used to index
    past its position table), and every word gets a finite vector."""
    limit = FAMILY[family].limit
    model = make_encoder(directory := tiny_model(family))
    tokenizer = reference(directory)[0]
    doc = nlp(" ".join(sentences(60, seed=1)))
    with watch_inputs(model) as seen:
        (layers,) = model.predict([doc])
    prefix, suffix = special_tokens(tokenizer)
    assert model.attrs["max_window"] == limit - len(prefix) - len(suffix)
    assert not seen["overflow"]
    assert max(seq for _, seq in seen["shapes"]) == limit
    assert sum(rows for rows, _ in seen["shapes"]) >= 5
    assert_word_vectors(doc, layers)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_small_window_setting(tiny_model, nlp, family):
    """`window` caps the window below the model maximum; words near the cuts
    still get vectors, and each window reads at most window + specials."""
    model = make_encoder(directory := tiny_model(family), window=8, stride=5)
    n_special = sum(map(len, special_tokens(reference(directory)[0])))
    doc = nlp(" ".join(sentences(4, seed=2)))
    with watch_inputs(model) as seen:
        (layers,) = model.predict([doc])
    assert max(seq for _, seq in seen["shapes"]) == 8 + n_special
    assert sum(rows for rows, _ in seen["shapes"]) >= 5
    assert_word_vectors(doc, layers)


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_5000_character_token(tiny_model, nlp, family):
    model = make_encoder(tiny_model(family))
    doc = nlp(f"We saw {HUGE_TOKEN} there.")
    assert len(doc[2].text) == 5000
    with watch_inputs(model) as seen:
        (layers,) = model.predict([doc])
    assert not seen["overflow"]
    assert max(seq for _, seq in seen["shapes"]) <= FAMILY[family].limit
    assert_word_vectors(doc, layers)


def test_batch_equals_single(tiny_model, nlp):
    """Padding and length-sorted batching change nothing (RoBERTa positions
    are counted from the padding id, so this is the family to check)."""
    model = make_encoder(tiny_model("roberta"), max_batch_items=256)
    docs = [nlp(text) for text in TEXTS + ODD_TEXTS + [" ".join(sentences(8, seed=3))]]
    batched = model.predict(docs)
    for doc, layers in zip(docs, batched):
        assert_allclose(layers, model.predict([doc])[0], atol=1e-5, rtol=0)


@needs_gpu
@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_gpu_matches_cpu(tiny_model, nlp, family):
    """The same encoder on the GPU: inputs and pooling follow the module's
    device, outputs are the ops' (cupy) arrays."""
    directory = tiny_model(family)
    docs = [nlp(text) for text in TEXTS + ODD_TEXTS + [" ".join(sentences(30, seed=1))]]
    expected = make_encoder(directory).predict(docs)
    with gpu_ops():
        build = spacy.registry.architectures.get("spacy_ctx.TransformerEncoder.v1")
        model = build(name=str(directory))
        model.initialize()
        assert model.layers[0].shims[0].device.type == "cuda"
        outputs = model.predict(docs)
        for layers, cpu in zip(outputs, expected):
            assert isinstance(layers, model.ops.xp.ndarray)
            assert_allclose(model.ops.to_numpy(layers), cpu, atol=1e-4, rtol=0)


def test_slow_only_tokenizer_fails_at_initialize(tmp_path):
    """A model whose tokenizer has no fast (Rust) version gives no character
    offsets: loading names it before reading any weights."""
    from transformers import ByT5Tokenizer, T5Config

    T5Config(d_model=32, num_layers=1, num_heads=2).save_pretrained(tmp_path)
    ByT5Tokenizer().save_pretrained(tmp_path)
    build = spacy.registry.architectures.get("spacy_ctx.TransformerEncoder.v1")
    model = build(name=str(tmp_path))
    with pytest.raises(SpacyCtxError, match="E013"):
        model.initialize()
