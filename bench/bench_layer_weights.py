"""Which encoder layers each trained head learned to use: trains the heads of
configs/tagger.cfg, ner.cfg and wsd.cfg (as shipped, top 4 layers, and
mixing all: wsd-all) with `spacy train`, frozen encoder, and reads each
head's softmax(s) over the encoder layers (0 for layers it does not read).

    python bench/bench_layer_weights.py --tasks tagger ner --n-train 400 --n-dev 100 --epochs 4 \
        --out bench/results/layer_weights.json --png docs/figures/layer-weights.png
    python bench/bench_layer_weights.py --tasks wsd wsd-all --wsd-stride 20 --epochs 2 --update \
        --out bench/results/layer_weights.json --png docs/figures/layer-weights.png
"""
import argparse
import json
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy
import spacy
from spacy.tokens import DocBin

from spacy_ctx.analysis.plots import plot_panels
from spacy_ctx.corpora import read_docs

from _common import CONFIGS, DATA, emit, machine, train

TASKS = {
    # config, train file, dev file (relative to --data)
    "tagger": ("tagger.cfg", "ud_english_ewt/en_ewt-ud-train.conllu", "ud_english_ewt/en_ewt-ud-dev.conllu"),
    "ner": ("ner.cfg", "conll2003/train.txt", "conll2003/valid.txt"),
    "wsd": ("wsd.cfg", "wsd/semcor30_from_naf.data.xml", "wsd/semeval2007/semeval2007.data.xml"),
    "wsd-all": ("wsd.cfg", "wsd/semcor30_from_naf.data.xml", "wsd/semeval2007/semeval2007.data.xml"),
}
# wsd-all: the WSD head's listener mixes every layer, not wsd.cfg's top 4.
EXTRA_OVERRIDES = {"wsd-all": {"components.ctx_wsd.model.tok2vec.layers": None}}


def docbin(path: Path, out: Path, limit=None, stride: int = 1) -> Path:
    """The first `limit` docs of 10 sentences (CoNLL-U, CoNLL NER), or every
    stride-th sentence with its gold senses (Raganato XML), as a .spacy file."""
    docs = read_docs(path, spacy.blank("en"), limit=limit, n_sents=10)[::stride]
    DocBin(docs=docs, store_user_data=True).to_disk(out)
    return out


def mix_weights(nlp) -> dict:
    """{component: softmax of its listener's mix weights, per encoder layer}."""
    weights = {}
    for name, pipe in nlp.pipeline:
        model = getattr(pipe, "model", None)
        if model is None or name == "ctx_encoder":
            continue
        for node in model.walk():
            if node.name == "ctx_listener":
                mix = node.get_ref("mix")
                s = mix.ops.to_numpy(mix.get_param("weights"))
                p = numpy.exp(s - s.max())
                probs = numpy.zeros(node.attrs["n_layers"])
                probs[node.selected] = p / p.sum()
                weights[name] = [round(float(x), 4) for x in probs]
    return weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--n-train", type=int, default=200, help="Training docs (10 sentences each).")
    parser.add_argument("--n-dev", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--wsd-stride", type=int, default=20, help="WSD: every N-th SemCor sentence")
    parser.add_argument("--update", action="store_true", help="keep the other tasks of an existing --out")
    parser.add_argument("--plot-only", action="store_true", help="train nothing: draw --png from --out")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--png", type=Path, default=None)
    args = parser.parse_args()
    report = {"heads": {}, "scores": {}, "runs": {}}
    if args.plot_only:
        args.tasks = []
    if (args.update or args.plot_only) and args.out and args.out.exists():
        report = json.loads(args.out.read_text())
        report.setdefault("runs", {})
    with TemporaryDirectory() as tmp:
        for task in args.tasks:
            config, train_file, dev_file = TASKS[task]
            overrides = {"training.max_epochs": args.epochs, "training.max_steps": 0, "training.patience": 0}
            if task.startswith("wsd"):
                settings = {"train": f"every {args.wsd_stride}th SemCor sentence", "dev": "SemEval-2007"}
                train_path = docbin(args.data / train_file, Path(tmp) / f"{task}-train.spacy", stride=args.wsd_stride)
                dev_path = docbin(args.data / dev_file, Path(tmp) / f"{task}-dev.spacy")
                overrides["paths.wordnet"] = str(args.data / "wordnet30" / "dict")
                # wsd.cfg scores the dev set every 5 updates; here only the weights count.
                overrides["training.eval_frequency"] = 200
            else:
                settings = {"train_docs": args.n_train, "dev_docs": args.n_dev}
                train_path = docbin(args.data / train_file, Path(tmp) / f"{task}-train.spacy", args.n_train)
                dev_path = docbin(args.data / dev_file, Path(tmp) / f"{task}-dev.spacy", args.n_dev)
            overrides.update({"paths.train": str(train_path), "paths.dev": str(dev_path)})
            overrides.update(EXTRA_OVERRIDES.get(task, {}))
            trained = train(CONFIGS / config, Path(tmp) / task, overrides)
            nlp = spacy.load(trained["model"])
            report["heads"].update({f"{task}:{name}": w for name, w in mix_weights(nlp).items()})
            report["scores"][task] = nlp.meta.get("performance", {})
            report["runs"][task] = {
                "date": time.strftime("%Y-%m-%d"), "epochs": args.epochs, **settings,
                "overrides": EXTRA_OVERRIDES.get(task, {}), "wall_s": round(trained["train_s"], 1),
            }
    report["machine"] = machine()
    if not args.plot_only:
        emit(report, args.out)
    if args.png:
        n_layers = len(next(iter(report["heads"].values())))
        keys = [f"layer{i}" for i in range(n_layers)]
        series = {head: dict(zip(keys, w)) for head, w in report["heads"].items()}
        panel = "learned scalar-mix weights, softmax(s)"
        plot_panels({panel: series}, keys, args.png, ylabel={panel: "weight"}, n_cols=1)


if __name__ == "__main__":
    main()
