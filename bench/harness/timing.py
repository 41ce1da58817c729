"""Timing on a shared machine: interleaved runs, ratios chunk by chunk, and
the fp32 matmul rate that useful work is a share of."""
import statistics
import sys
import time
from typing import Callable, Dict, List, Optional

import torch

Runner = Callable[[List], None]
BACKENDS = ("mkl", "onednn")


def interleave(
    runners: Dict[str, Runner], items: List, chunks: int, warmup: int = 50, rounds: int = 1,
    samples: Optional[Dict[str, List[float]]] = None,
) -> Dict[str, float]:
    """Seconds each runner spends on `items`, `rounds` times over, run chunk by chunk in turn.

    The machine is shared and noisy: interleaving the runners chunk by chunk, rotating which goes first, makes a slow
    spell hit all of them alike, so their ratios hold even when the absolute times do not. With `samples`, each
    runner's time on each chunk is appended to samples[name].
    """
    for run in runners.values():
        run(items[:warmup])
    names = list(runners)
    seconds = dict.fromkeys(names, 0.0)
    size = -(-len(items) // chunks)
    for step in range(chunks * rounds):
        k, shift = step % chunks, step % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            runners[name](items[k * size : (k + 1) * size])
            spent = time.perf_counter() - start
            seconds[name] += spent
            if samples is not None:
                samples.setdefault(name, []).append(spent)
        print(f"chunk {step + 1}/{chunks * rounds}", {n: round(s, 1) for n, s in seconds.items()}, file=sys.stderr, flush=True)
    return seconds


def chunk_ratios(reference: List[float], path: List[float]) -> Dict[str, float]:
    """Median, lowest and highest of reference / path over paired chunks."""
    ratios = sorted(r / p for r, p in zip(reference, path))
    return {"median": round(statistics.median(ratios), 3), "min": round(ratios[0], 3), "max": round(ratios[-1], 3)}


def with_threads(threads: int, run: Runner) -> Runner:
    """`run` at `threads` torch threads, whatever ran before it."""

    def go(items):
        torch.set_num_threads(threads)
        run(items)

    return go


def best_of(rounds: int, run: Callable[[], object]) -> float:
    """The shortest of `rounds` timings of `run()`, in seconds."""
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def gflops(rows: int, inner: int, cols: int, repeats: int, rounds: int = 3, backend: str = "mkl") -> float:
    """The best of `rounds` timings of `repeats` [rows, inner] x [inner, cols] products in GFLOP/s, through torch.mm
    (MKL, what nn.Linear calls) or oneDNN's linear (what the packed forward calls, bias included)."""
    a = torch.randn(rows, inner)
    if backend == "mkl":
        b = torch.randn(inner, cols)
        product = lambda: torch.mm(a, b)  # noqa: E731
    else:
        weight, bias = torch.randn(cols, inner), torch.zeros(cols)
        product = lambda: torch.ops.mkldnn._linear_pointwise(a, weight, bias, "none", [], "")  # noqa: E731
    product()  # the first call allocates and picks a kernel
    return 2 * rows * inner * cols * repeats / best_of(rounds, lambda: [product() for _ in range(repeats)]) / 1e9
