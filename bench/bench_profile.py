"""Where the encoder's time goes: torch.profiler over `nlp.pipe` at 1 and 2
torch threads, grouped into matmuls, attention, per-token elementwise ops,
copies and indexing, other torch ops, and what runs outside torch ops (our
own Python and NumPy: planning, pooling, storing, the mix), with cProfile's
split of that part by spacy_ctx module.

    nice -n 10 python bench/bench_profile.py --sentences 800 --threads 1 2

The default pipeline (the bundled MiniLM, packed forward, every layer
stored), `nlp.pipe(batch_size=64)` over UD EWT dev sentences, after a
warm-up. Self CPU time of each torch op, measured on the calling thread (an
op's intra-op threads count inside its time). JSON: bench/results/profile.json.
"""
import argparse
import cProfile
import pstats
import time
from collections import defaultdict
from pathlib import Path

import torch

from _common import DATA, EWT, RESULTS, emit, machine, sentences
from spacy_ctx.pipeline.loading import load_pipeline

BATCH_SIZE = 64
GROUPS = {
    "matmul": ("addmm", "aten::mm", "bmm", "aten::matmul", "aten::linear", "mkldnn", "baddbmm"),
    "attention": ("scaled_dot_product", "softmax", "flash_attention"),
    "elementwise": ("gelu", "layer_norm", "aten::add", "aten::mul", "aten::div", "aten::sub", "tanh",
                    "dropout", "aten::where", "aten::sum", "aten::mean", "aten::maximum", "aten::fill_", "aten::clamp"),
    "copies_and_indexing": ("index", "copy", "aten::cat", "aten::stack", "contiguous", "clone", "aten::to",
                            "_to_copy", "zeros", "empty", "scatter", "gather", "embedding", "split", "aten::narrow"),
}


def group_of(name: str) -> str:
    for group, keys in GROUPS.items():
        if any(key in name for key in keys):
            return group
    return "other_torch"


def profile_once(nlp, texts):
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in nlp.pipe(texts, batch_size=BATCH_SIZE):
            pass
        wall = time.perf_counter() - start
    groups = defaultdict(float)
    ops = defaultdict(float)
    for event in prof.key_averages():
        seconds = event.self_cpu_time_total / 1e6
        groups[group_of(event.key)] += seconds
        ops[event.key] += seconds
    return wall, dict(groups), dict(sorted(ops.items(), key=lambda kv: -kv[1])[:12])


def python_split(nlp, texts):
    """Seconds outside torch, by spacy_ctx module (cProfile's tottime of
    functions defined there; torch's own Python layers go to 'torch')."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in nlp.pipe(texts, batch_size=BATCH_SIZE):
        pass
    profiler.disable()
    split = defaultdict(float)
    for (path, _, name), (_, _, tottime, _, _) in pstats.Stats(profiler).stats.items():
        if "/spacy_ctx/" in path:
            key = "spacy_ctx/" + path.split("/spacy_ctx/")[1]
        elif "/torch/" in path or (path == "~" and "torch" in name):
            key = "torch (ops and their Python)"
        elif "/numpy/" in path or (path == "~" and "numpy" in name):
            key = "numpy"
        elif "/spacy/" in path or "/thinc/" in path:
            key = "spacy and thinc"
        else:
            key = "other"
        split[key] += tottime
    return {k: round(v, 3) for k, v in sorted(split.items(), key=lambda kv: -kv[1])}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--sentences", type=int, default=800)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out", type=Path, default=RESULTS / "profile.json")
    args = parser.parse_args()
    texts, words = sentences(args.data / EWT.format(split="dev"), args.sentences)
    nlp = load_pipeline("default")
    for _ in nlp.pipe(texts[:128], batch_size=BATCH_SIZE):
        pass
    runs = {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        wall, groups, top = profile_once(nlp, texts)
        inside = sum(groups.values())
        table = {group: {"s": round(s, 3), "share": round(s / wall, 3)} for group, s in sorted(groups.items(), key=lambda kv: -kv[1])}
        table["outside_torch_ops"] = {"s": round(wall - inside, 3), "share": round((wall - inside) / wall, 3)}
        runs[str(threads)] = {"wall_s": round(wall, 3), "words_per_s": round(sum(words) / wall), "groups": table,
                              "top_ops_s": {k: round(v, 3) for k, v in top.items()},
                              "cprofile_tottime_s": python_split(nlp, texts)}
    emit({"what": "torch.profiler self CPU time of nlp.pipe(batch_size=64), by kind of op",
          "date": time.strftime("%Y-%m-%d"), "machine": machine(), "sentences": len(texts), "words": sum(words),
          "runs": runs}, args.out)


if __name__ == "__main__":
    main()
