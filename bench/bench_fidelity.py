"""Downstream fidelity of the encoder's fast paths: one pipeline trained in
fp32 with frozen features (configs/ner.cfg on CoNLL-2003, or tagger.cfg on
UD EWT), scored on the whole dev set once per encoder precision, otherwise
unchanged. Precisions the CPU cannot run natively are skipped; the words/s
are one pass each (the speed comparison is bench_speed.py).

    nice -n 10 python bench/bench_fidelity.py ner --train-limit 300 --max-epochs 4 --out bench/results/fidelity-ner.json
    nice -n 10 python bench/bench_fidelity.py pos --train-limit 150 --max-epochs 4 --out bench/results/fidelity-pos.json
    python bench/bench_fidelity.py ner --pipeline PATH     # a pipeline trained elsewhere
"""
import tempfile
from pathlib import Path

import spacy

from harness import TASKS, emit, log, options, parse
from harness.readers import convert
from harness.training import score, set_schedule, task_config, train
from spacy_ctx.models.pytorch.precision import PRECISIONS, supports

# The largest loss each task may show against fp32, in points.
ALLOWED_LOSS = {"ner": 0.3, "pos": 0.2}


def main(argv=None) -> dict:
    parser = options(__doc__, threads=1)
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--pipeline", type=Path, default=None, help="a trained pipeline (default: train one)")
    parser.add_argument("--train-limit", type=int, default=300, help="first N ten-sentence train docs (0 = all)")
    parser.add_argument("--max-epochs", type=int, default=4)
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parse(parser, argv)
    keys, rows = TASKS[args.task]["scores"], []
    with tempfile.TemporaryDirectory(prefix=f"spacy_ctx_fidelity_{args.task}_") as tmp:
        paths = convert(args.task, args.data, Path(tmp), args.train_limit)
        pipeline = args.pipeline
        if pipeline is None:
            config = task_config(TASKS[args.task]["config"], paths, 20)
            set_schedule(config, epochs=args.max_epochs, eval_frequency=1000)
            pipeline = train(config, Path(tmp) / "out")["model"]
        for precision in args.precisions:
            if not supports(precision):
                log(f"skipping {precision}: not native on this CPU")
                continue
            nlp = spacy.load(pipeline, config={"components": {"ctx_encoder": {"model": {"precision": precision}}}})
            run = score(nlp, paths["dev"], keys, args.batch_size)
            rows.append({"precision": precision, "scores": run["scores"], "words_per_s": round(run["words"] / run["seconds"], 1)})
            log(str(rows[-1]))
    reference = next(r for r in rows if r["precision"] == "fp32")["scores"][keys[0]]
    loss = {r["precision"]: round(reference - r["scores"][keys[0]], 2) for r in rows}
    return emit({
        "task": args.task, "pipeline": str(args.pipeline) if args.pipeline else f"{TASKS[args.task]['config'].name}, trained here",
        "train_docs": paths["n_train_docs"], "train_words": paths["n_train_words"], "dev_words": paths["n_dev_words"],
        "max_epochs": args.max_epochs, "torch_threads": args.threads, "rows": rows, "loss_vs_fp32": loss,
        "allowed_loss": ALLOWED_LOSS[args.task], "passes": {p: v <= ALLOWED_LOSS[args.task] for p, v in loss.items()},
    }, args.out)


if __name__ == "__main__":
    main()
