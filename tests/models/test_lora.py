"""LoRA adapters on a tiny BERT through peft: only the adapters train, they
travel with the saved pipeline, and merged they give the same vectors."""
import numpy
import pytest
import spacy
import srsly
import torch
from numpy.testing import assert_allclose

from spacy_ctx.errors import SpacyCtxError
from spacy_ctx.models.lora import ADAPTER_FILE, count_parameters, create_lora_v1, has_lora
from spacy_ctx.models.pytorch import onednn
from spacy_ctx.models.transformer import find_hf_shim
from spacy_ctx.training.depths import shim_parameters

from ..util import tagger_config, tagger_examples

pytest.importorskip("peft")

TEXTS = ["The boat drifted toward the river bank .", "She paid the cheque in at the bank ."]


def lora_block(**settings):
    return {"@misc": "spacy_ctx.LoRA.v1", "rank": 4, "alpha": 8.0, "dropout": 0.0, **settings}


def make_nlp(tiny_model, lora, grad_factor=1.0):
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config={"model": {"name": str(tiny_model("bert-uncased")), "lora": lora}})
    nlp.add_pipe("tagger", config=tagger_config(grad_factor=grad_factor))
    nlp.initialize(lambda: tagger_examples(nlp))
    return nlp


def transformer_of(nlp):
    return find_hf_shim(nlp.get_pipe("ctx_encoder").model).encoder.transformer


def layers(nlp):
    return [doc._.ctx_layers.copy() for doc in nlp.pipe(TEXTS)]


def test_only_the_adapters_train(tiny_model):
    plain = make_nlp(tiny_model, None)
    nlp = make_nlp(tiny_model, lora_block())
    transformer = transformer_of(nlp)
    # B starts at zero: the adapted encoder starts as the base model.
    for a, b in zip(layers(nlp), layers(plain)):
        assert_allclose(a, b, atol=1e-6)
    counts = count_parameters(transformer)
    config = transformer.config
    # rank x (in + out) for query and value of every block, peft's BERT default.
    expected = config.num_hidden_layers * 2 * 4 * (config.hidden_size + config.hidden_size)
    assert counts["trainable"] == expected
    assert counts["trainable"] < 0.2 * counts["total"]
    before = {n: p.detach().clone() for n, p in transformer.named_parameters()}
    optimizer = nlp.resume_training()
    for _ in range(4):
        nlp.update(tagger_examples(nlp), sgd=optimizer)
    changed = {n for n, p in transformer.named_parameters() if not bool((p.detach() == before[n]).all())}
    assert changed and all("lora_" in n for n in changed)
    assert any("lora_B" in n for n in changed)
    # Layer-wise rates and unfreezing see the adapters only.
    names = [name for name, *_ in shim_parameters(nlp.get_pipe("ctx_encoder").model)]
    assert names and all("lora_" in n for n in names)


def test_adapters_travel_with_the_pipeline_and_merge(tiny_model, tmp_path):
    nlp = make_nlp(tiny_model, lora_block())
    optimizer = nlp.resume_training()
    for _ in range(4):
        nlp.update(tagger_examples(nlp), sgd=optimizer)
    expected = layers(nlp)
    nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    for a, b in zip(layers(loaded), expected):
        assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # The adapters did change the vectors: a base-only load would differ.
    assert any(not numpy.allclose(a, b, atol=1e-4) for a, b in zip(layers(make_nlp(tiny_model, None)), expected))
    merged = spacy.load(tmp_path / "p", config={"components": {"ctx_encoder": {"model": {"lora": {"merge": True}}}}})
    for a, b in zip(layers(merged), expected):
        assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    # Saving a merged pipeline saves the same base weights and adapters, apart.
    merged.to_disk(tmp_path / "m")
    for a, b in zip(layers(spacy.load(tmp_path / "m")), expected):
        assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    saved, trained = saved_files(tmp_path / "m"), transformer_of(nlp).state_dict()
    assert set(saved) == {"model.safetensors", ADAPTER_FILE}
    base = {name.replace(".base_layer", ""): value for name, value in trained.items() if "lora_" not in name}
    assert saved["model.safetensors"].keys() == base.keys() and not any("lora_" in k for k in saved["model.safetensors"])
    for name, value in base.items():
        assert torch.equal(saved["model.safetensors"][name], value), name
    adapters = saved[ADAPTER_FILE]
    assert adapters and all("lora_" in name for name in adapters)
    assert len(adapters) == sum("lora_" in name for name in trained)
    assert any(float(value.abs().sum()) > 0 for name, value in adapters.items() if "lora_B" in name)
    with pytest.raises(SpacyCtxError, match="E044"):
        spacy.load(tmp_path / "p", config={"components": {"ctx_encoder": {"model": {"lora": None}}}})
    # Adapters of another rank, or on other modules, do not fit: a clear error.
    for other in ({"rank": 2}, {"target_modules": ["query", "key", "value"]}):
        with pytest.raises(SpacyCtxError, match="E043"):
            spacy.load(tmp_path / "p", config={"components": {"ctx_encoder": {"model": {"lora": other}}}})
    # Merged adapters cannot train.
    with pytest.raises(SpacyCtxError, match="E045"):
        merged.update(tagger_examples(merged), sgd=merged.resume_training())


def saved_files(pipeline_dir):
    """The safetensors files of a saved pipeline's encoder, loaded: {file name: state dict}.
    (thinc saves each shim's bytes under "shims"; the HF shim's hold its files.)"""
    from safetensors.torch import load

    model = srsly.msgpack_loads((pipeline_dir / "ctx_encoder" / "model").read_bytes())
    files = [srsly.msgpack_loads(data)["files"] for shims in model["shims"] for data in shims]
    return {name: load(data) for shim_files in files for name, data in shim_files.items() if name.endswith(".safetensors")}


@pytest.mark.usefixtures("onednn_fp32")
def test_merged_inference_runs_plain_linears_through_onednn(tiny_model, tmp_path):
    """Merged, the adapted linears fold back into plain nn.Linears in the
    inference copy, so the packed forward runs them fused through oneDNN,
    as for the base model: no linear module runs."""
    nlp = make_nlp(tiny_model, lora_block())
    optimizer = nlp.resume_training()
    for _ in range(2):
        nlp.update(tagger_examples(nlp), sgd=optimizer)
    expected = layers(nlp)
    nlp.to_disk(tmp_path / "p")
    merged = spacy.load(tmp_path / "p", config={"components": {"ctx_encoder": {"model": {"lora": {"merge": True}}}}})
    shim = find_hf_shim(merged.get_pipe("ctx_encoder").model)
    fast = shim.encoder.fast
    assert fast is not None and not has_lora(fast) and has_lora(shim.encoder.transformer)
    linears = [m for m in fast.encoder.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(type(m) is torch.nn.Linear for m in linears)
    with torch.no_grad():
        assert onednn.fusable(linears, torch.zeros(2, fast.config.hidden_size))
    ran = []
    hooks = [m.register_forward_hook(lambda *args: ran.append(1)) for m in linears]
    try:
        got = layers(merged)
    finally:
        for hook in hooks:
            hook.remove()
    assert not ran
    for a, b in zip(got, expected):
        assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_bad_lora_settings():
    for setting in ({"rank": 0}, {"alpha": 0.0}, {"dropout": 1.0}):
        with pytest.raises(SpacyCtxError, match="E040"):
            create_lora_v1(**setting)
