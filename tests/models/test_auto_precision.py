"""precision = "auto": the fastest precision this machine runs within the
fidelity bar, measured at load, on the real MiniLM."""
import numpy
import pytest
import spacy
import torch

from spacy_ctx.models.pytorch.auto_precision import choose_precision
from spacy_ctx.models.pytorch.fidelity import LOW_COSINE, MEAN_COSINE, layer_fidelity, worst_layer
from spacy_ctx.models.pytorch.precision import CALIBRATION_TEXTS, calibration_batches, unsupported_reason
from spacy_ctx.models.transformer import find_hf_shim, precision_of

TEXTS = ["The boat drifted toward the river bank.", "She deposited her salary at the bank on Monday."]


@pytest.fixture(scope="module")
def auto_nlp():
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config={"model": {"precision": "auto"}})
    nlp.initialize()
    return nlp


def test_auto_picks_a_faithful_precision_the_cpu_runs(auto_nlp, nlp):
    shim = find_hf_shim(auto_nlp.get_pipe("ctx_encoder").model)
    choice = shim.choice
    chosen = precision_of(auto_nlp.get_pipe("ctx_encoder").model)
    assert chosen == choice.precision in ("fp32", "bf16", "int8")
    # Every precision this CPU runs natively was measured; the others were skipped with the reason.
    device = torch.device("cpu")
    for precision in ("bf16", "int8"):
        if unsupported_reason(precision, device):
            assert precision in choice.skipped and precision not in choice.seconds
        else:
            assert precision in choice.seconds
    # The winner is the fastest of those within the bar.
    faithful = [p for p, (mean, low) in choice.fidelity.items() if mean >= MEAN_COSINE and low >= LOW_COSINE]
    assert chosen == min(faithful, key=choice.seconds.get)
    # And its vectors are within the bar against fp32 on other text, layer by layer.
    for got, ref in zip(auto_nlp.pipe(TEXTS), nlp.pipe(TEXTS)):
        a, b = got._.ctx_layers, ref._.ctx_layers
        cos = (a * b).sum(-1) / (numpy.linalg.norm(a, axis=-1) * numpy.linalg.norm(b, axis=-1))
        assert cos.mean(axis=1).min() >= 0.998
    assert auto_nlp.config["components"]["ctx_encoder"]["model"]["precision"] == "auto"


def test_auto_travels_as_auto(auto_nlp, tmp_path):
    auto_nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    encoder = loaded.get_pipe("ctx_encoder")
    loaded("warm up")
    assert find_hf_shim(encoder.model).choice is not None
    assert precision_of(encoder.model) in ("fp32", "bf16", "int8")


def test_fidelity_bar_rejects_a_noisy_copy():
    generator = torch.Generator().manual_seed(0)
    reference = [torch.randn(10, 16, generator=generator) for _ in range(3)]
    assert worst_layer(layer_fidelity(reference, reference)) == pytest.approx((1.0, 1.0), abs=1e-5)
    noisy = [r + 0.3 * torch.randn(r.shape, generator=generator) for r in reference]
    mean, low = worst_layer(layer_fidelity(reference, noisy))
    assert mean < MEAN_COSINE and low < LOW_COSINE


def test_an_unfaithful_fast_copy_is_refused(tiny_model, monkeypatch):
    """Fault injection: a "converted" copy that is fast but adds noise to
    its outputs must be measured, refused with the reason, and fp32 kept."""
    from transformers import AutoModel, AutoTokenizer

    from spacy_ctx.models.pytorch import auto_precision

    path = tiny_model("bert-uncased")
    model, tokenizer = AutoModel.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)
    probe = dict(tokenizer(list(CALIBRATION_TEXTS), padding=True, return_tensors="pt"))
    probe.pop("token_type_ids", None)

    def noisy(copy, precision, calibration):
        embeddings = copy.get_input_embeddings()
        with torch.no_grad():
            embeddings.weight.add_(torch.randn_like(embeddings.weight))
        return copy

    monkeypatch.setattr(auto_precision, "convert", noisy)
    monkeypatch.setattr(auto_precision, "unsupported_reason", lambda precision, device: "")
    choice, fast = choose_precision(model, probe, calibration_batches(tokenizer), candidates=("int8",))
    assert choice.precision == "fp32" and fast is None
    assert "int8" in choice.seconds and "fidelity bar" in choice.skipped["int8"]
    mean, low = choice.fidelity["int8"]
    assert mean < MEAN_COSINE


def test_fine_tuning_an_auto_encoder_names_the_choice():
    from spacy_ctx.errors import SpacyCtxError

    from ..util import tagger_config, tagger_examples

    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config={"model": {"precision": "auto"}})
    nlp.add_pipe("tagger", config=tagger_config(grad_factor=1.0))
    optimizer = nlp.initialize(lambda: tagger_examples(nlp))
    chosen = precision_of(nlp.get_pipe("ctx_encoder").model)
    if chosen == "fp32":
        nlp.update(tagger_examples(nlp), sgd=optimizer)
    else:
        with pytest.raises(SpacyCtxError, match=f"E061.*{chosen}, chosen by precision = \"auto\""):
            nlp.update(tagger_examples(nlp), sgd=optimizer)
