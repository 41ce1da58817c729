"""Accuracy and speed of the NER and POS heads on contextual layers, against
the same heads on spaCy's CNN tok2vec (the ablation, bench/_common.ablate).

Trains configs/ner.cfg or tagger.cfg (or --config, with --set overrides) with
`spacy train` and scores model-last on the whole dev set (CoNLL-2003 valid:
ents_f/p/r; UD EWT dev: UPOS, XPOS, features). Reports per system the
scores, wall and CPU seconds with the per-epoch split, words/s, and ctx - cnn.

    nice -n 10 python bench/bench_heads.py ner --systems ctx cnn --max-epochs 6 --threads 1
    nice -n 10 python bench/bench_heads.py pos --systems ctx cnn --max-epochs 4 --threads 1
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import spacy
from spacy.training import Corpus
from spacy.util import registry

from _common import DATA, TASKS, ablate, convert, emit, score, set_schedule, task_config, train

EPOCH_TIMES: List[float] = []


@registry.callbacks("spacy_ctx_bench.epoch_timer.v1")
def make_epoch_timer():
    """before_update callback: a timestamp whenever a new epoch starts."""
    seen = {"epoch": -1}

    def before_update(nlp, info: Dict) -> None:
        if info["epoch"] != seen["epoch"]:
            seen["epoch"] = info["epoch"]
            EPOCH_TIMES.append(time.perf_counter())

    return before_update


def make_config(task: str, system: str, paths: Dict, args):
    config = task_config(args.config or TASKS[task]["config"], paths, args.dev_limit_during_training)
    set_schedule(config, epochs=args.max_epochs, eval_frequency=args.eval_frequency, batch_words=args.batch_words)
    training = config["training"]
    if args.learn_rate:
        # spacy-transformers' schedule: fine-tuning wants a small rate, and
        # spaCy's one optimizer applies it to the heads as well.
        training["optimizer"]["learn_rate"] = {
            "@schedules": "warmup_linear.v1", "warmup_steps": 250, "total_steps": 20000,
            "initial_rate": args.learn_rate,
        }
    training["before_update"] = {"@callbacks": "spacy_ctx_bench.epoch_timer.v1"}
    if system == "cnn":
        return ablate(config, TASKS[task]["heads"], "cnn")
    if args.grad_factor is not None:
        for head in TASKS[task]["heads"]:
            config["components"][head]["model"]["tok2vec"]["ctx"]["grad_factor"] = args.grad_factor
    for override in args.set:
        path, value = override.split("=", 1)
        *parents, leaf = path.split(".")
        section = config
        for key in parents:
            section = section[key]
        section[leaf] = json.loads(value)
    return config


def run_system(task: str, system: str, paths: Dict, work: Path, args) -> Dict:
    EPOCH_TIMES.clear()
    trained = train(make_config(task, system, paths, args), work / f"out-{system}")
    epoch_s = [b - a for a, b in zip(EPOCH_TIMES, EPOCH_TIMES[1:] + [time.perf_counter()])]
    nlp = spacy.load(trained["model"])
    scored = score(nlp, paths["dev"], TASKS[task]["scores"], args.batch_size)
    doc = nlp(next(Corpus(str(paths["dev"]))(nlp)).reference.text)
    result = {
        "system": system,
        "train_s": round(trained["train_s"], 1),
        "train_cpu_s": round(trained["train_cpu_s"], 1),
        "epochs": len(epoch_s),
        "epoch_s": [round(s, 1) for s in epoch_s],
        "train_words_per_s": round(paths["n_train_words"] * len(epoch_s) / trained["train_s"], 1),
        "infer_s": round(scored["seconds"], 1),
        "infer_cpu_s": round(scored["cpu_s"], 1),
        "infer_words_per_s": round(paths["n_dev_words"] / scored["seconds"], 1),
        "scores": scored["scores"],
        "annotates": {
            "ents": len(doc.ents) > 0,
            "pos": any(t.pos_ for t in doc),
            "tag": any(t.tag_ for t in doc),
            "ctx_layers": doc.has_extension("ctx_layers") and doc._.ctx_layers is not None,
            "ctx_vector": doc.has_extension("ctx_vector") and doc[0]._.ctx_vector is not None,
        },
    }
    print(json.dumps(result), file=sys.stderr, flush=True)
    return result


def main(argv=None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--systems", nargs="+", default=["ctx", "cnn"], choices=["ctx", "cnn"])
    parser.add_argument("--config", type=Path, default=None, help="the ctx config (default: configs/ner.cfg or tagger.cfg)")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--max-epochs", type=int, default=6)
    parser.add_argument("--eval-frequency", type=int, default=1000)
    parser.add_argument("--dev-limit-during-training", type=int, default=20)
    parser.add_argument("--train-limit", type=int, default=0, help="keep the first N train docs (0 = all)")
    parser.add_argument("--dev-limit", type=int, default=0, help="score the first N dev docs (0 = all)")
    parser.add_argument("--batch-words", type=int, default=0, help="fixed batch size in words (0 = the config's schedule)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--grad-factor", type=float, default=None, help="override the listeners' grad_factor")
    parser.add_argument("--learn-rate", type=float, default=0.0, help="warm-up + linear decay from this rate (0 = the config's)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--set", action="append", default=[], metavar="PATH=JSON",
                        help="override a ctx config value, e.g. components.ner.model.tok2vec.encode.depth=4")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    with tempfile.TemporaryDirectory(prefix=f"spacy_ctx_bench_{args.task}_") as tmp:
        work = Path(tmp)
        paths = convert(args.task, args.data, work, args.train_limit, args.dev_limit)
        report = {
            "task": args.task,
            "train_docs": paths["n_train_docs"],
            "train_words": paths["n_train_words"],
            "dev_docs": paths["n_dev_docs"],
            "dev_words": paths["n_dev_words"],
            "batch_words": args.batch_words or "config",
            "torch_threads": args.threads or "default",
            "max_epochs": args.max_epochs,
            "grad_factor": args.grad_factor,
            "learn_rate": args.learn_rate or "config",
            "config": (args.config or TASKS[args.task]["config"]).name,
            "overrides": args.set,
            "systems": {s: run_system(args.task, s, paths, work, args) for s in args.systems},
        }
    systems = report["systems"]
    if "ctx" in systems and "cnn" in systems:
        report["ctx_minus_cnn"] = {
            k: round(systems["ctx"]["scores"][k] - systems["cnn"]["scores"][k], 2)
            for k in systems["ctx"]["scores"]
            if k in systems["cnn"]["scores"]
        }
    return emit(report, args.out)


if __name__ == "__main__":
    main()
