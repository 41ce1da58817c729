"""Which encoder layers each trained head learned to use.

Trains the heads of configs/tagger.cfg (EWT: morphologizer for UPOS, tagger
for XPOS) and configs/ner.cfg (CoNLL-2003) with `spacy train` on the first N
training sentences, frozen encoder, then reads each head's learned scalar
mix: softmax(s) over the encoder layers. Writes JSON and a PNG.

    python bench/bench_layer_weights.py [--data ../shared/data] [--n-train 2000] \
        [--epochs 2] [--out bench/results/layer_weights.json] [--png docs/figures/layer-weights.png]
"""
import argparse
import time
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy
import spacy
from spacy.cli.train import train as spacy_train
from spacy.tokens import DocBin

from _report import emit  # noqa: E402  (bench/ is on sys.path when run as a script)
from spacy_ctx.analysis.plots import plot_panels
from spacy_ctx.corpora import read_docs

ROOT = Path(__file__).resolve().parent.parent
TASKS = {
    # config, train file, dev file (relative to --data), n_sents per doc
    "tagger": ("tagger.cfg", "ud_english_ewt/en_ewt-ud-train.conllu", "ud_english_ewt/en_ewt-ud-dev.conllu"),
    "ner": ("ner.cfg", "conll2003/train.txt", "conll2003/valid.txt"),
}


def _docbin(path: Path, out: Path, limit: int) -> Path:
    docs = read_docs(path, spacy.blank("en"), limit=limit, n_sents=10)
    DocBin(docs=docs).to_disk(out)
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
                tap, mix = node.get_ref("tap"), node.get_ref("mix")
                s = mix.ops.to_numpy(mix.get_param("weights"))
                p = numpy.exp(s - s.max())
                probs = numpy.zeros(tap.attrs["n_layers"])
                probs[tap.attrs["selected"]] = p / p.sum()
                weights[name] = [round(float(x), 4) for x in probs]
    return weights


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--n-train", type=int, default=200, help="Training docs (10 sentences each).")
    parser.add_argument("--n-dev", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--png", type=Path, default=None)
    args = parser.parse_args()
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "n_train_docs": args.n_train,
        "epochs": args.epochs,
        "heads": {},
        "scores": {},
    }
    with TemporaryDirectory() as tmp:
        for task, (config, train, dev) in TASKS.items():
            train_path = _docbin(args.data / train, Path(tmp) / f"{task}-train.spacy", args.n_train)
            dev_path = _docbin(args.data / dev, Path(tmp) / f"{task}-dev.spacy", args.n_dev)
            output = Path(tmp) / task
            spacy_train(
                ROOT / "configs" / config,
                output,
                overrides={
                    "paths.train": str(train_path),
                    "paths.dev": str(dev_path),
                    "training.max_epochs": args.epochs,
                    "training.max_steps": 0,
                },
                use_gpu=-1,
            )
            nlp = spacy.load(output / "model-last")
            report["heads"].update({f"{task}:{name}": w for name, w in mix_weights(nlp).items()})
            report["scores"][task] = nlp.meta.get("performance", {})
    report["machine"] = "2-core shared CPU"
    emit(report, args.out)
    if args.png:
        n_layers = len(next(iter(report["heads"].values())))
        keys = [f"layer{i}" for i in range(n_layers)]
        series = {head: dict(zip(keys, w)) for head, w in report["heads"].items()}
        panel = "learned scalar-mix weights, softmax(s)"
        plot_panels({panel: series}, keys, args.png, ylabel={panel: "weight"}, n_cols=1)


if __name__ == "__main__":
    main()
