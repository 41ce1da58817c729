"""What this CPU runs natively: its feature flags, and what they imply for
reduced-precision inference (bf16 matmuls, fbgemm's int8 kernels)."""
import functools
import platform
from pathlib import Path
from typing import FrozenSet, Iterable, Optional

import torch

# CPU flags (as /proc/cpuinfo spells them) under which a precision runs on
# native instructions.
BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16", "bf16"})
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})
# fbgemm's int8 kernels need AVX2 at least (x86 only).
INT8_FLAGS = frozenset({"avx2"})


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


def native_bf16(flags: Optional[Iterable[str]] = None) -> bool:
    """Whether this CPU (or one with `flags`) multiplies bf16 natively
    (x86 `amx_bf16` or `avx512_bf16`, ARM `bf16`) and torch can use it.
    Without it torch falls back to a reference bf16 gemm, far slower than
    fp32 (docs/inference.md)."""
    flags = cpu_flags() if flags is None else frozenset(flags)
    return bool(flags & BF16_FLAGS) and torch.backends.mkldnn.is_available()


def native_int8(flags: Optional[Iterable[str]] = None) -> bool:
    """Whether fbgemm's int8 kernels run here: x86 with AVX2 at least."""
    flags = cpu_flags() if flags is None else frozenset(flags)
    return (
        platform.machine().lower() in ("x86_64", "amd64")
        and bool(flags & INT8_FLAGS)
        and "fbgemm" in torch.backends.quantized.supported_engines
    )


def int8_reduce_range(flags: Optional[Iterable[str]] = None) -> bool:
    """Whether int8 activations must keep 7 bits to avoid int16 saturation.

    True on x86 CPUs without VNNI, where fbgemm's AVX2 kernel sums pairs of
    uint8 x int8 products in int16 (vpmaddubsw): 2 * 255 * 127 overflows it,
    2 * 127 * 127 does not. VNNI's vpdpbusd sums in int32.
    """
    flags = cpu_flags() if flags is None else frozenset(flags)
    return not flags & VNNI_FLAGS
