"""The pretrained ELMo encoder against no contextual features on UD EWT UPOS,
and its throughput beside the MiniLM encoder.

Systems, trained alike with `spacy train` on the first --train-limit EWT
train docs and scored (model-last, the morphologizer's pos_acc) on all of
EWT dev: elmo (configs/elmo_tagger.cfg with the pretrained weights, frozen),
elmo_random (the same, random weights), hash and cnn (no context,
harness.training.ablate). Throughput: nlp.pipe words/s of a lone
ctx_encoder, ELMo then MiniLM, on the same EWT dev sentences and threads.

    nice -n 10 python bench/bench_elmo.py --weights /tmp/elmo_pretrained \\
        --train-limit 400 --max-epochs 6 --out /tmp/bench_elmo.json
"""
import tempfile
import time
from pathlib import Path
from typing import Dict

from thinc.api import Config

from harness import CONFIGS, EWT, TASKS, emit, log, options, parse
from harness.peers import ctx_pipeline
from harness.readers import convert, sentences
from harness.training import ablate, elmo_config, keep_heads, pretrained_sizes, set_schedule, train_and_score

SYSTEMS = ("elmo", "elmo_random", "hash", "cnn")


def throughput(model_block: Dict, texts, batch_size: int = 64) -> Dict:
    nlp = ctx_pipeline(settings={"model": model_block})
    list(nlp.pipe(texts[:batch_size], batch_size=batch_size))  # warm-up
    start = time.perf_counter()
    words = sum(len(doc) for doc in nlp.pipe(texts, batch_size=batch_size))
    seconds = time.perf_counter() - start
    return {"words": words, "seconds": round(seconds, 2), "words_per_s": round(words / seconds, 1)}


def main(argv=None) -> Dict:
    parser = options(__doc__, threads=1)
    parser.add_argument("--weights", type=Path, required=True, help="pretrain-elmo output directory")
    parser.add_argument("--systems", nargs="+", default=["elmo", "hash"], choices=SYSTEMS)
    parser.add_argument("--train-limit", type=int, default=400, help="first N train docs of 10 sentences (0 = all)")
    parser.add_argument("--max-epochs", type=int, default=6)
    parser.add_argument("--eval-frequency", type=int, default=200)
    parser.add_argument("--with-tagger", action="store_true", help="also train the XPOS tagger")
    parser.add_argument("--speed-sentences", type=int, default=500, help="EWT dev sentences for throughput (0 = skip)")
    args = parse(parser, argv)
    report: Dict = {"threads": args.threads, "max_epochs": args.max_epochs, "weights": str(args.weights)}
    if args.speed_sentences:
        texts, _ = sentences(args.data / EWT.format(split="dev"), args.speed_sentences)
        block = dict(Config().from_disk(CONFIGS / "elmo_tagger.cfg", interpolate=False)["components"]["ctx_encoder"]["model"])
        block.update(weights=str(args.weights), **pretrained_sizes(args.weights))
        elmo, minilm = throughput(block, texts), throughput({"@architectures": "spacy_ctx.TransformerEncoder.v1"}, texts)
        report["throughput"] = {"texts": f"first {len(texts)} EWT dev sentences", "elmo": elmo, "minilm": minilm,
                                "elmo_over_minilm": round(elmo["words_per_s"] / minilm["words_per_s"], 2)}
    heads = ["morphologizer", "tagger"] if args.with_tagger else ["morphologizer"]
    with tempfile.TemporaryDirectory(prefix="spacy_ctx_bench_elmo_") as tmp:
        paths = convert("pos", args.data, Path(tmp), args.train_limit)
        report.update({k: v for k, v in paths.items() if k.startswith("n_")})
        report["systems"] = {}
        for system in args.systems:
            config = keep_heads(elmo_config(paths, args.weights if system == "elmo" else None, 20), heads)
            set_schedule(config, epochs=args.max_epochs, eval_frequency=args.eval_frequency)
            config = ablate(config, heads, system) if system in ("hash", "cnn") else config
            _, run = train_and_score(config, Path(tmp) / f"out-{system}", paths["dev"], TASKS["pos"]["scores"])
            result = report["systems"][system] = {"system": system, "train_s": round(run["train_s"], 1), "eval_s": round(run["seconds"], 1),
                                                  **{k: v for k, v in run["scores"].items()}}
            log(str(result))
    for other in ("hash", "cnn", "elmo_random"):
        if "elmo" in report["systems"] and other in report["systems"]:
            report[f"elmo_minus_{other}_pos_acc"] = round(report["systems"]["elmo"]["pos_acc"] - report["systems"][other]["pos_acc"], 2)
    return emit(report, args.out)


if __name__ == "__main__":
    main()
