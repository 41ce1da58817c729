"""Words per second of `embed`: one process, and Ray with 1 and 2 actors.

CoNLL-2003 valid sentences, the bundled MiniLM, the mix and the top layer
written as Parquet. Each configuration is a whole job as a user runs it
(single_1t/2t: the `embed` command at 1 or 2 torch threads; ray_1a/2a:
spacy_ctx.embed.ray.embed_with_ray on one local Ray cluster), interleaved
round by round; the actors' own seconds separate the steady rate from the
start-up. Then nlp.pipe words/s of one single-thread process (an actor) at
each --sweep batch size.

    nice python bench/bench_ray.py --sentences 3000 --rounds 2 --out bench/results/ray.json
"""
import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

from _common import DATA, TASKS, emit, interleave, machine, pipe_runner, sentences


def single_process(threads: int, batch_size: int) -> Callable[[Path, Path], float]:
    def run(source: Path, out: Path) -> float:
        import torch
        from typer.testing import CliRunner

        from spacy_ctx.cli import app

        torch.set_num_threads(threads)
        result = CliRunner().invoke(app, ["embed", str(source), str(out / "out.parquet"), "--layers", "-1", "--batch-size", str(batch_size)])
        assert result.exit_code == 0, result.output
        return 0.0

    return run


def with_ray(actors: int, batch_size: int, block_size: int) -> Callable[[Path, Path], float]:
    def run(source: Path, out: Path) -> float:
        from spacy_ctx.embed.ray import embed_with_ray

        summary = embed_with_ray(str(source), out / "out", layers=[-1], actors=actors, batch_size=batch_size, block_size=block_size)
        assert summary.errors == 0 and summary.skipped == 0
        return sum(r.seconds for r in summary.results)

    return run


def whole_jobs(jobs: Dict[str, Callable[[Path, Path], float]], actor_seconds: Dict[str, float]):
    """interleave's runners: each runs its job on every input file of a chunk
    into a fresh output directory, adding up the actors' own seconds."""

    def runner(name: str):
        def run(sources: List[Path]) -> None:
            for source in sources:
                out = source.with_name(name)
                out.mkdir()
                actor_seconds[name] = actor_seconds.get(name, 0.0) + jobs[name](source, out)
                shutil.rmtree(out)

        return run

    return {name: runner(name) for name in jobs}


def batch_size_sweep(batch_sizes: List[int], texts: List[str]) -> Dict[str, float]:
    """nlp.pipe words/s with one torch thread at each batch size, interleaved."""
    if not batch_sizes:
        return {}
    import torch

    from spacy_ctx.embed.writers import doc_outputs
    from spacy_ctx.pipeline.loading import load_pipeline

    torch.set_num_threads(1)
    nlp = load_pipeline("default")

    runners = {str(b): pipe_runner(nlp, b, lambda doc: doc_outputs(doc, [6], True)) for b in batch_sizes}
    seconds = interleave(runners, texts, chunks=4, warmup=32)
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

    texts, words = sentences(args.data / TASKS["ner"]["dev"], args.sentences)
    jobs = {
        "single_1t": single_process(1, args.batch_size),
        "single_2t": single_process(2, args.batch_size),
        "ray_1a": with_ray(1, args.batch_size, args.block_size),
        "ray_2a": with_ray(2, args.batch_size, args.block_size),
    }
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray_start_s = time.perf_counter() - start
    actor_seconds: Dict[str, float] = {}
    size = -(-len(texts) // args.rounds)
    work = Path(tempfile.mkdtemp(prefix="bench_ray_"))
    try:
        sources = []
        for k in range(args.rounds):
            sources.append(work / f"round{k}.txt")
            sources[-1].write_text("\n".join(texts[k * size : (k + 1) * size]) + "\n", encoding="utf8")
        seconds = interleave(whole_jobs(jobs, actor_seconds), sources, args.rounds, warmup=0)
    finally:
        ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    n_words = sum(words)
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
            name: round(n_words / (actor_seconds[name] / (2 if name == "ray_2a" else 1)), 1) for name in ("ray_1a", "ray_2a")
        },
        "ratio_ray_2a_over_ray_1a": round(words_per_s["ray_2a"] / words_per_s["ray_1a"], 3),
        "ratio_ray_1a_over_single_1t": round(words_per_s["ray_1a"] / words_per_s["single_1t"], 3),
        "ratio_ray_2a_over_single_2t": round(words_per_s["ray_2a"] / words_per_s["single_2t"], 3),
        "ratio_single_2t_over_single_1t": round(words_per_s["single_2t"] / words_per_s["single_1t"], 3),
        "batch_size_sweep_words_per_s": sweep,
        "machine": machine("torch CPU build"),
        "date": time.strftime("%Y-%m-%d"),
    }
    return emit(report, args.out)


if __name__ == "__main__":
    main()
