"""Which encoder layers each trained head uses: trains tagger.cfg, ner.cfg and
wsd.cfg (and wsd-all, mixing every layer) on a frozen encoder and reads each
head's softmax(s) over the layers.

    python bench/bench_layer_weights.py --tasks tagger ner --n-train 400 --n-dev 100 --epochs 4 \\
        --out bench/results/layer_weights.json --png docs/figures/layer-weights.png
"""
import json
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy
import spacy

from harness import CONFIGS, TASKS as CORPORA, emit, options, parse
from harness.readers import docbin
from harness.training import learned_mixes, train
from spacy_ctx.analysis.plots import plot_panels

WSD = ("wsd.cfg", "wsd/semcor30_from_naf.data.xml", "wsd/semeval2007/semeval2007.data.xml")
# config, train file, dev file (relative to --data)
TASKS = {"tagger": ("tagger.cfg", CORPORA["pos"]["train"], CORPORA["pos"]["dev"]),
         "ner": ("ner.cfg", CORPORA["ner"]["train"], CORPORA["ner"]["dev"]), "wsd": WSD, "wsd-all": WSD}
# wsd-all: the WSD head's listener mixes every layer, not wsd.cfg's top 4.
EXTRA_OVERRIDES = {"wsd-all": {"components.ctx_wsd.model.tok2vec.layers": None}}


def listener_weights(nlp) -> dict:
    """{component: softmax of its listener's mix weights, per encoder layer (0 where it reads none)}."""
    weights = {}
    for name, mix in learned_mixes(nlp).items():
        probs = numpy.zeros(mix["n_layers"])
        probs[mix["layers"]] = mix["weights"]
        weights[name] = [round(float(x), 4) for x in probs]
    return weights


def main() -> None:
    parser = options(__doc__, threads=None)
    parser.add_argument("--n-train", type=int, default=200, help="training docs (10 sentences each)")
    parser.add_argument("--n-dev", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--wsd-stride", type=int, default=20, help="WSD: every N-th SemCor sentence")
    parser.add_argument("--update", action="store_true", help="keep the other tasks of an existing --out")
    parser.add_argument("--png", type=Path, default=None)
    args = parse(parser)
    report = {"heads": {}, "scores": {}, "runs": {}}
    if args.update and args.out and args.out.exists():
        report = {"runs": {}, **json.loads(args.out.read_text())}
    with TemporaryDirectory() as tmp:
        for task in args.tasks:
            (config, train_file, dev_file), work = TASKS[task], Path(tmp)
            overrides = {"training.max_epochs": args.epochs, "training.max_steps": 0, "training.patience": 0}
            if task.startswith("wsd"):
                settings = {"train": f"every {args.wsd_stride}th SemCor sentence", "dev": "SemEval-2007"}
                train_path = docbin(args.data / train_file, work / f"{task}-train.spacy", stride=args.wsd_stride)
                dev_path = docbin(args.data / dev_file, work / f"{task}-dev.spacy")
                # wsd.cfg scores the dev set every 5 updates; here only the weights count.
                overrides.update({"paths.wordnet": str(args.data / "wordnet30" / "dict"), "training.eval_frequency": 200})
            else:
                settings = {"train_docs": args.n_train, "dev_docs": args.n_dev}
                train_path = docbin(args.data / train_file, work / f"{task}-train.spacy", args.n_train)
                dev_path = docbin(args.data / dev_file, work / f"{task}-dev.spacy", args.n_dev)
            overrides.update({"paths.train": str(train_path), "paths.dev": str(dev_path), **EXTRA_OVERRIDES.get(task, {})})
            trained = train(CONFIGS / config, work / task, overrides)
            nlp = spacy.load(trained["model"])
            report["heads"].update({f"{task}:{name}": w for name, w in listener_weights(nlp).items()})
            report["scores"][task] = nlp.meta.get("performance", {})
            report["runs"][task] = {"date": time.strftime("%Y-%m-%d"), "epochs": args.epochs, **settings,
                                    "overrides": EXTRA_OVERRIDES.get(task, {}), "wall_s": round(trained["train_s"], 1)}
    emit(report, args.out)
    if args.png:
        keys = [f"layer{i}" for i in range(len(next(iter(report["heads"].values()))))]
        panel = "learned scalar-mix weights, softmax(s)"
        plot_panels({panel: {head: dict(zip(keys, w)) for head, w in report["heads"].items()}}, keys, args.png,
                    ylabel={panel: "weight"}, n_cols=1)


if __name__ == "__main__":
    main()
