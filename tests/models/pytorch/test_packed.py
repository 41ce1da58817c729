"""The padding-free forward of BERT-style encoders against the model's own
forward: the same hidden states at every real wordpiece, and the same
gradients."""
import pytest
import torch
from transformers.activations import ACT2FN

from spacy_ctx.models.pytorch import onednn
from spacy_ctx.models.pytorch.packed import core
from spacy_ctx.models.pytorch.packed import packable, packed_hidden_states

from ...reference import reference_or_minilm

PACKED = ["bert-cased", "bert-uncased", "electra", "roberta", "xlm-roberta", "minilm"]
UNPACKED = ["distilbert", "deberta-v3", "albert", "modernbert", "t5-encoder"]
# One short and one long text: the short one is mostly padding.
TEXTS = ["Hi.", "The boat drifted slowly toward the muddy river bank while the rain kept falling on the quiet town."]

pytestmark = pytest.mark.usefixtures("one_thread")


def padded_batch(tokenizer):
    # Within the smallest position table of the tiny models.
    batch = tokenizer(TEXTS, padding=True, truncation=True, max_length=40, return_tensors="pt")
    return batch["input_ids"], batch["attention_mask"]


@pytest.mark.parametrize("family", PACKED + UNPACKED)
def test_packable_families(tiny_model, family):
    _, model = reference_or_minilm(tiny_model, family)
    assert packable(model) == (family in PACKED)


@pytest.mark.parametrize("family", PACKED)
@pytest.mark.parametrize("top", [None, 1])
def test_packed_states_equal_the_models_own(tiny_model, family, top):
    tokenizer, model = reference_or_minilm(tiny_model, family)
    ids, mask = padded_batch(tokenizer)
    assert (mask == 0).float().mean() > 0.3  # padding-heavy: the case that matters
    n_hidden = model.config.num_hidden_layers
    top = n_hidden if top is None else top
    with torch.no_grad():
        expected = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        states, rows = packed_hidden_states(model, ids, mask, top)
    assert len(states) == top + 1
    real = mask.reshape(-1).bool()
    assert torch.equal(rows[real], torch.arange(int(real.sum())))
    assert bool((rows[~real] == -1).all())
    for layer, state in enumerate(states):
        full = expected[layer].reshape(-1, state.shape[-1])[real]
        torch.testing.assert_close(state, full, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("family", ["bert-cased", "roberta"])
def test_packed_gradients_equal_the_models_own(tiny_model, family):
    tokenizer, model = reference_or_minilm(tiny_model, family)
    ids, mask = padded_batch(tokenizer)
    real = mask.reshape(-1).bool()
    weight = model.encoder.layer[0].attention.self.query.weight

    def grad_of(run):
        model.zero_grad()
        run().pow(2).sum().backward()
        return weight.grad.clone()

    top = model.config.num_hidden_layers
    own = grad_of(lambda: model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[-1].reshape(-1, weight.shape[0])[real])
    packed = grad_of(lambda: packed_hidden_states(model, ids, mask, top)[0][-1])
    torch.testing.assert_close(packed, own, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("family", ["bert-cased", "minilm"])
def test_fused_linears_run_in_inference_and_match_the_modules(tiny_model, family):
    tokenizer, model = reference_or_minilm(tiny_model, family)
    ids, mask = padded_batch(tokenizer)
    layer = model.encoder.layer[0]
    linears = [layer.attention.self.query, layer.intermediate.dense]
    probe = torch.zeros(2, model.config.hidden_size)
    assert not model.training  # else the modules would run, fused or not
    with torch.no_grad():
        assert onednn.fusable(linears, probe)
        fused, _ = packed_hidden_states(model, ids, mask, model.config.num_hidden_layers)
        plain, _ = packed_hidden_states(model, ids, mask, model.config.num_hidden_layers, fuse=False)
    # Recording gradients, the modules run: oneDNN's op has no backward.
    assert not onednn.fusable(linears, probe)
    for a, b in zip(fused, plain):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("activation", [None, "gelu", "gelu_new", "relu"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_onednn_linear_equals_torch(activation, dtype):
    torch.manual_seed(0)
    linear = torch.nn.Linear(48, 96).to(dtype)
    x = torch.randn(37, 48, dtype=dtype)
    tol = dict(atol=1e-5, rtol=1e-4) if dtype == torch.float32 else dict(atol=0.05, rtol=0.02)
    with torch.no_grad():
        assert onednn.fusable([linear], x)
        # transformers' own activation functions, by the config's names
        expected = linear(x) if activation is None else ACT2FN[activation](linear(x))
        torch.testing.assert_close(onednn.linear(x, linear.weight, linear.bias, activation), expected, **tol)
        torch.testing.assert_close(onednn._reference(x, linear.weight, linear.bias, activation, None), expected, **tol)
        residual = torch.randn(37, 96, dtype=dtype)
        torch.testing.assert_close(
            onednn.linear(x, linear.weight, linear.bias, residual=residual), linear(x) + residual, **tol
        )


@pytest.mark.parametrize("layout", ["left", "hole"])
def test_any_padding_layout_gives_the_models_own_states(tiny_model, layout):
    tokenizer, model = reference_or_minilm(tiny_model, "bert-cased")
    ids, mask = padded_batch(tokenizer)
    if layout == "left":
        # Each row's padding moved to its start: positions then count the
        # padding, as in the model's own forward.
        shift = (mask == 0).sum(1)
        ids = torch.stack([row.roll(int(s)) for row, s in zip(ids, shift)])
        mask = torch.stack([row.roll(int(s)) for row, s in zip(mask, shift)])
    else:
        mask = mask.clone()
        mask[1, 3] = 0  # a masked wordpiece inside the long text
    with torch.no_grad():
        expected = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        states, _ = packed_hidden_states(model, ids, mask, model.config.num_hidden_layers)
    real = mask.reshape(-1).bool()
    for layer, state in enumerate(states):
        torch.testing.assert_close(state, expected[layer].reshape(-1, state.shape[-1])[real], atol=1e-5, rtol=1e-4)


def test_length_runs_cover_every_real_wordpiece():
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]])
    assert core.length_runs(mask) == [(0, 2, 3), (6, 1, 2), (8, 1, 4)]
    assert sum(n * length for _, n, length in core.length_runs(mask)) == int(mask.sum())


@pytest.mark.parametrize("rows", [1, 37, 3000])
def test_reordered_bf16_weights_give_the_modules_outputs_and_follow_updates(rows):
    torch.manual_seed(0)
    parts = [torch.nn.Linear(48, 96).to(torch.bfloat16) for _ in range(3)]
    x = torch.randn(rows, 48, dtype=torch.bfloat16)
    with torch.no_grad():
        expected = torch.cat([p(x) for p in parts], dim=-1)
        weight, bias = onednn.weights(*parts)
        assert weight.is_mkldnn  # oneDNN's blocked layout, made once
        torch.testing.assert_close(onednn.linear(x, weight, bias), expected, atol=0.05, rtol=0.02)
        assert onednn.weights(*parts)[0] is weight
        parts[1].weight.add_(1.0)  # an in-place change bumps the version: re-made
        again, _ = onednn.weights(*parts)
        assert again is not weight
        torch.testing.assert_close(
            onednn.linear(x, *onednn.weights(*parts)), torch.cat([p(x) for p in parts], dim=-1), atol=0.05, rtol=0.02
        )
