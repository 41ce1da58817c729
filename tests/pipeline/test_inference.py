"""The encoder's inference settings on real pipelines: precision, layer truncation, and what a saved pipeline keeps.

With the bundled MiniLM: int8, bf16 and their fallback, the forward pass stopped at the highest layer read."""
import warnings

import numpy
import pytest
import spacy
import torch
from thinc.api import NumpyOps, get_current_ops

from spacy_ctx.errors import SpacyCtxError
from spacy_ctx.models.pytorch.fidelity import layer_fidelity, within_bar
from spacy_ctx.models.pytorch.precision import supports
from spacy_ctx.models.transformer import precision_of

from ..util import assert_allclose, tagger_config, tagger_examples

ON_GPU = not isinstance(get_current_ops(), NumpyOps)

TEXTS = [
    "The bank raised rates; its river bank branch closed at 5 p.m.",
    "Ms. Okafor's 3rd novel sold 40,000 copies in June 2021.",
    "see you @ 8 :) #weekend",
]


def encoder_pipeline(precision="fp32", **config):
    nlp = spacy.blank("en")
    model = {"@architectures": "spacy_ctx.TransformerEncoder.v1", "precision": precision}
    nlp.add_pipe("ctx_encoder", config={"model": model, **config})
    nlp.initialize()
    return nlp


@pytest.fixture(scope="module")
def fp32_docs():
    return list(encoder_pipeline().pipe(TEXTS))


def all_layers(docs):
    """[n_layers, n_tokens, width]: every doc's stored layers, tokens side by side."""
    return numpy.concatenate([doc._.ctx_layers for doc in docs], axis=1)


@pytest.mark.skipif(not supports("int8"), reason="this CPU has no int8 kernels (fbgemm)")
def test_int8_pipeline_is_faithful_and_saves_fp32_weights(fp32_docs, tmp_path):
    nlp = encoder_pipeline("int8")
    docs = list(nlp.pipe(TEXTS))
    # The documented bar, layer by layer over every token of the texts.
    fidelity = layer_fidelity(all_layers(fp32_docs), all_layers(docs))
    assert within_bar(fidelity), {f"int8 layer {layer}": f for layer, f in enumerate(fidelity) if not within_bar([f])}
    for doc, ref in zip(docs, fp32_docs):
        if ON_GPU:  # int8 kernels are the CPU's: on a GPU the encoder warns (W060) and runs fp32
            assert_allclose(doc._.ctx_layers, ref._.ctx_layers, atol=1e-5)
        else:
            assert not numpy.array_equal(doc._.ctx_layers[-1], ref._.ctx_layers[-1])
    nlp.to_disk(tmp_path / "int8")
    loaded = spacy.load(tmp_path / "int8")
    assert precision_of(loaded.get_pipe("ctx_encoder").model) == "int8"
    for doc, again in zip(docs, loaded.pipe(TEXTS)):
        assert_allclose(again._.ctx_layers, doc._.ctx_layers, atol=1e-6)
    # The saved weights are the fp32 ones: the same pipeline set to fp32
    # gives exactly the fp32 vectors.
    as_fp32 = spacy.load(tmp_path / "int8", config={"components": {"ctx_encoder": {"model": {"precision": "fp32"}}}})
    assert precision_of(as_fp32.get_pipe("ctx_encoder").model) == "fp32"
    for ref, doc in zip(fp32_docs, as_fp32.pipe(TEXTS)):
        assert_allclose(doc._.ctx_layers, ref._.ctx_layers, atol=1e-6)


def test_bf16_runs_natively_or_falls_back_with_a_warning(fp32_docs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nlp = encoder_pipeline("bf16")
        docs = list(nlp.pipe(TEXTS))
    messages = [str(w.message) for w in caught if "W060" in str(w.message)]
    if supports("bf16"):
        assert not messages
        fidelity = layer_fidelity(all_layers(fp32_docs), all_layers(docs))
        assert within_bar(fidelity), {f"bf16 layer {layer}": f for layer, f in enumerate(fidelity) if not within_bar([f])}
    else:
        assert len(messages) == 1 and "fp32" in messages[0]
        for doc, ref in zip(docs, fp32_docs):
            assert_allclose(doc._.ctx_layers, ref._.ctx_layers, atol=1e-6)
    assert docs[0]._.ctx_layers.dtype == numpy.float32


def test_unknown_precision_fails_when_built():
    with pytest.raises(SpacyCtxError, match="E060"):
        encoder_pipeline("fp8")


@pytest.mark.skipif(not supports("int8"), reason="this CPU has no int8 kernels (fbgemm)")
def test_fine_tuning_an_int8_encoder_fails_clearly_and_frozen_training_works():
    for grad_factor in (1.0, 0.0):
        nlp = spacy.blank("en")
        nlp.add_pipe("ctx_encoder", config={"model": {"@architectures": "spacy_ctx.TransformerEncoder.v1", "precision": "int8"}})
        nlp.add_pipe("tagger", config=tagger_config(grad_factor=grad_factor))
        optimizer = nlp.initialize(lambda: tagger_examples(nlp))
        if grad_factor:
            with pytest.raises(SpacyCtxError, match="E061.*int8"):
                nlp.update(tagger_examples(nlp), sgd=optimizer)
        else:
            losses = [nlp.update(tagger_examples(nlp), sgd=optimizer)["tagger"] for _ in range(10)]
            assert losses[-1] < losses[0]


def test_fine_tuning_a_bf16_encoder_needs_mixed_precision():
    """precision = "bf16" set by hand is refused for fine-tuning (E061),
    unless mixed_precision asks to train the fp32 weights under bf16
    autocast: then they train."""
    for mixed_precision in (False, True):
        nlp = spacy.blank("en")
        model = {"@architectures": "spacy_ctx.TransformerEncoder.v1", "precision": "bf16", "mixed_precision": mixed_precision}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # W060 where bf16 is not native
            nlp.add_pipe("ctx_encoder", config={"model": model})
            nlp.add_pipe("tagger", config=tagger_config(grad_factor=1.0))
            optimizer = nlp.initialize(lambda: tagger_examples(nlp))
        if not mixed_precision:
            with pytest.raises(SpacyCtxError, match="E061.*bf16.*mixed_precision = true"):
                nlp.update(tagger_examples(nlp), sgd=optimizer)
            continue
        transformer = nlp.get_pipe("ctx_encoder").model.layers[0].shims[0].encoder.transformer
        weight = transformer.encoder.layer[-1].output.dense.weight
        before = weight.detach().clone()
        for _ in range(2):
            nlp.update(tagger_examples(nlp), sgd=optimizer)
        assert weight.dtype == torch.float32 and not torch.equal(weight.detach(), before)


def test_forward_pass_stops_at_the_highest_layer_anything_reads(fp32_docs):
    nlp = encoder_pipeline(store_layers=[0, 1, 3], mix={"layers": [1, 2, 3]}, token_layers=[1])
    encoder = nlp.get_pipe("ctx_encoder")
    stack = encoder.model.layers[0].shims[0].encoder.transformer.encoder.layer
    nlp(TEXTS[0])  # the first use checks once that stopping early is exact
    calls = {k: 0 for k in range(len(stack))}
    # On each layer's last LayerNorm: the packed forward runs a layer's parts,
    # not the layer module itself, and its linears through oneDNN.
    hooks = [layer.output.LayerNorm.register_forward_hook(lambda *a, k=k: calls.__setitem__(k, calls[k] + 1)) for k, layer in enumerate(stack)]
    try:
        docs = list(nlp.pipe(TEXTS))
    finally:
        for hook in hooks:
            hook.remove()
    # Hidden layers 1-3 (modules 0-2) ran, once for the one window batch;
    # modules 3-5 (layers 4-6) did not.
    assert calls == {0: 1, 1: 1, 2: 1, 3: 0, 4: 0, 5: 0}
    for doc, ref in zip(docs, fp32_docs):
        assert doc._.ctx_layer_ids == [0, 1, 3]
        assert_allclose(doc._.ctx_layers, ref._.ctx_layers[[0, 1, 3]], atol=1e-5)
        assert_allclose(doc.tensor, ref._.ctx_layers[[1, 2, 3]].mean(axis=0), atol=1e-5)
        assert_allclose(doc._.ctx_token_mix, ref._.ctx_layers[1], atol=1e-5)
    # predict() still gives every layer (what listeners and tools read).
    full = encoder.predict([nlp.make_doc(TEXTS[0])])[0]
    assert full.shape[0] == 7
    assert_allclose(full[6], fp32_docs[0]._.ctx_layers[6], atol=1e-5)


def test_long_doc_in_float16_equals_float32_rounded():
    text = " ".join(TEXTS * 120)  # several windows
    ref = encoder_pipeline()(text)
    doc = encoder_pipeline(store_dtype="float16")(text)
    assert doc._.ctx_layers.dtype == numpy.float16 and doc._.ctx_layers.shape == ref._.ctx_layers.shape
    assert_allclose(doc._.ctx_layers.astype("f"), ref._.ctx_layers, atol=4e-3, rtol=4e-3)
    assert_allclose(doc.tensor, ref.tensor, atol=2e-3)


def test_pipe_pools_small_batches_up_to_min_batch_words():
    """nlp.pipe(batch_size=2) hands the encoder 2 docs at a time; with
    min_batch_words it encodes them in pools of at least that many words,
    and the stored layers do not depend on the pooling."""
    texts = [f"{text} Number {i}." for i in range(4) for text in TEXTS]
    outputs, sizes = {}, {}
    for min_words in (0, 60):
        nlp = encoder_pipeline(min_batch_words=min_words)
        encoder = nlp.get_pipe("ctx_encoder")
        seen = []
        annotate = encoder._annotate
        encoder._annotate = lambda docs: (seen.append(sum(len(d) for d in docs)), annotate(docs))[1]
        outputs[min_words] = [doc._.ctx_layers for doc in nlp.pipe(texts, batch_size=2)]
        sizes[min_words] = seen
    assert len(sizes[0]) == len(texts) // 2
    assert all(words >= 60 for words in sizes[60][:-1]) and len(sizes[60]) < len(sizes[0])
    assert sum(sizes[60]) == sum(sizes[0])
    for pooled, alone in zip(outputs[60], outputs[0]):
        assert_allclose(pooled, alone, atol=1e-5)


def test_min_batch_words_must_be_a_count():
    with pytest.raises(SpacyCtxError, match="E040.*min_batch_words"):
        encoder_pipeline(min_batch_words=-1)
