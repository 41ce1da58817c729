"""Words per second of `embed` on CoNLL-2003 valid (mix and top layer to
Parquet): the command at 1 and 2 torch threads, and Ray with 1 and 2 actors,
each a whole job, interleaved round by round (the actors' own seconds give
the steady rate); then nlp.pipe words/s at one thread per batch size.

    nice python bench/bench_ray.py --sentences 3000 --rounds 2 --out bench/results/ray.json
"""
import shutil
import tempfile
import time
from pathlib import Path
from typing import Dict

import torch

from harness import TASKS, emit, machine, options, parse
from harness.peers import ctx_pipeline, pipe
from harness.readers import sentences
from harness.timing import interleave

BATCH_SIZE, BLOCK_SIZE = 64, 256  # docs per nlp.pipe batch everywhere, sentences per Ray block


def job(name: str, source: Path, out: Path) -> float:
    """One whole job from an input file to an output directory: the `embed` command at 1 or 2 torch threads
    (single_1t, single_2t; 0.0) or Ray with 1 or 2 actors (ray_1a, ray_2a; the seconds its actors spent in blocks)."""
    if name.startswith("single"):
        from typer.testing import CliRunner

        from spacy_ctx.cli import app

        torch.set_num_threads(int(name[-2]))
        result = CliRunner().invoke(app, ["embed", str(source), str(out / "out.parquet"), "--layers", "-1",
                                          "--batch-size", str(BATCH_SIZE)])
        assert result.exit_code == 0, result.output
        return 0.0
    from spacy_ctx.embed.ray import embed_with_ray

    summary = embed_with_ray(str(source), out / "out", layers=[-1], actors=int(name[-2]), batch_size=BATCH_SIZE,
                             block_size=BLOCK_SIZE)
    assert summary.errors == 0 and summary.skipped == 0
    return sum(r.seconds for r in summary.results)


def main(argv=None) -> Dict:
    parser = options(__doc__, threads=None)
    parser.add_argument("--sentences", type=int, default=3000, help="first N CoNLL-2003 valid sentences")
    parser.add_argument("--rounds", type=int, default=2)
    args = parse(parser, argv)
    import ray

    texts, words = sentences(args.data / TASKS["ner"]["dev"], args.sentences)
    start = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray_start_s = time.perf_counter() - start
    actor_seconds: Dict[str, float] = {}

    def runner(name: str):  # interleave's unit: the job on every input file of a chunk, into a fresh directory
        def run(sources):
            for source in sources:
                (source.parent / name).mkdir()
                actor_seconds[name] = actor_seconds.get(name, 0.0) + job(name, source, source.parent / name)
                shutil.rmtree(source.parent / name)

        return run

    size, work = -(-len(texts) // args.rounds), Path(tempfile.mkdtemp(prefix="bench_ray_"))
    try:
        sources = [work / f"round{k}.txt" for k in range(args.rounds)]
        for k, source in enumerate(sources):
            source.write_text("\n".join(texts[k * size : (k + 1) * size]) + "\n", encoding="utf8")
        names = ("single_1t", "single_2t", "ray_1a", "ray_2a")
        seconds = interleave({name: runner(name) for name in names}, sources, args.rounds, warmup=0)
    finally:
        ray.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    words_per_s = {name: sum(words) / s for name, s in seconds.items()}
    from spacy_ctx.embed.writers import doc_outputs  # nlp.pipe words/s at one torch thread per batch size, interleaved

    torch.set_num_threads(1)
    nlp, swept = ctx_pipeline(), texts[:800]
    runners = {str(b): pipe(nlp, b, lambda doc: doc_outputs(doc, [6], True)) for b in (16, 64, 256)}
    sweep = {b: round(sum(len(t.split(" ")) for t in swept) / s, 1) for b, s in interleave(runners, swept, 4, warmup=32).items()}
    ratio = lambda a, b: round(words_per_s[a] / words_per_s[b], 3)  # noqa: E731
    return emit({
        "sentences": len(texts), "words": sum(words), "rounds": args.rounds, "batch_size": BATCH_SIZE,
        "block_size": BLOCK_SIZE, "ray_version": ray.__version__, "ray_init_s": round(ray_start_s, 1),
        "job_seconds": {name: round(s, 1) for name, s in seconds.items()},
        "words_per_s": {name: round(v, 1) for name, v in words_per_s.items()},
        # The pool's rate once its actors are up: the words over the seconds the actors spent in blocks, per actor.
        "ray_actor_words_per_s": {name: round(sum(words) / (actor_seconds[name] / actors), 1)
                                  for name, actors in (("ray_1a", 1), ("ray_2a", 2))},
        "ratio_ray_2a_over_ray_1a": ratio("ray_2a", "ray_1a"), "ratio_ray_1a_over_single_1t": ratio("ray_1a", "single_1t"),
        "ratio_ray_2a_over_single_2t": ratio("ray_2a", "single_2t"), "ratio_single_2t_over_single_1t": ratio("single_2t", "single_1t"),
        "batch_size_sweep_words_per_s": sweep, "machine": machine("torch CPU build"),
    }, args.out)


if __name__ == "__main__":
    main()
