"""The pretrained ELMo encoder against no contextual features, on UD EWT UPOS,
and the ELMo encoder's throughput beside the MiniLM encoder.

    nice -n 10 python bench/bench_elmo.py --weights /tmp/elmo_pretrained \
        --train-limit 400 --max-epochs 6 --out /tmp/bench_elmo.json

Systems (same heads, same data, same epochs; spaCy's own `spacy train` loop):
- elmo: configs/elmo_tagger.cfg with the pretrained weights (frozen features,
  the config's default), i.e. a per-head scalar mix of the 3 ELMo layers
  concatenated with hash embeddings of NORM/PREFIX/SUFFIX/SHAPE.
- elmo_random: the same with a randomly initialised (not pretrained) encoder.
- hash: no contextual features at all: the heads' tok2vec is hash embeddings
  of the same attributes (spacy.MultiHashEmbed.v2, width 256) and the same
  single maxout window layer.
- cnn: spaCy's CNN tok2vec (hash embeddings + 4 residual window layers).

UPOS is the morphologizer's pos_acc on the whole EWT dev set, scored on
model-last with nlp.evaluate. By default only the morphologizer is trained
(--with-tagger adds the XPOS tagger of the config). Training data are the
first --train-limit docs of 10 sentences of EWT train (spaCy's conllu
converter), written to a temporary directory, never into the repository.

Throughput: words/s of `nlp.pipe` with only a ctx_encoder (ELMo, then the
default MiniLM-L6-H384) over the same EWT dev sentences, after a warm-up
batch, with the same torch thread count. Prints one JSON object.
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import spacy
import torch
from spacy.cli.train import train as spacy_train
from spacy.tokens import DocBin
from spacy.training import Corpus
from spacy.training.converters import conllu_to_docs
from thinc.api import Config

from _report import emit, set_schedule  # noqa: E402  (bench/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
CONFIG = ROOT / "configs" / "elmo_tagger.cfg"
EWT = "ud_english_ewt/en_ewt-ud-{split}.conllu"
SYSTEMS = ("elmo", "elmo_random", "hash", "cnn")
HASH_EMBED = {
    "@architectures": "spacy.MultiHashEmbed.v2",
    "width": 256,
    "attrs": ["NORM", "PREFIX", "SUFFIX", "SHAPE"],
    "rows": [5000, 1000, 2500, 2500],
    "include_static_vectors": False,
}


def window_encoder(depth: int) -> Dict:
    return {
        "@architectures": "spacy.MaxoutWindowEncoder.v2",
        "width": 256,
        "depth": depth,
        "window_size": 1,
        "maxout_pieces": 3,
    }


def convert(data: Path, work: Path, train_limit: int) -> Dict:
    """EWT train (first train_limit docs) and dev as .spacy files in work."""
    info: Dict = {}
    for split in ("train", "dev"):
        text = (data / EWT.format(split=split)).read_text(encoding="utf8")
        docs = list(conllu_to_docs(text, n_sents=10, no_print=True))
        if split == "train" and train_limit:
            docs = docs[:train_limit]
        info[split] = work / f"{split}.spacy"
        DocBin(docs=docs, store_user_data=False).to_disk(info[split])
        info[f"n_{split}_docs"] = len(docs)
        info[f"n_{split}_words"] = sum(len(doc) for doc in docs)
    return info


def pretrained_sizes(weights: Path) -> Dict:
    """The encoder sizes of pretrained weights (pretrain-elmo's config.json),
    so that weights of any size load into the config's encoder block."""
    block = json.loads(((weights if weights.is_dir() else weights.parent) / "config.json").read_text())
    return {key: value for key, value in block.items() if key not in ("@architectures", "weights")}


def make_config(system: str, paths: Dict, args) -> Config:
    config = Config().from_disk(CONFIG, interpolate=False)
    config["paths"]["train"] = str(paths["train"])
    config["paths"]["dev"] = str(paths["dev"])
    config["paths"]["elmo_weights"] = str(args.weights) if system == "elmo" else None
    if system == "elmo" and args.weights is not None:
        config["components"]["ctx_encoder"]["model"].update(pretrained_sizes(Path(args.weights)))
    heads = ["morphologizer", "tagger"] if args.with_tagger else ["morphologizer"]
    config["nlp"]["pipeline"] = ["ctx_encoder", *heads]
    if not args.with_tagger:
        del config["components"]["tagger"]
        config["training"]["score_weights"] = {"pos_acc": 1.0, "morph_acc": 0.0}
    set_schedule(config, args)
    # Evaluation during training only logs progress; model-last is scored on
    # the whole dev set afterwards, the same way for every system.
    config["corpora"]["dev"]["limit"] = args.dev_limit_during_training
    if system in ("hash", "cnn"):
        for head in heads:
            config["components"][head]["model"]["tok2vec"] = {
                "@architectures": "spacy.Tok2Vec.v2",
                "embed": dict(HASH_EMBED),
                "encode": window_encoder(1 if system == "hash" else 4),
            }
        config["nlp"]["pipeline"] = heads
        del config["components"]["ctx_encoder"]
    return config


def run_system(system: str, paths: Dict, work: Path, args) -> Dict:
    config_path = work / f"{system}.cfg"
    make_config(system, paths, args).to_disk(config_path)
    output = work / f"out-{system}"
    start = time.perf_counter()
    spacy_train(config_path, output, use_gpu=-1)
    train_s = time.perf_counter() - start
    nlp = spacy.load(output / "model-last")
    examples = list(Corpus(paths["dev"])(nlp))
    start = time.perf_counter()
    scores = nlp.evaluate(examples, batch_size=64)
    infer_s = time.perf_counter() - start
    result = {
        "system": system,
        "train_s": round(train_s, 1),
        "eval_s": round(infer_s, 1),
        "pos_acc": round(100 * float(scores["pos_acc"]), 2),
        "morph_acc": round(100 * float(scores["morph_acc"]), 2),
    }
    if args.with_tagger:
        result["tag_acc"] = round(100 * float(scores["tag_acc"]), 2)
    print(json.dumps(result), file=sys.stderr, flush=True)
    return result


def dev_texts(data: Path, n: int) -> List[str]:
    lines = (data / EWT.format(split="dev")).read_text(encoding="utf8").splitlines()
    return [line[len("# text = ") :] for line in lines if line.startswith("# text = ")][:n]


def throughput(model_config: Dict, texts: List[str], batch_size: int) -> Dict:
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config={"model": model_config})
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
        texts = dev_texts(args.data, args.speed_sentences)
        elmo_block = dict(Config().from_disk(CONFIG, interpolate=False)["components"]["ctx_encoder"]["model"])
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
        paths = convert(args.data, work, args.train_limit)
        report.update({k: v for k, v in paths.items() if k.startswith("n_")})
        report["systems"] = {s: run_system(s, paths, work, args) for s in args.systems}
    systems = report["systems"]
    for other in ("hash", "cnn", "elmo_random"):
        if "elmo" in systems and other in systems:
            report[f"elmo_minus_{other}_pos_acc"] = round(
                systems["elmo"]["pos_acc"] - systems[other]["pos_acc"], 2
            )
    return emit(report, args.out)


if __name__ == "__main__":
    main()
