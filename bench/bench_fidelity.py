"""Downstream fidelity of the encoder's fast paths: one pipeline trained in
fp32 with frozen features (configs/ner.cfg on CoNLL-2003, or tagger.cfg on
UD EWT), scored on the whole dev set once per encoder precision, otherwise
unchanged. Precisions the CPU cannot run natively are skipped; the words/s
of each pass are one pass each (the speed comparison is bench_precision.py).

    nice -n 10 python bench/bench_fidelity.py ner --train-limit 300 --max-epochs 4 --out bench/results/fidelity-ner.json
    nice -n 10 python bench/bench_fidelity.py pos --train-limit 150 --max-epochs 4 --out bench/results/fidelity-pos.json
    python bench/bench_fidelity.py ner --pipeline PATH     # a pipeline trained elsewhere
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import spacy

from spacy_ctx.models.pytorch.precision import PRECISIONS, supports

from _common import DATA, TASKS, convert, emit, score, set_schedule, task_config, train

SCORE = {"ner": "ents_f", "pos": "pos_acc"}
# The largest loss each task may show against fp32, in points.
ALLOWED_LOSS = {"ner": 0.3, "pos": 0.2}


def train_ctx(task: str, paths, work: Path, args) -> Path:
    config = task_config(TASKS[task]["config"], paths, 20)
    set_schedule(config, epochs=args.max_epochs, eval_frequency=1000)
    return train(config, work / "out")["model"]


def score_precision(task: str, pipeline: Path, dev: Path, precision: str, batch_size: int) -> dict:
    nlp = spacy.load(pipeline, config={"components": {"ctx_encoder": {"model": {"precision": precision}}}})
    run = score(nlp, dev, TASKS[task]["scores"], batch_size)
    return {"precision": precision, "scores": run["scores"], "words_per_s": round(run["words"] / run["seconds"], 1)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--pipeline", type=Path, default=None, help="a trained pipeline (default: train one)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--train-limit", type=int, default=300, help="first N ten-sentence train docs (0 = all)")
    parser.add_argument("--max-epochs", type=int, default=4)
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix=f"spacy_ctx_fidelity_{args.task}_") as tmp:
        work = Path(tmp)
        paths = convert(args.task, args.data, work, args.train_limit)
        pipeline = args.pipeline or train_ctx(args.task, paths, work, args)
        rows = []
        for precision in args.precisions:
            if not supports(precision):
                print(f"skipping {precision}: not native on this CPU", file=sys.stderr)
                continue
            rows.append(score_precision(args.task, pipeline, paths["dev"], precision, args.batch_size))
            print(rows[-1], file=sys.stderr, flush=True)
    key = SCORE[args.task]
    reference = next(r for r in rows if r["precision"] == "fp32")["scores"][key]
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "task": args.task,
        "pipeline": str(args.pipeline) if args.pipeline else f"{TASKS[args.task]['config'].name}, trained here",
        "train_docs": paths["n_train_docs"],
        "train_words": paths["n_train_words"],
        "dev_words": paths["n_dev_words"],
        "max_epochs": args.max_epochs,
        "torch_threads": args.threads,
        "rows": rows,
        "loss_vs_fp32": {r["precision"]: round(reference - r["scores"][key], 2) for r in rows},
        "allowed_loss": ALLOWED_LOSS[args.task],
    }
    report["passes"] = {p: loss <= ALLOWED_LOSS[args.task] for p, loss in report["loss_vs_fp32"].items()}
    return emit(report, args.out)


if __name__ == "__main__":
    main()
