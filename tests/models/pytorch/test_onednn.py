"""oneDNN's linear, as the packed forward calls it, against torch's."""
import pytest
import torch
from transformers.activations import ACT2FN

from spacy_ctx.models.pytorch import onednn

from ...reference import reference_or_minilm

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("family", ["bert-cased", "minilm"])
def test_fused_linears_run_in_inference_and_match_the_modules(tiny_model, family):
    from spacy_ctx.models.pytorch.packed import packed_hidden_states

    tokenizer, model = reference_or_minilm(tiny_model, family)
    batch = tokenizer(["Hi.", "The boat drifted toward the river bank."], padding=True, return_tensors="pt")
    ids, mask = batch["input_ids"], batch["attention_mask"]
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
