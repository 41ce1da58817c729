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
import tempfile
from pathlib import Path
from typing import Dict

import spacy
from spacy.training import Corpus
from spacy.util import load_model_from_config

from harness import CONFIGS, RESULTS, TASKS, emit, log, options, parse
from harness.peers import pipe
from harness.timing import interleave
from harness.readers import convert
from harness.training import set_schedule, task_config, train_and_score

STATIC_CONFIGS = {"ner": CONFIGS / "ner_static.cfg", "pos": CONFIGS / "tagger_static.cfg"}


def train_system(task: str, system: str, paths: Dict, work: Path, args) -> Dict:
    config = task_config(STATIC_CONFIGS[task], paths, 20)
    config["paths"]["vectors"] = str(args.vectors) if system == "cnn_static" else None
    for head in TASKS[task]["heads"]:
        config["components"][head]["model"]["tok2vec"]["embed"]["include_static_vectors"] = system == "cnn_static"
    set_schedule(config, epochs=args.max_epochs, eval_frequency=1000, batch_words=args.batch_words)
    nlp, run = train_and_score(config, work / system, paths["dev"], TASKS[task]["scores"])
    result = {"train_s": round(run["train_s"], 1), "train_cpu_s": round(run["train_cpu_s"], 1),
              "train_words_per_cpu_s": round(paths["n_train_words"] * args.max_epochs / run["train_cpu_s"], 1),
              "batch_words": args.batch_words or "config", "scores": run["scores"], "n_vectors": int(nlp.vocab.vectors.shape[0])}
    log(f"{system}: {result}")
    return result


def speeds(task: str, work: Path, paths: Dict, args) -> Dict:
    pipelines = {s: spacy.load(work / s / "model-last") for s in args.systems}
    # The contextual config, heads initialised on a few training docs.
    ctx = pipelines["ctx (untrained heads)"] = load_model_from_config(task_config(TASKS[task]["config"], paths), auto_fill=True)
    examples = list(Corpus(str(paths["train"]), limit=20)(ctx))
    ctx.initialize(lambda: examples)
    texts = [eg.reference.text for eg in Corpus(paths["dev"])(ctx)][: args.speed_docs]
    words = sum(len(ctx.make_doc(t)) for t in texts)
    seconds = interleave({name: pipe(nlp, 64) for name, nlp in pipelines.items()}, texts, args.chunks, warmup=8)
    wps = {name: round(words / s, 1) for name, s in seconds.items()}
    base = wps.get("cnn", next(iter(wps.values())))
    return {"n_docs": len(texts), "n_words": words, "words_per_s": wps, "ratio_to_cnn": {n: round(v / base, 3) for n, v in wps.items()}}


def main(argv=None) -> Dict:
    parser = options(__doc__, threads=1)
    parser.add_argument("task", choices=sorted(STATIC_CONFIGS))
    parser.add_argument("--vectors", type=Path, required=True, help="the static table (a distill-static output)")
    parser.add_argument("--systems", nargs="+", default=["cnn", "cnn_static"], choices=["cnn", "cnn_static"])
    parser.add_argument("--train-limit", type=int, default=400, help="first N train docs of 10 sentences (0 = all)")
    parser.add_argument("--max-epochs", type=int, default=6)
    parser.add_argument("--batch-words", type=int, default=1000, help="fixed batch size in words (0 = the config's schedule)")
    parser.add_argument("--speed-docs", type=int, default=120, help="dev docs for the interleaved speed run")
    parser.add_argument("--chunks", type=int, default=4)
    args = parse(parser, argv)
    with tempfile.TemporaryDirectory(prefix="spacy_ctx_static_heads_") as tmp:
        work = Path(tmp)
        paths = convert(args.task, args.data, work, args.train_limit)
        systems = {s: train_system(args.task, s, paths, work, args) for s in args.systems}
        report = {"task": args.task, "vectors": str(args.vectors), "train_docs": paths["n_train_docs"],
                  "train_words": paths["n_train_words"], "dev_docs": paths["n_dev_docs"], "dev_words": paths["n_dev_words"],
                  "max_epochs": args.max_epochs, "threads": args.threads, "systems": systems,
                  "speed": speeds(args.task, work, paths, args)}
    if {"cnn", "cnn_static"} <= set(systems):
        report["static_minus_cnn"] = {k: round(systems["cnn_static"]["scores"][k] - v, 2) for k, v in systems["cnn"]["scores"].items()}
    return emit(report, args.out or RESULTS / f"static-heads-{args.task}.json")


if __name__ == "__main__":
    main()
