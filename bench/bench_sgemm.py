"""The machine's fp32 matmul peak: MKL and oneDNN at the encoder's linear shapes.

Every linear layer of a BERT-style block is a [tokens, width] x [width, out]
product: the attention projections (out = width), the feed-forward up
projection (out = inner) and its down projection ([tokens, inner] x [inner,
width]). This times each at a few token counts and thread counts, best of 3
rounds of --repeats products, through both of torch's CPU gemms: torch.mm
(MKL, what nn.Linear calls) and oneDNN's linear (what the packed forward
calls, models/pytorch/onednn.py). It reports the GFLOP/s of each and the
peak per thread count over both, the rate that the useful work of
bench_padding.py and bench_profile.py is a share of. bench_padding.py times
only the feed-forward up projection at 4,096 rows ("ffn_up" below), beside
its own timings.

    nice -n 10 python bench/bench_sgemm.py --threads 1 2 --out bench/results/sgemm.json
"""
import argparse
import time
from pathlib import Path
from typing import Dict

import torch

from _common import RESULTS, emit, machine


BACKENDS = ("mkl", "onednn")


def gflops(rows: int, inner: int, cols: int, repeats: int, rounds: int = 3, backend: str = "mkl") -> float:
    """The best of `rounds` timings of `repeats` products, in GFLOP/s.

    backend: "mkl" (torch.mm) or "onednn" (oneDNN's linear, bias included).
    """
    a = torch.randn(rows, inner)
    if backend == "mkl":
        b = torch.randn(inner, cols)
        product = lambda: torch.mm(a, b)  # noqa: E731
    else:
        weight, bias = torch.randn(cols, inner), torch.zeros(cols)
        product = lambda: torch.ops.mkldnn._linear_pointwise(a, weight, bias, "none", [], "")  # noqa: E731
    product()  # warm-up: the first call allocates and picks a kernel
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(repeats):
            product()
        best = min(best, time.perf_counter() - start)
    return 2 * rows * inner * cols * repeats / best / 1e9


def sweep(width: int, inner: int, rows_options, repeats: int, backend: str) -> Dict[str, float]:
    shapes = {"attention_projection": (width, width), "ffn_up": (width, inner), "ffn_down": (inner, width)}
    return {
        f"{name}_rows{rows}": round(gflops(rows, k, n, repeats, backend=backend), 1)
        for name, (k, n) in shapes.items()
        for rows in rows_options
    }


def best_gflops(rows: int, inner: int, cols: int, repeats: int, rounds: int = 3) -> float:
    """The faster of the two backends at one shape."""
    return max(gflops(rows, inner, cols, repeats, rounds, backend) for backend in BACKENDS)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--width", type=int, default=384, help="hidden size (MiniLM-L6: 384)")
    parser.add_argument("--inner", type=int, default=1536, help="feed-forward size (MiniLM-L6: 1,536)")
    parser.add_argument("--rows", type=int, nargs="+", default=[512, 2048, 4096, 16384], help="tokens per product")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", type=Path, default=RESULTS / "sgemm.json")
    args = parser.parse_args()
    report = {
        "machine": machine(),
        "what": "fp32 GFLOP/s of torch.mm (MKL) and oneDNN's linear at the encoder's linear shapes, best of 3 rounds",
        "width": args.width,
        "inner": args.inner,
        "by_threads": {},
    }
    for threads in args.threads:
        torch.set_num_threads(threads)
        rates = {backend: sweep(args.width, args.inner, args.rows, args.repeats, backend) for backend in BACKENDS}
        report["by_threads"][str(threads)] = {
            "peak_gflops": max(max(r.values()) for r in rates.values()),
            **{f"{backend}_peak_gflops": max(r.values()) for backend, r in rates.items()},
            "shapes": rates,
        }
    emit(report, args.out)


if __name__ == "__main__":
    main()
