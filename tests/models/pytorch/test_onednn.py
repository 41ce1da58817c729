"""oneDNN's fused linear: it equals torch's linear with the activation or
residual sum, and it fails safe. Where this CPU's oneDNN lacks a dtype's
kernels the modules run that dtype, and when the op fails on a call, the
fallback computes the call from the weights it was given, oneDNN's reordered
layout included."""
import copy
import warnings

import pytest
import torch
from transformers.activations import ACT2FN

from spacy_ctx.models.pytorch import onednn
from spacy_ctx.models.pytorch.packed import packed_hidden_states
from spacy_ctx.models.pytorch.precision import convert

BF16_KERNELS = onednn._AVAILABLE and torch.ops.mkldnn._is_mkldnn_bf16_supported()


@pytest.fixture
def fresh_state(monkeypatch):
    """No failure recorded yet, and the record restored after the test."""
    monkeypatch.setitem(onednn._state, "broken", set())


def w061(caught):
    return [w for w in caught if "W061" in str(w.message)]


def test_a_failed_call_is_computed_from_the_reordered_weight(fresh_state):
    """A real refusal of the op: its residual sum takes the input's dtype
    only, where torch adds a bf16 residual to an fp32 product. The weight is
    in oneDNN's reordered layout, which F.linear cannot read."""
    torch.manual_seed(0)
    linear = torch.nn.Linear(48, 96)
    x = torch.randn(37, 48)
    residual = torch.randn(37, 96).bfloat16()
    with torch.no_grad():
        weight = torch.ops.mkldnn._reorder_linear_weight(linear.weight)
        assert weight.is_mkldnn
        with pytest.raises(RuntimeError):
            torch.nn.functional.linear(x, weight, linear.bias)
        assert onednn.fusable([linear], x)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = onednn.linear(x, weight, linear.bias, residual=residual)
            again = onednn.linear(x, weight, linear.bias, residual=residual)
        expected = linear(x) + residual
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(again, expected, atol=1e-5, rtol=1e-4)
    # Told once; from then on fp32 runs the modules, and only fp32 does.
    assert len(w061(caught)) == 1
    assert onednn._state["broken"] == {torch.float32}
    with torch.no_grad():
        assert not onednn.fusable([linear], x)
        assert onednn.fusable([linear.bfloat16()], x.bfloat16()) == BF16_KERNELS


@pytest.mark.skipif(not BF16_KERNELS, reason="this CPU's oneDNN has no bf16 kernels: weights() keeps bf16 weights plain")
@pytest.mark.parametrize("activation", [None, "gelu", "gelu_new", "relu"])
def test_the_fallback_reads_the_reordered_bf16_weights_of_weights(activation):
    torch.manual_seed(0)
    parts = [torch.nn.Linear(48, 96).to(torch.bfloat16) for _ in range(3)]
    x = torch.randn(37, 48, dtype=torch.bfloat16)
    residual = torch.randn(37, 288, dtype=torch.bfloat16)
    with torch.no_grad():
        weight, bias = onednn.weights(*parts)
        assert weight.is_mkldnn
        plain = torch.cat([p(x) for p in parts], dim=-1)
        expected = plain if activation is None else ACT2FN[activation](plain)  # transformers' own
        tol = dict(atol=0.05, rtol=0.02)
        torch.testing.assert_close(onednn._reference(x, weight, bias, activation, None), expected, **tol)
        torch.testing.assert_close(onednn._reference(x, weight, bias, None, residual), plain + residual, **tol)


def test_bf16_runs_the_modules_where_onednn_has_no_bf16_kernels(tiny_model, fresh_state):
    """On such a CPU (AVX2 without AVX-512) the reorder and the op fail for
    bf16: a bf16 model's packed forward must neither reach them nor stop
    fp32 from fusing."""
    from transformers import AutoModel, AutoTokenizer

    path = tiny_model("bert-uncased")
    model, tokenizer = AutoModel.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)
    batch = tokenizer(["Hi.", "The boat drifted toward the river bank."], padding=True, return_tensors="pt")
    ids, mask = batch["input_ids"], batch["attention_mask"]
    bf16 = convert(copy.deepcopy(model), "bf16")
    linear = bf16.encoder.layer[0].attention.self.query
    with torch.no_grad():
        x = torch.zeros(2, linear.in_features, dtype=torch.bfloat16)
        assert onednn.fusable([linear], x) == BF16_KERNELS
        # Called anyway, weights() gives what this CPU can use.
        assert onednn.weights(linear)[0].is_mkldnn == BF16_KERNELS
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            states, _ = packed_hidden_states(bf16, ids, mask, model.config.num_hidden_layers)
            expected, _ = packed_hidden_states(model, ids, mask, model.config.num_hidden_layers)
    assert not w061(caught) and not onednn._state["broken"]
    for got, ref in zip(states, expected):
        assert torch.nn.functional.cosine_similarity(got.float(), ref, dim=-1).min() > 0.99


# The op itself, against torch


@pytest.mark.parametrize("activation", [None, "gelu", "gelu_new", "relu"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_onednn_linear_equals_torch(activation, dtype):
    if dtype == torch.bfloat16 and not BF16_KERNELS:
        pytest.skip("this CPU's oneDNN has no bf16 kernels: bf16 runs the modules")
    torch.manual_seed(0)
    linear = torch.nn.Linear(48, 96).to(dtype)
    x = torch.randn(37, 48, dtype=dtype)
    residual = torch.randn(37, 96, dtype=dtype)
    tol = dict(atol=1e-5, rtol=1e-4) if dtype == torch.float32 else dict(atol=0.05, rtol=0.02)
    with torch.no_grad():
        assert onednn.fusable([linear], x)
        expected = linear(x) if activation is None else ACT2FN[activation](linear(x))  # transformers' own
        torch.testing.assert_close(onednn.linear(x, *onednn.weights(linear), activation), expected, **tol)
        torch.testing.assert_close(onednn._reference(x, linear.weight, linear.bias, activation, None), expected, **tol)
        torch.testing.assert_close(onednn.linear(x, *onednn.weights(linear), residual=residual), linear(x) + residual, **tol)


@pytest.mark.skipif(not BF16_KERNELS, reason="this CPU's oneDNN has no bf16 kernels: weights() keeps bf16 weights plain")
@pytest.mark.parametrize("rows", [1, 37, 3000])
def test_reordered_bf16_weights_give_the_modules_outputs_and_follow_updates(rows):
    torch.manual_seed(0)
    parts = [torch.nn.Linear(48, 96).to(torch.bfloat16) for _ in range(3)]
    x = torch.randn(rows, 48, dtype=torch.bfloat16)
    tol = dict(atol=0.05, rtol=0.02)
    with torch.no_grad():
        weight, bias = onednn.weights(*parts)
        assert weight.is_mkldnn  # oneDNN's blocked layout, made once
        torch.testing.assert_close(onednn.linear(x, weight, bias), torch.cat([p(x) for p in parts], dim=-1), **tol)
        assert onednn.weights(*parts)[0] is weight
        parts[1].weight.add_(1.0)  # an in-place change bumps the version: made again
        again, _ = onednn.weights(*parts)
        assert again is not weight
        torch.testing.assert_close(onednn.linear(x, *onednn.weights(*parts)), torch.cat([p(x) for p in parts], dim=-1), **tol)


def test_fp32_projections_are_concatenated_once_and_follow_updates():
    """Q, K and V's concatenated weight is made once per set of weights, not
    on every forward batch, and remade when a weight or a bias changes."""
    torch.manual_seed(0)
    parts = [torch.nn.Linear(48, 96) for _ in range(3)]
    x = torch.randn(37, 48)
    with torch.no_grad():
        weight, bias = onednn.weights(*parts)
        assert onednn.weights(*parts)[0] is weight and onednn.weights(*parts)[1] is bias
        torch.testing.assert_close(onednn.linear(x, weight, bias), torch.cat([p(x) for p in parts], dim=-1))
        for change in (parts[1].weight, parts[2].bias):
            change.add_(1.0)  # in place, as an optimizer step: the version moves
            again = onednn.weights(*parts)
            assert again[0] is not weight
            weight = again[0]
            torch.testing.assert_close(onednn.linear(x, *again), torch.cat([p(x) for p in parts], dim=-1))
