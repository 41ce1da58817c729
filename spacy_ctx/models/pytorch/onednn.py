"""Linear layers through oneDNN, with their activation or residual sum fused.

torch's CPU `nn.Linear` calls MKL's sgemm, which on AMD CPUs runs well
below what the cores allow: at MiniLM's feed-forward shapes on a 2-core
AVX-512 EPYC, oneDNN's fp32 linear with its GELU fused did 1.39x MKL's
linear + GELU at two threads (docs/inference.md). `torch.ops.mkldnn` is
the op that inductor's CPU freezing emits; calling it here gets that gain
without compiling anything, in fp32 and bf16, within 1e-5 of `nn.Linear`.

It has no backward, so it serves inference alone: `fusable` says whether
a set of linears and an input can take it, and callers fall back to the
modules themselves where they cannot (gradients, GPU, int8, bf16 on a CPU
whose oneDNN has no bf16 kernels, LoRA adapters left unmerged). `weights`
gives the weight and bias to pass, of one linear or of several run as one.

It fails safe: should the op still fail on some input, `linear` warns once
(W061), computes that call with torch's own ops (from the plain weight, also
when it was given oneDNN's reordered one), and `fusable` says no to that
dtype from then on.
"""
import warnings
import weakref
from typing import Iterable, Optional, Tuple

import torch
from torch import nn

from ...errors import Warnings

# Hugging Face `hidden_act` names -> oneDNN (post-op, algorithm).
ACTIVATIONS = {
    "gelu": ("gelu", "none"),  # erf GELU, as torch's default
    "gelu_new": ("gelu", "tanh"),
    "gelu_pytorch_tanh": ("gelu", "tanh"),
    "relu": ("relu", ""),
}
_AVAILABLE = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")
# The dtypes this CPU's oneDNN runs: bf16 needs AVX-512 (bw, vl, dq) or
# AVX-NE-CONVERT, which torch reports as below.
_DTYPES = {torch.float32} | ({torch.bfloat16} if _AVAILABLE and torch.ops.mkldnn._is_mkldnn_bf16_supported() else set())
# Whether fp32 linears go through oneDNN in the packed forward: only where
# it beats torch's own (MKL's sgemm). On the AVX-512 EPYC oneDNN ran MiniLM's
# feed-forward 1.39x as fast; on an AVX2-only Zen 3 the packed MPNet ran
# 1.10x the transformers loop through it against 1.21x through the modules
# (docs/inference.md), so there the modules run. bf16 takes oneDNN wherever
# it has bf16 kernels.
FP32_FASTER = torch.backends.cpu.get_cpu_capability() == "AVX512"
# The dtypes the op failed on here (warned once): the modules run them.
_state = {"broken": set()}


def fusable(linears: Iterable[nn.Module], x: torch.Tensor) -> bool:
    """Whether every module is a plain `nn.Linear` that oneDNN can run on x:
    a CPU tensor of the weights' dtype (fp32, or bf16 where this CPU's
    oneDNN has bf16 kernels), with no gradient being recorded."""
    if not _AVAILABLE or torch.is_grad_enabled() or x.device.type != "cpu":
        return False
    if x.dtype not in _DTYPES or x.dtype in _state["broken"]:
        return False
    return all(type(m) is nn.Linear and m.bias is not None and m.weight.dtype == x.dtype for m in linears)


# first linear -> (the linears' weights and biases: identity and versions;
# the weight and bias to pass)
_reordered: "weakref.WeakKeyDictionary[nn.Module, tuple]" = weakref.WeakKeyDictionary()


def weights(*linears: nn.Linear) -> Tuple[torch.Tensor, torch.Tensor]:
    """The weight and bias of `linears` concatenated by output (one matmul
    for several projections of the same input; one linear: its own).

    Several linears' concatenation is made once and kept on the first
    linear while their weights are unchanged (the key holds each tensor's
    identity and version, so an optimizer step or a load remakes it): at
    base size the three attention projections are 7 MB of fp32 a layer,
    copied on every forward batch otherwise. bf16 weights are also reordered
    into oneDNN's blocked layout, which there is 6-9% faster at MiniLM's
    shapes (fp32 gains nothing from it). Where this CPU's oneDNN has no bf16
    kernels, the reorder would fail: plain weights.
    """
    reorder = linears[0].weight.dtype == torch.bfloat16 and torch.bfloat16 in _DTYPES
    if len(linears) == 1 and not reorder:
        return linears[0].weight, linears[0].bias
    key = tuple((t.data_ptr(), t._version) for m in linears for t in (m.weight, m.bias))
    cached = _reordered.get(linears[0])
    if cached is None or cached[0] != key:
        weight = torch.cat([m.weight for m in linears]) if len(linears) > 1 else linears[0].weight
        bias = torch.cat([m.bias for m in linears]) if len(linears) > 1 else linears[0].bias
        if reorder:
            weight = torch.ops.mkldnn._reorder_linear_weight(weight)
        cached = (key, weight, bias)
        _reordered[linears[0]] = cached
    return cached[1], cached[2]


def forget(model: nn.Module) -> None:
    """Drop the concatenated weights `weights` keeps for `model`'s linears.

    Its key catches what torch does to a weight, but not a write that goes
    around torch: thinc's optimizers update the weights in place through a
    NumPy view of their memory, which leaves each tensor's pointer and
    version as they were. So whoever updates the weights that way says so.
    """
    for module in model.modules():
        _reordered.pop(module, None)


def linear(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    activation: Optional[str] = None,
    residual: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """`activation(x @ weight.T + bias)` or `x @ weight.T + bias + residual`
    in one oneDNN call, on inputs that `fusable` accepted.

    activation: a Hugging Face `hidden_act` name in ACTIVATIONS, or None.
    """
    try:
        if residual is not None:
            return torch.ops.mkldnn._linear_pointwise.binary(x, residual, weight, bias, "add")
        attr, algorithm = ACTIVATIONS[activation] if activation is not None else ("none", "")
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, attr, [], algorithm)
    except RuntimeError as err:
        # A kernel this build lacks for the CPU at hand, or an input it
        # rejects: say so once, and from then on let callers run the modules.
        if x.dtype not in _state["broken"]:
            _state["broken"].add(x.dtype)
            warnings.warn(Warnings.W061.format(error=str(err).splitlines()[0]))
        return _reference(x, weight, bias, activation, residual)


def _reference(x, weight, bias, activation, residual):
    """What `linear` computes, through torch's own ops. `weight` may be the
    reordered one of `weights`, which F.linear cannot read: its plain
    layout comes back, exactly (reordering moves values, it rounds none)."""
    if weight.is_mkldnn:
        weight = weight.to_dense()
    out = nn.functional.linear(x, weight, bias)
    if residual is not None:
        return out + residual
    if activation is None:
        return out
    attr, algorithm = ACTIVATIONS[activation]
    if attr == "relu":
        return nn.functional.relu(out)
    return nn.functional.gelu(out, approximate="tanh" if algorithm == "tanh" else "none")
