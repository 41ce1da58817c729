"""Which encoder layers each trained head learned to use.

Trains the heads of configs/tagger.cfg (EWT: morphologizer for UPOS, tagger
for XPOS), configs/ner.cfg (CoNLL-2003) and configs/wsd.cfg (every
--wsd-stride-th SemCor sentence, SemEval-2007 as dev; once as shipped, whose
mix reads the top 4 layers, and once mixing all layers: wsd-all) with
`spacy train`, frozen encoder, then reads each head's learned scalar mix:
softmax(s) over the encoder layers (0 for layers a head does not read).
Writes JSON and a PNG.

    python bench/bench_layer_weights.py [--data ../shared/data] [--n-train 2000] \
        [--epochs 2] [--out bench/results/layer_weights.json] [--png docs/figures/layer-weights.png]
    python bench/bench_layer_weights.py --tasks wsd wsd-all --update --out ... --png ...
        adds the WSD heads to an existing report (each task keeps its own settings)
"""
import argparse
import json
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
from spacy_ctx.senses.raganato import read_raganato, sentence_to_doc

ROOT = Path(__file__).resolve().parent.parent
TASKS = {
    # config, train file, dev file (relative to --data; WSD: Raganato stems)
    "tagger": ("tagger.cfg", "ud_english_ewt/en_ewt-ud-train.conllu", "ud_english_ewt/en_ewt-ud-dev.conllu"),
    "ner": ("ner.cfg", "conll2003/train.txt", "conll2003/valid.txt"),
    "wsd": ("wsd.cfg", "wsd/semcor30_from_naf", "wsd/semeval2007/semeval2007"),
    "wsd-all": ("wsd.cfg", "wsd/semcor30_from_naf", "wsd/semeval2007/semeval2007"),
}
# wsd-all: the WSD head's listener mixes every layer, not wsd.cfg's top 4.
EXTRA_OVERRIDES = {"wsd-all": {"components.ctx_wsd.model.tok2vec.layers": None}}


def _docbin(path: Path, out: Path, limit: int) -> Path:
    docs = read_docs(path, spacy.blank("en"), limit=limit, n_sents=10)
    DocBin(docs=docs).to_disk(out)
    return out


def _wsd_docbin(stem: Path, out: Path, stride: int) -> Path:
    """Every stride-th sentence of a Raganato data.xml + gold.key.txt pair."""
    vocab = spacy.blank("en").vocab
    sentences = read_raganato(f"{stem}.data.xml", f"{stem}.gold.key.txt")
    docs = [sentence_to_doc(vocab, s) for i, s in enumerate(sentences) if i % stride == 0 and s.words]
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
            config, train, dev = TASKS[task]
            overrides = {"training.max_epochs": args.epochs, "training.max_steps": 0}
            if task.startswith("wsd"):
                settings = {"train": f"every {args.wsd_stride}th SemCor sentence", "dev": "SemEval-2007"}
                train_path = _wsd_docbin(args.data / train, Path(tmp) / f"{task}-train.spacy", args.wsd_stride)
                dev_path = _wsd_docbin(args.data / dev, Path(tmp) / f"{task}-dev.spacy", 1)
                overrides["paths.wordnet"] = str(args.data / "wordnet30" / "dict")
                # wsd.cfg scores the dev set every 5 updates; here only the weights count.
                overrides["training.eval_frequency"] = 200
            else:
                settings = {"train_docs": args.n_train, "dev_docs": args.n_dev}
                train_path = _docbin(args.data / train, Path(tmp) / f"{task}-train.spacy", args.n_train)
                dev_path = _docbin(args.data / dev, Path(tmp) / f"{task}-dev.spacy", args.n_dev)
            overrides.update({"paths.train": str(train_path), "paths.dev": str(dev_path)})
            overrides.update(EXTRA_OVERRIDES.get(task, {}))
            output = Path(tmp) / task
            start = time.perf_counter()
            spacy_train(ROOT / "configs" / config, output, overrides=overrides, use_gpu=-1)
            nlp = spacy.load(output / "model-last")
            report["heads"].update({f"{task}:{name}": w for name, w in mix_weights(nlp).items()})
            report["scores"][task] = nlp.meta.get("performance", {})
            report["runs"][task] = {
                "date": time.strftime("%Y-%m-%d"), "epochs": args.epochs, **settings,
                "overrides": EXTRA_OVERRIDES.get(task, {}), "wall_s": round(time.perf_counter() - start, 1),
            }
    report["machine"] = "2-core shared CPU"
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
