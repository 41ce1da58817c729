"""The machine's fp32 matmul peak at the encoder's linear shapes (attention
projections, feed-forward up and down), through torch.mm (MKL) and oneDNN's
linear, best of 3 rounds: the rate bench_speed.py's useful work is a share of.

    nice -n 10 python bench/bench_sgemm.py --threads 1 2 --out bench/results/sgemm.json
"""
import torch

from harness import RESULTS, emit, options, parse
from harness.timing import BACKENDS, gflops

WIDTH, INNER = 384, 1536  # MiniLM-L6's hidden and feed-forward sizes


def main():
    parser = options(__doc__, RESULTS / "sgemm.json", threads=None)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = parse(parser)
    shapes = {"attention_projection": (WIDTH, WIDTH), "ffn_up": (WIDTH, INNER), "ffn_down": (INNER, WIDTH)}
    report = {"what": "fp32 GFLOP/s of torch.mm (MKL) and oneDNN's linear at the encoder's linear shapes, best of 3 rounds",
              "width": WIDTH, "inner": INNER, "by_threads": {}}
    for threads in args.threads:
        torch.set_num_threads(threads)
        rates = {backend: {f"{name}_rows{rows}": round(gflops(rows, k, n, 10, backend=backend), 1)
                           for name, (k, n) in shapes.items() for rows in (512, 2048, 4096, 16384)} for backend in BACKENDS}
        report["by_threads"][str(threads)] = {"peak_gflops": max(max(r.values()) for r in rates.values()),
                                              **{f"{b}_peak_gflops": max(r.values()) for b, r in rates.items()}, "shapes": rates}
    emit(report, args.out)


if __name__ == "__main__":
    main()
