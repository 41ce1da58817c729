"""The transformer encoder on every tokenizer and architecture family, with tiny models, against raw transformers."""
import contextlib
import functools
import inspect
import warnings

import numpy
import pytest
import spacy
import torch
from torch import nn

from spacy_ctx.errors import SpacyCtxError
from spacy_ctx.models.hf_loading import usable_length
from spacy_ctx.models.pytorch import packed
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
    largest index it was asked for; the [batch, seq_len] shapes of the
    padded forward batches the encoder was given; and the rows that went
    through the first layer's last norm (padded or packed)."""
    encoder = model.layers[0].shims[0].encoder
    transformer = encoder.transformer
    seen = {"shapes": [], "overflow": [], "real": 0, "rows": 0}

    def check_index(module, args):
        (ids,) = args[:1]
        if ids.numel() and int(ids.max()) >= module.num_embeddings:
            seen["overflow"].append((module, int(ids.max())))

    def record_batches(module, args, kwargs):
        bound = inspect.signature(module.forward).bind(*args, **kwargs)
        for ids, mask in zip(bound.arguments["input_ids"], bound.arguments["attention_mask"]):
            seen["shapes"].append(tuple(ids.shape))
            seen["real"] += int(mask.sum())

    # ALBERT's layers are shared: its one layer runs for every hidden layer.
    config = transformer.config
    uses = config.num_hidden_layers // config.num_hidden_groups if config.model_type == "albert" else 1

    def count_rows(module, args):
        seen["rows"] += args[0].numel() // args[0].shape[-1] / uses

    handles = [
        m.register_forward_pre_hook(check_index)
        for m in transformer.modules()
        if isinstance(m, nn.Embedding)
    ]
    handles.append(encoder.register_forward_pre_hook(record_batches, with_kwargs=True))
    handles.append(last_norm(transformer).register_forward_pre_hook(count_rows))
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()


# The first layer's last per-token module of each architecture: every
# wordpiece row the encoder computes goes through it once.
LAST_NORMS = {
    "bert": "encoder.layer.0.output.LayerNorm",
    "roberta": "encoder.layer.0.output.LayerNorm",
    "xlm-roberta": "encoder.layer.0.output.LayerNorm",
    "electra": "encoder.layer.0.output.LayerNorm",
    "mpnet": "encoder.layer.0.output.LayerNorm",
    "deberta-v2": "encoder.layer.0.output.LayerNorm",
    "distilbert": "transformer.layer.0.output_layer_norm",
    "albert": "encoder.albert_layer_groups.0.albert_layers.0.full_layer_layer_norm",
    "t5": "encoder.block.0.layer.1.layer_norm",
    "modernbert": "layers.0.mlp_norm",
}


def last_norm(transformer):
    return transformer.get_submodule(LAST_NORMS[transformer.config.model_type])


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


@pytest.mark.parametrize("family", FAMILY_NAMES)
def test_the_encoder_computes_no_padding(tiny_model, nlp, family):
    """Docs of very different lengths in one forward batch: the rows the
    encoder computes are the real wordpieces, padded/real = 1.00."""
    model = make_encoder(directory := tiny_model(family))
    assert packable(reference(directory)[1])
    docs = [nlp(text) for text in TEXTS + ODD_TEXTS[:2] + ["Hi."]]
    with watch_inputs(model) as seen:
        model.predict(docs)
    padded = sum(rows * length for rows, length in seen["shapes"])
    assert padded > seen["real"] > 0  # the batch itself is padded
    assert seen["rows"] / seen["real"] == 1.0


def test_an_unlisted_family_runs_its_own_forward_and_says_so_once(tiny_model, nlp, tmp_path, monkeypatch):
    """RoFormer wears BERT's module names but rotates its queries and keys:
    it is not on the allowlist, so it runs its own forward (exact), and
    the encoder warns once, naming it."""
    import shutil

    from transformers import RoFormerConfig, RoFormerModel

    directory = tmp_path / "roformer"
    bert = tiny_model("bert-cased")
    shutil.copytree(bert, directory)
    torch.manual_seed(0)
    config = RoFormerConfig(vocab_size=reference(bert)[0].vocab_size, embedding_size=32, hidden_size=32,
                            num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                            max_position_embeddings=64, initializer_range=0.5)
    RoFormerModel(config).save_pretrained(directory)
    tokenizer, transformer = load_reference(directory)
    assert transformer.config.model_type == "roformer" and not packable(transformer)
    monkeypatch.setattr(packed, "_warned", set())
    docs = [nlp(text) for text in TEXTS]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outputs = make_encoder(directory).predict(docs)
        make_encoder(directory, pooling="max").predict(docs)
    said = [str(w.message) for w in caught if "W062" in str(w.message)]
    assert len(said) == 1 and "'roformer'" in said[0]
    for doc, layers in zip(docs, outputs):
        assert_allclose(layers, reference_layers(tokenizer, transformer, doc), atol=1e-4, rtol=0)


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
