"""The padding-free forward of every packed family against the model's own
forward: the same hidden states at every real wordpiece, with any padding
side and several length runs in a batch, through oneDNN's fused linears
or the modules; and the same gradients."""
import pytest
import torch

from spacy_ctx.models.pytorch import onednn
from spacy_ctx.models.pytorch.packed import FAMILIES, core, packed_hidden_states
from spacy_ctx.testing import FAMILY_NAMES

from ...reference import reference_or_minilm

# Every family of the test matrix, and the bundled MiniLM (BERT).
PACKED = FAMILY_NAMES + ["minilm"]
# Five texts, three lengths: runs of equal lengths and a lone one, with
# the short ones mostly padding.
TEXTS = [
    "Hi.",
    "The boat drifted slowly toward the muddy river bank while the rain kept falling on the quiet town.",
    "A farmer sold three apples.",
    "A farmer sold three apples.",
    "Hi.",
]

pytestmark = pytest.mark.usefixtures("one_thread")


def padded_batch(tokenizer, side="right"):
    """input_ids and attention_mask, longest first as the planner orders a
    batch (equal lengths then make runs)."""
    tokenizer.padding_side = side
    # Within the smallest position table of the tiny models.
    batch = tokenizer(TEXTS, padding=True, truncation=True, max_length=40, return_tensors="pt")
    order = batch["attention_mask"].sum(1).argsort(descending=True, stable=True)
    return batch["input_ids"][order], batch["attention_mask"][order]


def own_states(model, ids, mask):
    """The model's own hidden states at the real wordpieces, [n_real, width] each."""
    real = mask.reshape(-1).bool()
    hidden = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
    return [h.reshape(-1, h.shape[-1])[real] for h in hidden]


@pytest.mark.usefixtures("onednn_fp32")
@pytest.mark.parametrize("family", PACKED)
@pytest.mark.parametrize("side", ["right", "left"])
def test_packed_states_equal_the_models_own(tiny_model, family, side):
    tokenizer, model = reference_or_minilm(tiny_model, family)
    ids, mask = padded_batch(tokenizer, side)
    assert (mask == 0).float().mean() > 0.3  # padding-heavy: the case that matters
    assert len(core.length_runs(mask)) == 3
    n_hidden = model.config.num_hidden_layers
    assert not model.training
    with torch.no_grad():
        expected = own_states(model, ids, mask)
        for fuse in (True, False):
            states, rows = packed_hidden_states(model, ids, mask, n_hidden, fuse=fuse)
            assert len(states) == n_hidden + 1 == len(expected)
            for state, full in zip(states, expected):
                torch.testing.assert_close(state, full, atol=1e-5, rtol=0)
    real = mask.reshape(-1).bool()
    assert torch.equal(rows[real], torch.arange(int(real.sum())))
    assert bool((rows[~real] == -1).all())


@pytest.mark.parametrize("family", PACKED)
def test_stopping_at_a_lower_layer_gives_its_states(tiny_model, family):
    tokenizer, model = reference_or_minilm(tiny_model, family)
    ids, mask = padded_batch(tokenizer)
    with torch.no_grad():
        expected = own_states(model, ids, mask)
        states, _ = packed_hidden_states(model, ids, mask, 1)
    assert len(states) == 2
    for state, full in zip(states, expected):
        torch.testing.assert_close(state, full, atol=1e-5, rtol=0)


@pytest.mark.usefixtures("onednn_fp32")
@pytest.mark.parametrize("family", PACKED)
def test_linears_fuse_in_inference_where_the_family_has_biases(tiny_model, family):
    """oneDNN's fused linear needs a bias: every family but T5's and
    ModernBERT's (bias-free linears) fuses in inference; none while
    gradients are recorded."""
    _, model = reference_or_minilm(tiny_model, family)
    family_ = FAMILIES[model.config.model_type]
    layers = list(family_.layers(model))
    probe = torch.zeros(2, model.config.hidden_size)
    with torch.no_grad():
        fused = core.can_fuse(family_, model, layers, probe, True)
        assert not core.can_fuse(family_, model, layers, probe, False)
    assert fused == (family not in ("t5-encoder", "modernbert"))
    assert not core.can_fuse(family_, model, layers, probe, True)


@pytest.mark.parametrize("fp32_faster", [True, False])
def test_fp32_fuses_only_where_onednn_is_the_faster_linear(tiny_model, monkeypatch, fp32_faster):
    """fp32 takes oneDNN only on CPUs where it beats torch's own linears
    (`onednn.FP32_FASTER`: AVX-512); elsewhere the modules run."""
    from spacy_ctx.models.pytorch import onednn

    monkeypatch.setattr(onednn, "FP32_FASTER", fp32_faster)
    _, model = reference_or_minilm(tiny_model, "bert-cased")
    family_ = FAMILIES[model.config.model_type]
    with torch.no_grad():
        fused = core.can_fuse(family_, model, list(family_.layers(model)), torch.zeros(2, model.config.hidden_size), True)
    assert fused == fp32_faster


def test_fp32_prefers_onednn_on_avx512_alone():
    from spacy_ctx.models.pytorch import onednn

    assert onednn.FP32_FASTER == (torch.backends.cpu.get_cpu_capability() == "AVX512")


@pytest.mark.parametrize("family", PACKED)
def test_packed_gradients_equal_the_models_own(tiny_model, family):
    tokenizer, model = reference_or_minilm(tiny_model, family)
    ids, mask = padded_batch(tokenizer)
    top = model.config.num_hidden_layers
    params = [p for p in model.parameters() if p.requires_grad]

    # A fixed random projection of every layer, so that every parameter that
    # shapes a state counts (a sum of squares of LayerNorm outputs would
    # hardly depend on their inputs: its gradients would be rounding noise).
    generator = torch.Generator().manual_seed(0)
    weights = [torch.randn(int(mask.sum()), model.config.hidden_size, generator=generator) for _ in range(top + 1)]

    def grads_of(states):
        model.zero_grad()
        sum((s * w).sum() for s, w in zip(states, weights)).backward()
        return [None if p.grad is None else p.grad.clone() for p in params]

    own = grads_of(own_states(model, ids, mask))
    packed = grads_of(packed_hidden_states(model, ids, mask, top)[0])
    checked = 0
    for name_param, a, b in zip(model.named_parameters(), packed, own):
        if b is None or not b.abs().sum():
            continue
        assert a is not None, name_param[0]
        # Relative to the largest entry: sums over many rows (a [CLS] row
        # of the embeddings) are large.
        assert float((a - b).abs().max()) <= 1e-5 * max(float(b.abs().max()), 1.0), name_param[0]
        checked += 1
    assert checked > 10


@pytest.mark.parametrize("family", ["bert-cased", "mpnet", "deberta-v3", "t5-encoder", "modernbert"])
def test_a_gap_inside_a_sequence_still_gives_the_models_own_states(tiny_model, family):
    """BERT's positions are in its embeddings, so any mask packs; families
    with relative positions would see the gap in the distances, so they run
    the model's own forward for such a mask (the planner never makes one)."""
    tokenizer, model = reference_or_minilm(tiny_model, family)
    ids, mask = padded_batch(tokenizer)
    mask = mask.clone()
    mask[0, 3] = 0  # a masked wordpiece inside the long text
    assert core.contiguous(mask) is False
    with torch.no_grad():
        expected = own_states(model, ids, mask)
        states, _ = packed_hidden_states(model, ids, mask, model.config.num_hidden_layers)
    for state, full in zip(states, expected):
        torch.testing.assert_close(state, full, atol=1e-5, rtol=0)


def test_contiguous_masks():
    assert core.contiguous(torch.tensor([[1, 1, 0], [0, 1, 1], [0, 0, 0], [1, 1, 1]]))
    assert not core.contiguous(torch.tensor([[1, 0, 1], [1, 1, 0]]))


def test_length_runs_cover_every_real_wordpiece():
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]])
    assert core.length_runs(mask) == [(0, 2, 3), (6, 1, 2), (8, 1, 4)]
    assert sum(n * length for _, n, length in core.length_runs(mask)) == int(mask.sum())
