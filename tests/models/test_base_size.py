"""A real base-size encoder, all-mpnet-base-v2 (MPNet, 12 layers, 768
wide), through ctx_encoder: every stored layer against raw transformers
pooled independently. Skipped when the model is not on this machine
(`real_mpnet` in conftest.py says how to get it)."""
import pytest
import spacy

from spacy_ctx.models.pytorch import onednn
from spacy_ctx.models.pytorch.packed import packable

from ..reference import load_reference, reference_layers
from ..util import assert_allclose

TEXTS = [
    "The boat drifted toward the river bank.",
    "She deposited the cheque at the bank on Monday, then walked home along the canal.",
    "Dr. Smith's co-worker e-mailed the U.S. office yesterday.",
    "Hi!",
]


@pytest.fixture(scope="module")
def mpnet_pipeline(real_mpnet):
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config={"model": {"@architectures": "spacy_ctx.TransformerEncoder.v1", "name": str(real_mpnet)}})
    nlp.initialize()
    return nlp


@pytest.fixture(scope="module")
def raw_mpnet(real_mpnet):
    return load_reference(real_mpnet)


def test_real_mpnet_tokens_read_layers_4_and_12_and_docs_the_top_layer(mpnet_pipeline):
    """12 layers: token vectors are the plain mean of layers round(12 / 3) =
    4 and 12, the best of the word-level measures (docs/similarity.md); doc
    vectors are the top layer, the best for STS-B."""
    encoder = mpnet_pipeline.get_pipe("ctx_encoder")
    assert encoder.token_layers == [4, 12]
    doc = mpnet_pipeline(TEXTS[0])
    layers = doc._.ctx_layers
    assert_allclose(doc[6].vector, (layers[4, 6] + layers[12, 6]) / 2, atol=1e-6)
    assert_allclose(doc.tensor, layers[12], atol=1e-6)
    assert_allclose(doc.vector, layers[12].mean(axis=0), atol=1e-6)


def test_real_mpnet_packs(mpnet_pipeline):
    transformer = mpnet_pipeline.get_pipe("ctx_encoder").model.layers[0].shims[0].encoder.transformer
    assert transformer.config.model_type == "mpnet" and packable(transformer)


def test_real_mpnet_stores_every_layer_as_raw_transformers(mpnet_pipeline, raw_mpnet, monkeypatch):
    """13 layers of 768 per token, each within 1e-4 of transformers' own
    hidden states mean-pooled over the token's wordpieces by character
    offsets; the default path: packed, no gradient, the linears through
    oneDNN where this CPU runs them faster (test_fused_mpnet_... below
    forces them there)."""
    tokenizer, model = raw_mpnet
    calls = []
    fused_linear = onednn.linear
    monkeypatch.setattr(onednn, "linear", lambda *args, **kwargs: calls.append(1) or fused_linear(*args, **kwargs))
    docs = list(mpnet_pipeline.pipe(TEXTS, batch_size=4))
    # the linears ran through oneDNN where it is the faster fp32 linear
    assert bool(calls) == onednn.FP32_FASTER
    for doc in docs:
        layers = doc._.ctx_layers
        assert layers.shape == (13, len(doc), 768)
        expected = reference_layers(tokenizer, model, doc)
        assert_allclose(layers, expected, atol=1e-4, rtol=0)


@pytest.mark.usefixtures("onednn_fp32")
def test_fused_mpnet_stores_every_layer_as_raw_transformers(mpnet_pipeline, raw_mpnet):
    """The same through oneDNN's fused linears, on any CPU."""
    tokenizer, model = raw_mpnet
    for doc in mpnet_pipeline.pipe(TEXTS[:2], batch_size=4):
        assert_allclose(doc._.ctx_layers, reference_layers(tokenizer, model, doc), atol=1e-4, rtol=0)


@pytest.mark.slow
def test_real_mpnet_long_doc_windows_match_raw_transformers(mpnet_pipeline, raw_mpnet):
    """Many docs of mixed lengths in one call: several length runs per
    forward batch, each doc against its own raw forward."""
    from spacy_ctx.testing import sentences

    tokenizer, model = raw_mpnet
    texts = [" ".join(sentences(n, seed=n)) for n in (1, 2, 3, 5, 8)] * 4
    for doc in mpnet_pipeline.pipe(texts, batch_size=64):
        assert_allclose(doc._.ctx_layers, reference_layers(tokenizer, model, doc), atol=1e-4, rtol=0)
