"""Faster CPU inference for a Hugging Face encoder: bf16 and int8.

`convert` turns a loaded encoder into one precision; `supports` says whether
this CPU runs it natively (if not, keep fp32: it is faster); `truncate_layers`
stops the forward pass at a given hidden layer. The converted model still
returns fp32 hidden states. Figures: docs/inference.md.

- "fp32": unchanged.
- "bf16": the whole model is cast to bfloat16 (weights, LayerNorm, softmax,
  residual sums); a forward hook casts the outputs back to fp32. Nothing has
  to stay fp32: on MiniLM the top layer kept a mean token cosine of 0.9999
  with fp32, and torch's CPU LayerNorm and softmax accumulate in fp32 anyway.
  Casting the whole model was 3.2x fp32 on a Xeon with AMX, where bf16 linears
  between fp32 LayerNorms (1.9x) and autocast (2.7x) lost time to casts. Only
  native bf16 is fast (x86 `amx_bf16` or `avx512_bf16`, ARM `bf16`): oneDNN
  then runs the matmuls on AMX tiles (`brg_matmul:avx10_1_512_amx`). Without
  it torch falls back to a reference bf16 gemm, 6-7x slower than fp32 on an
  AVX2-only CPU, so `supports("bf16")` is False there.
- "int8": the linears multiply int8 by int8 through fbgemm's dynamic
  quantized linear, with three changes that buy the fidelity that torch's
  plain `quantize_dynamic` recipe lacks (its top layer fell to a mean cosine
  of 0.91 with fp32 on MiniLM, EWT dev):
    * per-token activation ranges: fbgemm quantizes the whole input with one
      range, so one large token coarsens every other. Each row is mapped
      onto [-1, 1] first and mapped back after the product (exact algebra
      for a linear map);
    * per-output-channel weight scales;
    * SmoothQuant (Xiao et al., 2023): a few input channels carry values ten
      times the median and set the range; dividing them by s and multiplying
      the matching weight columns by s moves that difficulty into the
      weights, which are quantized per channel. s comes from a few
      calibration sentences.
  The feed-forward down projections stay fp32 (`fp32_linears`). Without VNNI
  (`avx512_vnni`, `avx_vnni`) fbgemm multiplies with AVX2's vpmaddubsw, whose
  int16 pair sums saturate for full-range uint8 inputs, so activations keep
  7 bits there (`int8_reduce_range`); with VNNI they keep 8, and fidelity
  is higher.

Neither bf16 nor int8 is for fine-tuning (`trainable`): int8 weights are
packed constants with no gradient, and an optimizer step on bf16 weights
drops every update smaller than 1/256 of the weight.
"""
import copy
import functools
import platform
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, Iterator, List, Mapping, Optional, Sequence

import torch
from torch import nn

from ...errors import Errors, SpacyCtxError, Warnings

PRECISIONS = ("fp32", "bf16", "int8")

# CPU flags (as /proc/cpuinfo spells them) under which a precision runs on
# native instructions.
_BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16", "bf16"})
_VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
# fbgemm's int8 kernels need AVX2 at least (x86 only).
_INT8_FLAGS = frozenset({"avx2"})


@functools.lru_cache(maxsize=1)
def cpu_flags() -> FrozenSet[str]:
    """The CPU feature flags of this machine, as /proc/cpuinfo lists them.

    Read from "flags" (x86) or "Features" (ARM). Empty where there is no
    /proc/cpuinfo; then torch's own dispatch level stands in (e.g. "avx2").
    """
    path = Path("/proc/cpuinfo")
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("flags", "Features"):
                return frozenset(value.split())
    capability = torch.backends.cpu.get_cpu_capability().lower()
    return frozenset({capability}) if capability != "default" else frozenset()


def supports(precision: str, flags: Optional[Iterable[str]] = None) -> bool:
    """Whether `precision` runs on native instructions of this CPU.

    flags: CPU flags to judge instead of this machine's (for tests and for
        planning on another machine).
    A False answer means: this precision would be slower than fp32 or would
    not run, so keep fp32 (and warn once).
    """
    _check_precision(precision)
    flags = cpu_flags() if flags is None else frozenset(flags)
    if precision == "fp32":
        return True
    if precision == "bf16":
        return bool(flags & _BF16_FLAGS) and torch.backends.mkldnn.is_available()
    return (
        platform.machine().lower() in ("x86_64", "amd64")
        and bool(flags & _INT8_FLAGS)
        and "fbgemm" in torch.backends.quantized.supported_engines
    )


def int8_reduce_range(flags: Optional[Iterable[str]] = None) -> bool:
    """Whether int8 activations must keep 7 bits to avoid int16 saturation.

    True on x86 CPUs without VNNI, where fbgemm's AVX2 kernel sums pairs of
    uint8 x int8 products in int16 (vpmaddubsw): 2 * 255 * 127 overflows it,
    2 * 127 * 127 does not. VNNI's vpdpbusd sums in int32.
    """
    flags = cpu_flags() if flags is None else frozenset(flags)
    return not flags & _VNNI_FLAGS


# Why each reduced precision cannot be fine-tuned (for error E061).
NOT_TRAINABLE = {
    "bf16": "an optimizer step on bf16 weights drops every update smaller than 1/256 of the weight",
    "int8": "int8 weights are packed constants without gradients",
}


def trainable(precision: str) -> bool:
    """Whether an encoder converted to `precision` can be fine-tuned.

    Only fp32: int8 weights are packed constants without gradients, and bf16
    weights lose every optimizer update below 1/256 of their size. A caller
    that fine-tunes the encoder should refuse the others with a clear error.
    """
    _check_precision(precision)
    return precision == "fp32"


def convert(
    model: nn.Module,
    precision: str,
    calibration: Iterable[Mapping[str, torch.Tensor]] = (),
    *,
    skip: Optional[Iterable[str]] = None,
    alpha: float = 0.5,
    reduce_range: Optional[bool] = None,
) -> nn.Module:
    """Convert an encoder to `precision`, in place, for inference.

    model: a loaded Hugging Face encoder. Returned in eval mode, taking the
        same inputs and returning fp32 outputs. For int8 its state_dict still
        holds the fp32 weights under their names (`save_pretrained` writes the
        fp32 checkpoint); for bf16 the weights themselves become bf16, so save
        the unconverted model instead.
    calibration: for int8 (required there), a few batches of model inputs
        (dicts of input_ids and attention_mask) to measure each linear's
        input channel ranges for SmoothQuant: `calibration_batches(tokenizer)`.
        Eight short sentences were as good as 128 (docs/inference.md).
    skip: int8 only: qualified names of linears that stay fp32. None:
        `fp32_linears(model)`.
    alpha: SmoothQuant's migration strength, 0 (none) to 1 (all of it into
        the weights); 0.5 was more faithful than 0.4 and 0.7 on MiniLM.
    reduce_range: 7-bit int8 activations; None decides by the CPU
        (`int8_reduce_range`).
    """
    _check_precision(precision)
    model.eval()
    if precision == "fp32":
        return model
    if precision == "bf16":
        model.to(torch.bfloat16)
        model.register_forward_hook(_outputs_to_fp32)
        return model
    skip = set(fp32_linears(model) if skip is None else skip)
    linears = {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and name not in skip
    }
    calibration = list(calibration)
    if not calibration:
        raise SpacyCtxError(Errors.E064)
    ranges = channel_ranges(model, linears, calibration)
    if reduce_range is None:
        reduce_range = int8_reduce_range()
    for name, linear in linears.items():
        smooth = _smoothing(linear, ranges[name], alpha)
        _replace(model, name, Int8Linear(linear, smooth, reduce_range=reduce_range))
    return model


def inference_copy(
    model: nn.Module,
    precision: str,
    calibration: Iterable[Mapping[str, torch.Tensor]] = (),
    device: Optional[torch.device] = None,
) -> Optional[nn.Module]:
    """A copy of `model` converted to `precision` for inference, or None.

    None for "fp32", and where `device` (default: the model's) cannot run
    the precision natively: then a warning (W060, shown once) says so and
    the caller keeps running `model` in fp32, which is faster there. The
    copy leaves `model` in fp32, to be saved and fine-tuned.
    """
    _check_precision(precision)
    if precision == "fp32":
        return None
    device = device or next(model.parameters()).device
    reason = unsupported_reason(precision, device)
    if reason:
        warnings.warn(Warnings.W060.format(precision=precision, device=device.type.upper(), reason=reason))
        return None
    return convert(copy.deepcopy(model), precision, calibration)


def unsupported_reason(precision: str, device: torch.device) -> str:
    """Why `device` cannot run `precision` natively ("" if it can)."""
    if precision == "fp32":
        return ""
    if device.type == "cuda":
        if precision == "int8":
            return "int8 runs on CPU only (fbgemm)"
        return "" if torch.cuda.is_bf16_supported() else "this GPU has no bf16"
    if device.type != "cpu":
        return f"{precision} is implemented for CPU and CUDA only"
    if not supports(precision):
        needed = _BF16_FLAGS if precision == "bf16" else _INT8_FLAGS
        return f"needs one of the CPU flags {', '.join(sorted(needed))}"
    return ""


def fp32_linears(model: nn.Module) -> List[str]:
    """The linears that int8 `convert` keeps in fp32 by default, by qualified name.

    The pooler (not part of the hidden states) and each layer's feed-forward
    down projection, recognised as a linear from `config.intermediate_size`
    features back to `config.hidden_size` (BERT's `output.dense`,
    DistilBERT's `ffn.lin2`): its input is the GELU output, sparse with rare
    large values that 7 bits resolve badly. On MiniLM these six linears
    caused 60% of the last layer's int8 error (quantizing one linear at a
    time), and keeping them fp32 lifted its mean word cosine on EWT dev above
    0.999 (docs/inference.md).
    """
    config = getattr(model, "config", None)
    inner = getattr(config, "intermediate_size", None)
    width = getattr(config, "hidden_size", None)
    names = []
    for name, module in model.named_modules():
        if not isinstance(module, nn.Linear):
            continue
        is_pooler = name.split(".")[0] == "pooler"
        is_ffn_down = inner is not None and (module.in_features, module.out_features) == (inner, width)
        if is_pooler or is_ffn_down:
            names.append(name)
    return names


# A small, varied English sample: SmoothQuant needs only each channel's
# typical peak, and the outlier channels are the same for any text.
CALIBRATION_TEXTS = (
    "The quick brown fox jumps over the lazy dog.",
    "She sold 3,000 shares of Apple Inc. on Monday, March 4th, 2019!",
    "I can't believe it's not butter :)",
    "Dr. Smith (the new director) will arrive at 10:30 a.m. in New York.",
    "What do you think about the proposal?",
    "lol ok see u tmrw",
    "The committee approved the budget by a vote of 7 to 2.",
    "Photosynthesis converts light energy into chemical energy in plants.",
)


def calibration_batches(tokenizer, texts: Sequence[str] = CALIBRATION_TEXTS) -> List[Dict[str, torch.Tensor]]:
    """One batch of model inputs for `convert(..., "int8", calibration)`."""
    enc = tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")
    return [{"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}]


def channel_ranges(
    model: nn.Module,
    linears: Mapping[str, nn.Linear],
    batches: Iterable[Mapping[str, torch.Tensor]],
) -> Dict[str, torch.Tensor]:
    """The largest |input| of each channel of each linear over `batches`."""
    ranges: Dict[str, torch.Tensor] = {}

    def record(name):
        def hook(module, inputs):
            # [batch, seq_len, in_features] -> [in_features]
            x = inputs[0].detach()
            seen = x.reshape(-1, x.shape[-1]).abs().amax(0)
            ranges[name] = torch.maximum(ranges[name], seen) if name in ranges else seen

        return hook

    handles = [lin.register_forward_pre_hook(record(n)) for n, lin in linears.items()]
    try:
        with torch.inference_mode():
            for batch in batches:
                model(**batch)
    finally:
        for handle in handles:
            handle.remove()
    return ranges


class Int8Linear(nn.Module):
    """fbgemm's int8 linear with per-token input ranges and SmoothQuant.

    y = x W^T + b is computed as
        x' = x / s                        (smoothing, per input channel)
        c, r = centre and half-range of each row of x'
        y = r * Q((x' - c) / r, W s) + c * sum_k (W s)[:, k] + b
    where Q is fbgemm's dynamic int8 product with per-output-channel weight
    scales. Its single per-tensor input range now fits every row, since each
    row spans [-1, 1]. The fp32 weight and bias stay in the state_dict under
    their own names; the packed int8 weight and the derived vectors are not
    saved. CPU only (fbgemm).
    """

    def __init__(self, linear: nn.Linear, smooth: Optional[torch.Tensor] = None, reduce_range: bool = True):
        super().__init__()
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        self.reduce_range = reduce_range
        _keep_fp32(self, linear)
        if smooth is None:
            smooth = torch.ones(self.in_features)
        # [out, in]: the smoothing scale moves into the weight's columns.
        weight = self.weight * smooth
        scale = weight.abs().amax(1).clamp_min(1e-8) / 127.0
        zero = torch.zeros(self.out_features, dtype=torch.long)
        with warnings.catch_warnings():
            # torch 2.13 marks quantized tensors as deprecated (its successor is
            # torchao), but fbgemm's packed linear still takes one.
            warnings.filterwarnings("ignore", message=".*quantized tensor creation", category=UserWarning)
            qweight = torch.quantize_per_channel(weight, scale.double(), zero, 0, torch.qint8)
        self.packed = torch.ops.quantized.linear_prepack(qweight, None)
        self.register_buffer("inv_smooth", 1.0 / smooth.float(), persistent=False)
        # [out]: what the centring took out, put back as c * the row sums.
        self.register_buffer("weight_sum", qweight.dequantize().sum(1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # [..., in]; a new tensor, so the in-place steps leave x alone.
        x = x * self.inv_smooth
        hi = x.amax(-1, keepdim=True)
        lo = x.amin(-1, keepdim=True)
        centre = (hi + lo) * 0.5
        half = ((hi - lo) * 0.5).clamp_min(1e-6)
        x.sub_(centre).div_(half)
        # [..., out]
        y = torch.ops.quantized.linear_dynamic(x, self.packed, self.reduce_range)
        y.mul_(half).addcmul_(centre, self.weight_sum)
        return y if self.bias is None else y.add_(self.bias)


def _outputs_to_fp32(module: nn.Module, args, output):
    # A forward hook: bf16 hidden states leave the model as fp32, so callers
    # (and numpy, which has no bf16) see the dtype they always saw.
    if torch.is_tensor(output):
        return output.float() if output.dtype == torch.bfloat16 else output
    if isinstance(output, (tuple, list)) and not hasattr(output, "keys"):
        return type(output)(_outputs_to_fp32(module, args, value) for value in output)
    if hasattr(output, "keys"):  # a transformers ModelOutput
        for key in list(output.keys()):
            output[key] = _outputs_to_fp32(module, args, output[key])
    return output


def _keep_fp32(module: nn.Module, linear: nn.Linear) -> None:
    # Buffers, not parameters: the converted module is for inference, and an
    # optimizer must find nothing to update in it.
    module.register_buffer("weight", linear.weight.detach().float())
    bias = None if linear.bias is None else linear.bias.detach().float()
    module.register_buffer("bias", bias)


def truncate_layers(model: nn.Module, k: int) -> nn.Module:
    """Keep the encoder's first k hidden layers and drop the ones above, in place.

    The forward pass then stops at layer k, and output_hidden_states returns
    layers 0..k (the embedding output, then hidden layers 1..k), identical
    to the full model's for families whose hidden states are the layers' own
    outputs (BERT, RoBERTa, ELECTRA, XLM-R, DeBERTa, DistilBERT; not those
    that normalise the last state, e.g. ModernBERT, T5: see `truncation_is_exact`).
    Finds the layers at one of `_LAYER_PATHS`; add a family's path there.
    `truncated_layers` does the same for the duration of a `with` block.
    """
    _set_layers(model, k)
    return model


@contextmanager
def truncated_layers(model: nn.Module, k: int) -> Iterator[nn.Module]:
    """Run `model` with only its first k hidden layers inside the block.

    The layer modules are shared, not copied: the same parameters, no extra
    memory, and the full stack (and the config's layer count) come back on
    exit, so saving and fine-tuning see the whole model.
    """
    saved = _set_layers(model, k)
    try:
        yield model
    finally:
        _restore_layers(model, saved)


def truncation_is_exact(model: nn.Module, k: int, inputs: Mapping[str, torch.Tensor]) -> bool:
    """Whether hidden state k of the model run with k layers equals the full
    model's on `inputs`. False where the family normalises or projects its
    last hidden state (ModernBERT's final norm, T5's final layer norm), or
    where its layer stack is not found."""
    try:
        _find_layers(model)
    except SpacyCtxError:
        return False
    with torch.inference_mode():
        full = model(**inputs, output_hidden_states=True).hidden_states[k]
        with truncated_layers(model, k):
            states = model(**inputs, output_hidden_states=True).hidden_states
    return len(states) == k + 1 and torch.allclose(states[k], full, rtol=1e-4, atol=1e-5)


def _set_layers(model: nn.Module, k: int):
    path, layers = _find_layers(model)
    if not 1 <= k <= len(layers):
        raise SpacyCtxError(Errors.E062.format(k=k, n_layers=len(layers)))
    parent_path, _, attr = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    config_keys = [key for key in ("num_hidden_layers", "n_layers") if hasattr(model.config, key)]
    saved = (parent, attr, layers, {key: getattr(model.config, key) for key in config_keys})
    setattr(parent, attr, nn.ModuleList(list(layers)[:k]))
    # Keep the config truthful: code that sizes things by it (e.g. a
    # LayerEncoder's layer count) then sees k + 1 hidden states.
    for key in config_keys:
        setattr(model.config, key, k)
    return saved


def _restore_layers(model: nn.Module, saved) -> None:
    parent, attr, layers, config_values = saved
    setattr(parent, attr, layers)
    for key, value in config_values.items():
        setattr(model.config, key, value)


# Where each model family keeps its layer stack, relative to the base model.
_LAYER_PATHS = ("encoder.layer", "transformer.layer", "layers", "encoder.layers")


def _find_layers(model: nn.Module):
    for path in _LAYER_PATHS:
        try:
            layers = model.get_submodule(path)
        except AttributeError:
            continue
        if isinstance(layers, nn.ModuleList):
            return path, layers
    raise SpacyCtxError(
        Errors.E063.format(model=type(model).__name__, paths=", ".join(_LAYER_PATHS))
    )


def _smoothing(linear: nn.Linear, x_range: torch.Tensor, alpha: float) -> torch.Tensor:
    # s_j = max|X_j|^alpha / max|W_:,j|^(1 - alpha), as in SmoothQuant.
    w_range = linear.weight.detach().abs().amax(0).clamp_min(1e-5)
    return (x_range.float().clamp_min(1e-5) ** alpha / w_range ** (1 - alpha)).clamp_min(1e-5)


def _replace(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, attr, module)


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise SpacyCtxError(Errors.E060.format(precision=precision, options=", ".join(PRECISIONS)))
