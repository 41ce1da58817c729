"""Words per second of `embed`: one process, and Ray with 1 and 2 actors, in one run.

Same CoNLL-2003 valid sentences (../shared/data), the bundled MiniLM, the
scalar mix and the top layer written as float32 Parquet. Each configuration
is a whole job, timed from start to written output, as a user runs it:

  single_1t / single_2t   the single-process path of `embed` (load the pipeline,
                          nlp.pipe, one Parquet file), 1 or 2 torch threads;
  ray_1a / ray_2a         spacy_ctx.scale.embed_with_ray with 1 or 2 actors of one
                          CPU (one torch thread) each, on one local Ray cluster
                          started once (ray.init(num_cpus=2)); a job includes the
                          driver's pipeline load, the actors' loads and the writes.

The input is cut into --rounds chunks; each round runs every configuration on
its chunk, rotating which goes first, so that a slow spell of this shared
machine hits all of them alike: compare the ratios, not the absolute figures.
For the Ray jobs the actors' own seconds (reading, encoding, writing blocks)
are summed too, to separate the steady-state rate from the start-up cost.

Then, to choose the batch size an actor encodes with: nlp.pipe words/s of one
process with one torch thread (what an actor is) at each --sweep batch size,
interleaved chunk by chunk (bench/_report.interleave) on the first
--sweep-sentences sentences.

    python bench/bench_ray.py [--sentences 3000] [--rounds 2] [--out bench/results/ray.json]
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

from _report import emit, interleave  # noqa: E402  (bench/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def conll_texts(path: Path, limit: int) -> List[str]:
    """The first `limit` sentences of a CoNLL file, words joined by spaces."""
    from spacy_ctx.corpora import read_texts

    return [record.text for _, record in zip(range(limit), read_texts(path))]


def single_process(threads: int, batch_size: int) -> Callable[[Path, Path], Dict]:
    def run(source: Path, out: Path) -> Dict:
        import torch
        from typer.testing import CliRunner

        from spacy_ctx.cli import app

        torch.set_num_threads(threads)
        result = CliRunner().invoke(app, ["embed", str(source), str(out / "out.parquet"), "--layers", "-1", "--batch-size", str(batch_size)])
        assert result.exit_code == 0, result.output
        return {}

    return run


def with_ray(actors: int, batch_size: int, block_size: int) -> Callable[[Path, Path], Dict]:
    def run(source: Path, out: Path) -> Dict:
        from spacy_ctx.scale import embed_with_ray

        summary = embed_with_ray(str(source), out / "out", layers=[-1], actors=actors, batch_size=batch_size, block_size=block_size)
        assert summary.errors == 0 and summary.skipped == 0
        return {"actor_seconds": sum(r.seconds for r in summary.results), "blocks": summary.blocks}

    return run


def batch_size_sweep(batch_sizes: List[int], texts: List[str]) -> Dict[str, float]:
    """nlp.pipe words/s with one torch thread at each batch size, interleaved."""
    if not batch_sizes:
        return {}
    import torch

    from spacy_ctx.io import doc_outputs
    from spacy_ctx.scale import load_pipeline

    torch.set_num_threads(1)
    nlp = load_pipeline("default")

    def runner(batch_size: int) -> Callable[[List[str]], None]:
        def run(chunk: List[str]) -> None:
            for doc in nlp.pipe(chunk, batch_size=batch_size):
                doc_outputs(doc, [6], True)

        return run

    seconds = interleave({str(b): runner(b) for b in batch_sizes}, texts, chunks=4, warmup=32)
    n_words = sum(len(text.split(" ")) for text in texts)
    return {name: round(n_words / s, 1) for name, s in seconds.items()}


def main(argv=None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--sentences", type=int, default=3000, help="first N CoNLL-2003 valid sentences")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64, help="docs per nlp.pipe batch, everywhere")
    parser.add_argument("--block-size", type=int, default=256, help="sentences per Ray block")
    parser.add_argument("--sweep", default="16,64,256", help="batch sizes to compare in one process ('' = skip)")
    parser.add_argument("--sweep-sentences", type=int, default=800)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    import ray

    texts = conll_texts(args.data / "conll2003" / "valid.txt", args.sentences)
    runners = {
        "single_1t": single_process(1, args.batch_size),
        "single_2t": single_process(2, args.batch_size),
        "ray_1a": with_ray(1, args.batch_size, args.block_size),
        "ray_2a": with_ray(2, args.batch_size, args.block_size),
    }
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray_start_s = time.perf_counter() - start
    seconds = {name: 0.0 for name in runners}
    actor_seconds = {name: 0.0 for name in runners if name.startswith("ray")}
    names = list(runners)
    size = -(-len(texts) // args.rounds)
    work = Path(tempfile.mkdtemp(prefix="bench_ray_"))
    try:
        for k in range(args.rounds):
            source = work / f"round{k}.txt"
            source.write_text("\n".join(texts[k * size : (k + 1) * size]) + "\n", encoding="utf8")
            shift = k % len(names)
            for name in names[shift:] + names[:shift]:
                out = work / name
                out.mkdir()
                begin = time.perf_counter()
                extra = runners[name](source, out)
                seconds[name] += time.perf_counter() - begin
                if name in actor_seconds:
                    actor_seconds[name] += extra["actor_seconds"]
                shutil.rmtree(out)
            print(f"round {k + 1}/{args.rounds}", {n: round(s, 1) for n, s in seconds.items()}, file=sys.stderr, flush=True)
    finally:
        ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    n_words = sum(len(text.split(" ")) for text in texts)
    words_per_s = {name: n_words / s for name, s in seconds.items()}
    sweep = batch_size_sweep([int(b) for b in args.sweep.split(",") if b.strip()], texts[: args.sweep_sentences])
    report = {
        "sentences": len(texts),
        "words": n_words,
        "rounds": args.rounds,
        "batch_size": args.batch_size,
        "block_size": args.block_size,
        "ray_version": ray.__version__,
        "ray_init_s": round(ray_start_s, 1),
        "job_seconds": {name: round(s, 1) for name, s in seconds.items()},
        "words_per_s": {name: round(v, 1) for name, v in words_per_s.items()},
        # The pool's rate once its actors are up: the words over the seconds the
        # actors spent in blocks (reading, encoding, writing), divided by the
        # number of actors; start-up, scheduling and the driver are left out.
        "ray_actor_words_per_s": {
            name: round(n_words / (s / (2 if name == "ray_2a" else 1)), 1) for name, s in actor_seconds.items()
        },
        "ratio_ray_2a_over_ray_1a": round(words_per_s["ray_2a"] / words_per_s["ray_1a"], 3),
        "ratio_ray_1a_over_single_1t": round(words_per_s["ray_1a"] / words_per_s["single_1t"], 3),
        "ratio_ray_2a_over_single_2t": round(words_per_s["ray_2a"] / words_per_s["single_2t"], 3),
        "ratio_single_2t_over_single_1t": round(words_per_s["single_2t"] / words_per_s["single_1t"], 3),
        "batch_size_sweep_words_per_s": sweep,
        "machine": "2-core shared CPU, torch CPU build",
        "date": time.strftime("%Y-%m-%d"),
    }
    return emit(report, args.out)


if __name__ == "__main__":
    main()
