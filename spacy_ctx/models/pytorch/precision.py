"""Reduced-precision copies of a Hugging Face encoder for inference: bf16 and int8.

`convert` turns a loaded encoder into one precision, and `inference_copy`
makes a converted copy beside the fp32 model that is saved and fine-tuned;
`supports` says whether this CPU runs a precision natively (if not, fp32 is
faster). A converted model still returns fp32 hidden states. Why each
recipe, and what it measured: docs/inference.md.

- "fp32": unchanged.
- "bf16": the whole model is cast to bfloat16; a forward hook casts the
  outputs back to fp32. Casting the whole model beats bf16 linears between
  fp32 LayerNorms and autocast, which lose time to casts.
- "int8": the linears multiply int8 by int8 through fbgemm's dynamic
  quantized linear, with per-token activation ranges (each row is mapped
  onto [-1, 1] and back, exact algebra for a linear map), per-output-channel
  weight scales, and SmoothQuant (Xiao et al., 2023), which moves the range
  of a few outlier input channels into the weights. The feed-forward down
  projections stay fp32 (`fp32_linears`). Without VNNI, activations keep 7
  bits (`cpu.int8_reduce_range`).

Neither bf16 nor int8 is for fine-tuning (`trainable`): int8 weights are
packed constants with no gradient, and an optimizer step on bf16 weights
drops every update smaller than 1/256 of the weight.
"""
import copy
import warnings
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

import torch
from torch import nn

from ...errors import Errors, SpacyCtxError, Warnings
from .cpu import BF16_FLAGS, INT8_FLAGS, int8_reduce_range, native_bf16, native_int8

PRECISIONS = ("fp32", "bf16", "int8")


def supports(precision: str, flags: Optional[Iterable[str]] = None) -> bool:
    """Whether `precision` runs on native instructions of this CPU.

    flags: CPU flags to judge instead of this machine's (for tests and for
        planning on another machine).
    A False answer means: this precision would be slower than fp32 or would
    not run, so keep fp32 (and warn once).
    """
    _check_precision(precision)
    if precision == "fp32":
        return True
    return native_bf16(flags) if precision == "bf16" else native_int8(flags)


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
        A few short sentences are enough (docs/inference.md).
    skip: int8 only: qualified names of linears that stay fp32. None:
        `fp32_linears(model)`.
    alpha: SmoothQuant's migration strength, 0 (none) to 1 (all of it into
        the weights); the default is the most faithful value measured
        (docs/inference.md).
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
        needed = BF16_FLAGS if precision == "bf16" else INT8_FLAGS
        return f"needs one of the CPU flags {', '.join(sorted(needed))}"
    return ""


def fp32_linears(model: nn.Module) -> List[str]:
    """The linears that int8 `convert` keeps in fp32 by default, by qualified name.

    The pooler (not part of the hidden states) and each layer's feed-forward
    down projection, recognised as a linear from `config.intermediate_size`
    features back to `config.hidden_size` (BERT's `output.dense`,
    DistilBERT's `ffn.lin2`): its input is the GELU output, sparse with rare
    large values that 7 bits resolve badly. Which share of the int8 error
    they cause is measured in docs/inference.md.
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
