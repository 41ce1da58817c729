"""Downstream fidelity of the encoder's fast paths: one pipeline trained in
fp32 with frozen features, then scored on the whole dev set once per encoder
precision, the pipeline otherwise unchanged.

    nice -n 10 python bench/bench_fidelity.py ner --train-limit 300 --max-epochs 4
    nice -n 10 python bench/bench_fidelity.py pos --train-limit 300 --max-epochs 4
    python bench/bench_fidelity.py ner --pipeline PATH     # a pipeline trained elsewhere

ner: configs/ner.cfg on CoNLL-2003 train (the first --train-limit ten-sentence
docs), scored on all of CoNLL valid (ents_f); pos: configs/tagger.cfg on UD
English EWT train, scored on all of EWT dev (pos_acc = UPOS). Training goes
through bench_heads.py's conversion and config (spaCy's own training loop).
Scoring loads the saved pipeline with `components.ctx_encoder.model` set to
spacy_ctx.TransformerEncoder.v3 and each precision; words/s of each scoring
pass are printed too (one pass each, not interleaved: the speed comparison is
bench_precision.py's). Precisions the CPU cannot run natively are skipped.
Prints one JSON object.
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

import spacy
from spacy.cli.train import train as spacy_train
from spacy.training import Corpus

from _report import emit  # noqa: E402  (bench/ is on sys.path when run as a script)
from bench_heads import DATA, TASKS, convert, make_config

from spacy_ctx.models.pytorch.precision import PRECISIONS, supports

SCORE = {"ner": "ents_f", "pos": "pos_acc"}
# The largest loss each task may show against fp32, in points.
ALLOWED_LOSS = {"ner": 0.3, "pos": 0.2}


def train(task: str, paths, work: Path, args) -> Path:
    config = make_config(task, "ctx", paths, args)
    config_path = work / "ctx.cfg"
    config.to_disk(config_path)
    spacy_train(config_path, work / "out", use_gpu=-1)
    return work / "out" / "model-last"


def score(task: str, pipeline: Path, dev: Path, precision: str, batch_size: int) -> dict:
    model = {"@architectures": "spacy_ctx.TransformerEncoder.v3", "precision": precision}
    nlp = spacy.load(pipeline, config={"components": {"ctx_encoder": {"model": model}}})
    examples = list(Corpus(str(dev))(nlp))
    n_words = sum(len(eg.reference) for eg in examples)
    start = time.perf_counter()
    scores = nlp.evaluate(examples, batch_size=batch_size)
    seconds = time.perf_counter() - start
    keys = TASKS[task]["scores"]
    return {
        "precision": precision,
        "scores": {k: round(100 * float(scores[k]), 2) for k in keys if scores.get(k) is not None},
        "words_per_s": round(n_words / seconds, 1),
    }


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
    # make_config's options that this script leaves at the config's values.
    args.eval_frequency, args.dev_limit_during_training, args.batch_words = 1000, 20, 0
    args.learn_rate, args.grad_factor, args.encode, args.set = 0.0, None, "", []
    with tempfile.TemporaryDirectory(prefix=f"spacy_ctx_fidelity_{args.task}_") as tmp:
        work = Path(tmp)
        paths = convert(args.task, args.data, work, args.train_limit, 0)
        pipeline = args.pipeline or train(args.task, paths, work, args)
        rows = []
        for precision in args.precisions:
            if not supports(precision):
                print(f"skipping {precision}: not native on this CPU", file=sys.stderr)
                continue
            rows.append(score(args.task, pipeline, paths["dev"], precision, args.batch_size))
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
