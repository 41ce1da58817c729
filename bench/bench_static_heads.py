"""The edge trade-off: spaCy's CNN heads with a static table distilled from
the encoder (configs/ner_static.cfg, tagger_static.cfg) beside the same CNN
without it, trained alike, and the inference speed of both and of the
contextual pipeline (configs/ner.cfg or tagger.cfg, heads untrained: a
forward pass costs the same), interleaved on the same dev texts. TABLE: a
`distill-static` output, e.g. from `bench_similarity.py words --tables-dir`.
Writes bench/results/static-heads-TASK.json.

    nice -n 10 python bench/bench_static_heads.py ner --vectors TABLE --train-limit 250 --max-epochs 4
    nice -n 10 python bench/bench_static_heads.py pos --vectors TABLE --train-limit 160 --max-epochs 4
"""
import argparse
import tempfile
import time
from pathlib import Path
from typing import Dict

import spacy
import torch
from spacy.training import Corpus
from spacy.util import load_model_from_config
from threadpoolctl import threadpool_limits

from _common import CONFIGS, DATA, RESULTS, TASKS, convert, emit, interleave, log, machine, pipe_runner, set_schedule, task_config
from _common import train_and_score

STATIC_CONFIGS = {"ner": CONFIGS / "ner_static.cfg", "pos": CONFIGS / "tagger_static.cfg"}


def make_config(task: str, system: str, paths: Dict, args):
    config = task_config(STATIC_CONFIGS[task], paths, args.dev_limit_during_training)
    config["paths"]["vectors"] = str(args.vectors) if system == "cnn_static" else None
    for head in TASKS[task]["heads"]:
        config["components"][head]["model"]["tok2vec"]["embed"]["include_static_vectors"] = system == "cnn_static"
    set_schedule(config, epochs=args.max_epochs, eval_frequency=args.eval_frequency, batch_words=args.batch_words)
    return config


def train_system(task: str, system: str, paths: Dict, work: Path, args) -> Dict:
    nlp, run = train_and_score(make_config(task, system, paths, args), work / system, paths["dev"], TASKS[task]["scores"])
    result = {
        "train_s": round(run["train_s"], 1),
        "train_cpu_s": round(run["train_cpu_s"], 1),
        "train_words_per_cpu_s": round(paths["n_train_words"] * args.max_epochs / run["train_cpu_s"], 1),
        "batch_words": args.batch_words or "config",
        "scores": run["scores"],
        "n_vectors": int(nlp.vocab.vectors.shape[0]),
    }
    log(f"{system}: {result}")
    return result


def ctx_pipeline(task: str, paths: Dict) -> spacy.Language:
    """The contextual config, heads initialised on the training docs."""
    nlp = load_model_from_config(task_config(TASKS[task]["config"], paths, 0), auto_fill=True, validate=True)
    examples = list(Corpus(str(paths["train"]), limit=20)(nlp))
    nlp.initialize(lambda: examples)
    return nlp


def speeds(task: str, work: Path, paths: Dict, args) -> Dict:
    pipelines = {s: spacy.load(work / s / "model-last") for s in args.systems}
    pipelines["ctx (untrained heads)"] = ctx_pipeline(task, paths)
    nlp0 = next(iter(pipelines.values()))
    texts = [eg.reference.text for eg in Corpus(paths["dev"])(nlp0)][: args.speed_docs]
    n_words = sum(len(nlp0.make_doc(t)) for t in texts)
    seconds = interleave({name: pipe_runner(nlp, 64) for name, nlp in pipelines.items()}, texts, args.chunks, warmup=8)
    wps = {name: round(n_words / s, 1) for name, s in seconds.items()}
    base = wps["cnn"] if "cnn" in wps else next(iter(wps.values()))
    return {
        "n_docs": len(texts),
        "n_words": n_words,
        "words_per_s": wps,
        "ratio_to_cnn": {name: round(v / base, 3) for name, v in wps.items()},
    }


def main(argv=None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=sorted(STATIC_CONFIGS))
    parser.add_argument("--vectors", type=Path, required=True, help="the static table (a distill-static output)")
    parser.add_argument("--systems", nargs="+", default=["cnn", "cnn_static"], choices=["cnn", "cnn_static"])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--train-limit", type=int, default=400, help="first N train docs of 10 sentences (0 = all)")
    parser.add_argument("--max-epochs", type=int, default=6)
    parser.add_argument("--eval-frequency", type=int, default=1000)
    parser.add_argument("--batch-words", type=int, default=1000, help="fixed batch size in words (0 = the config's schedule)")
    parser.add_argument("--dev-limit-during-training", type=int, default=20)
    parser.add_argument("--speed-docs", type=int, default=120, help="dev docs for the interleaved speed run")
    parser.add_argument("--chunks", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads), tempfile.TemporaryDirectory(prefix="spacy_ctx_static_heads_") as tmp:
        work = Path(tmp)
        paths = convert(args.task, args.data, work, args.train_limit)
        report = {
            "task": args.task,
            "vectors": str(args.vectors),
            "train_docs": paths["n_train_docs"],
            "train_words": paths["n_train_words"],
            "dev_docs": paths["n_dev_docs"],
            "dev_words": paths["n_dev_words"],
            "max_epochs": args.max_epochs,
            "threads": args.threads,
            "systems": {s: train_system(args.task, s, paths, work, args) for s in args.systems},
        }
        report["speed"] = speeds(args.task, work, paths, args)
    systems = report["systems"]
    if {"cnn", "cnn_static"} <= set(systems):
        report["static_minus_cnn"] = {
            k: round(systems["cnn_static"]["scores"][k] - systems["cnn"]["scores"][k], 2)
            for k in systems["cnn"]["scores"]
        }
    report["date"] = time.strftime("%Y-%m-%d")
    report["machine"] = machine()
    return emit(report, args.out or RESULTS / f"static-heads-{args.task}.json")


if __name__ == "__main__":
    main()
