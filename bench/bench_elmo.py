"""The pretrained ELMo encoder against no contextual features on UD EWT UPOS,
and its throughput beside the MiniLM encoder.

Systems, trained alike with `spacy train` on the first --train-limit EWT
train docs and scored (model-last, the morphologizer's pos_acc) on all of
EWT dev: elmo (configs/elmo_tagger.cfg with the pretrained weights, frozen),
elmo_random (the same, random weights), hash and cnn (no context:
bench/_common.ablate). Throughput: nlp.pipe words/s of a lone ctx_encoder,
ELMo then MiniLM, on the same EWT dev sentences and threads.

    nice -n 10 python bench/bench_elmo.py --weights /tmp/elmo_pretrained \
        --train-limit 400 --max-epochs 6 --out /tmp/bench_elmo.json
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import torch
from thinc.api import Config

from spacy_ctx.pipeline.loading import load_pipeline

from _common import CONFIGS, DATA, EWT, TASKS, ablate, convert, elmo_config, emit, keep_heads, pretrained_sizes, sentences
from _common import set_schedule, train_and_score

SYSTEMS = ("elmo", "elmo_random", "hash", "cnn")


def make_config(system: str, paths: Dict, args) -> Config:
    config = elmo_config(paths, args.weights if system == "elmo" else None, args.dev_limit_during_training)
    heads = ["morphologizer", "tagger"] if args.with_tagger else ["morphologizer"]
    keep_heads(config, heads)
    set_schedule(config, epochs=args.max_epochs, eval_frequency=args.eval_frequency)
    return ablate(config, heads, system) if system in ("hash", "cnn") else config


def run_system(system: str, paths: Dict, work: Path, args) -> Dict:
    _, run = train_and_score(make_config(system, paths, args), work / f"out-{system}", paths["dev"], TASKS["pos"]["scores"])
    result = {"system": system, "train_s": round(run["train_s"], 1), "eval_s": round(run["seconds"], 1)}
    result.update((key, run["scores"][key]) for key in ("pos_acc", "morph_acc", "tag_acc") if key in run["scores"])
    print(json.dumps(result), file=sys.stderr, flush=True)
    return result


def throughput(model_config: Dict, texts: List[str], batch_size: int) -> Dict:
    nlp = load_pipeline("default", overrides={"components.ctx_encoder.model": model_config})
    list(nlp.pipe(texts[:batch_size], batch_size=batch_size))  # warm-up
    start = time.perf_counter()
    n_words = sum(len(doc) for doc in nlp.pipe(texts, batch_size=batch_size))
    seconds = time.perf_counter() - start
    return {"words": n_words, "seconds": round(seconds, 2), "words_per_s": round(n_words / seconds, 1)}


def main(argv=None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, required=True, help="pretrain-elmo output directory")
    parser.add_argument("--systems", nargs="+", default=["elmo", "hash"], choices=SYSTEMS)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--train-limit", type=int, default=400, help="first N train docs of 10 sentences (0 = all)")
    parser.add_argument("--max-epochs", type=int, default=6)
    parser.add_argument("--eval-frequency", type=int, default=200)
    parser.add_argument("--dev-limit-during-training", type=int, default=20)
    parser.add_argument("--with-tagger", action="store_true", help="also train the XPOS tagger")
    parser.add_argument("--speed-sentences", type=int, default=500, help="EWT dev sentences for throughput (0 = skip)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for everything")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    report: Dict = {"threads": args.threads, "max_epochs": args.max_epochs, "weights": str(args.weights)}
    if args.speed_sentences:
        texts, _ = sentences(args.data / EWT.format(split="dev"), args.speed_sentences)
        elmo_block = dict(Config().from_disk(CONFIGS / "elmo_tagger.cfg", interpolate=False)["components"]["ctx_encoder"]["model"])
        elmo_block["weights"] = str(args.weights)
        elmo_block.update(pretrained_sizes(args.weights))
        elmo = throughput(elmo_block, texts, 64)
        minilm = throughput({"@architectures": "spacy_ctx.TransformerEncoder.v1"}, texts, 64)
        report["throughput"] = {
            "texts": f"first {len(texts)} EWT dev sentences",
            "elmo": elmo,
            "minilm": minilm,
            "elmo_over_minilm": round(elmo["words_per_s"] / minilm["words_per_s"], 2),
        }
        print(json.dumps(report["throughput"]), file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="spacy_ctx_bench_elmo_") as tmp:
        work = Path(tmp)
        paths = convert("pos", args.data, work, args.train_limit)
        report.update({k: v for k, v in paths.items() if k.startswith("n_")})
        report["systems"] = {s: run_system(s, paths, work, args) for s in args.systems}
    systems = report["systems"]
    for other in ("hash", "cnn", "elmo_random"):
        if "elmo" in systems and other in systems:
            report[f"elmo_minus_{other}_pos_acc"] = round(systems["elmo"]["pos_acc"] - systems[other]["pos_acc"], 2)
    return emit(report, args.out)


if __name__ == "__main__":
    main()
