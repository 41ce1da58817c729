"""Accuracy and speed of the NER / POS heads on contextual layers, against the
same heads on spaCy's plain CNN tok2vec (the ablation), on ../shared/data.

    nice -n 10 python bench/bench_heads.py ner --systems ctx cnn --max-epochs 6
    nice -n 10 python bench/bench_heads.py pos --systems ctx cnn --max-epochs 4

Trains through spaCy's own `spacy train` loop (spacy.cli.train.train) with the
configs in configs/, then scores model-last on the whole dev set with
nlp.evaluate. Prints one JSON object: per system the dev scores, the training
wall time with its per-epoch split (the frozen encoder's first epoch fills the
cache, later epochs must be much faster), the training and inference words/s,
and the ctx - cnn difference of every score.

Wall times depend on the load of the machine; the *_cpu_s figures (process
CPU time, all threads) are less sensitive to it.

Data go to a temporary directory, never into the repository:
- ner: CoNLL-2003 train.txt -> valid.txt (spaCy's conll converter, 10
  sentences per doc, never across a -DOCSTART- boundary).
- pos: UD English EWT train -> dev (spaCy's conllu converter, 10 sentences
  per doc); scores UPOS (pos_acc), XPOS (tag_acc) and features (morph_acc).
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import spacy
from spacy.cli.train import train as spacy_train
from spacy.tokens import DocBin
from spacy.training import Corpus
from spacy.training.converters import conll_ner_to_docs, conllu_to_docs
from spacy.util import registry
from thinc.api import Config

from _report import emit, set_schedule  # noqa: E402  (bench/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
TASKS = {
    "ner": {
        "config": ROOT / "configs" / "ner.cfg",
        "train": "conll2003/train.txt",
        "dev": "conll2003/valid.txt",
        "heads": ["ner"],
        "scores": ["ents_f", "ents_p", "ents_r"],
    },
    "pos": {
        "config": ROOT / "configs" / "tagger.cfg",
        "train": "ud_english_ewt/en_ewt-ud-train.conllu",
        "dev": "ud_english_ewt/en_ewt-ud-dev.conllu",
        "heads": ["morphologizer", "tagger"],
        "scores": ["pos_acc", "tag_acc", "morph_acc"],
    },
}
# spaCy's CNN tok2vec (the efficiency preset's architecture) at the heads'
# width: hash embeddings of the same attributes, 4 residual window layers.
CNN_TOK2VEC = {
    "@architectures": "spacy.Tok2Vec.v2",
    "embed": {
        "@architectures": "spacy.MultiHashEmbed.v2",
        "width": 256,
        "attrs": ["NORM", "PREFIX", "SUFFIX", "SHAPE"],
        "rows": [5000, 1000, 2500, 2500],
        "include_static_vectors": False,
    },
    "encode": {
        "@architectures": "spacy.MaxoutWindowEncoder.v2",
        "width": 256,
        "depth": 4,
        "window_size": 1,
        "maxout_pieces": 3,
    },
}

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


def convert(task: str, data: Path, work: Path, train_limit: int, dev_limit: int) -> Dict[str, Path]:
    """Convert train and dev with spaCy's converters into `work`."""
    paths = {}
    for split in ("train", "dev"):
        text = (data / TASKS[task][split]).read_text(encoding="utf8")
        if task == "ner":
            # spaCy splits documents on "-DOCSTART- -X- O O"; this copy has a
            # chunk column of -X-, so the marker needs normalising first.
            text = text.replace("-DOCSTART- -X- -X- O", "-DOCSTART- -X- O O")
            docs = conll_ner_to_docs(text, n_sents=10, no_print=True)
        else:
            docs = conllu_to_docs(text, n_sents=10, no_print=True)
        docs = list(docs)
        limit = train_limit if split == "train" else dev_limit
        if limit:
            docs = docs[:limit]
        paths[split] = work / f"{split}.spacy"
        DocBin(docs=docs, store_user_data=False).to_disk(paths[split])
        paths[f"n_{split}_words"] = sum(len(doc) for doc in docs)
        paths[f"n_{split}_docs"] = len(docs)
    return paths


def make_config(task: str, system: str, paths: Dict, args, config_path: Optional[Path] = None) -> Config:
    """The task's config (or config_path), or its ablation with spaCy's CNN and no encoder."""
    config = Config().from_disk(config_path or TASKS[task]["config"], interpolate=False)
    config["paths"]["train"] = str(paths["train"])
    config["paths"]["dev"] = str(paths["dev"])
    set_schedule(config, args)
    training = config["training"]
    if args.learn_rate:
        # spacy-transformers' schedule: fine-tuning wants a small rate, and
        # spaCy's one optimizer applies it to the heads as well.
        training["optimizer"]["learn_rate"] = {
            "@schedules": "warmup_linear.v1", "warmup_steps": 250, "total_steps": 20000,
            "initial_rate": args.learn_rate,
        }
    training["before_update"] = {"@callbacks": "spacy_ctx_bench.epoch_timer.v1"}
    # Evaluation during training only logs progress: model-last is scored
    # on the full dev set afterwards, the same way for every system.
    config["corpora"]["dev"]["limit"] = args.dev_limit_during_training
    for head in TASKS[task]["heads"]:
        tok2vec = config["components"][head]["model"]["tok2vec"]
        if system == "cnn":
            config["components"][head]["model"]["tok2vec"] = json.loads(json.dumps(CNN_TOK2VEC))
        else:
            if args.grad_factor is not None:
                tok2vec["ctx"]["grad_factor"] = args.grad_factor
            if args.encode:
                tok2vec["encode"] = encoder_block(args.encode, tok2vec["width"])
    if system == "cnn":
        config["nlp"]["pipeline"] = [p for p in config["nlp"]["pipeline"] if p != "ctx_encoder"]
        del config["components"]["ctx_encoder"]
    else:
        for override in args.set:
            path, value = override.split("=", 1)
            *parents, leaf = path.split(".")
            section = config
            for key in parents:
                section = section[key]
            section[leaf] = json.loads(value)
    return config


def encoder_block(spec: str, width) -> Dict:
    """The ctx heads' `encode` block from "window:DEPTH" or "bilstm:DEPTH"."""
    kind, depth = spec.split(":")
    if kind == "window":
        return {"@architectures": "spacy.MaxoutWindowEncoder.v2", "width": width,
                "depth": int(depth), "window_size": 1, "maxout_pieces": 3}
    if kind == "bilstm":
        return {"@architectures": "spacy.TorchBiLSTMEncoder.v1", "width": width,
                "depth": int(depth), "dropout": 0.1}
    raise ValueError(f"--encode wants window:DEPTH or bilstm:DEPTH, not {spec!r}")


def run_system(task: str, system: str, paths: Dict, work: Path, args) -> Dict:
    config = make_config(task, system, paths, args)
    config_path = work / f"{system}.cfg"
    config.to_disk(config_path)
    output = work / f"out-{system}"
    EPOCH_TIMES.clear()
    start, cpu_start = time.perf_counter(), time.process_time()
    spacy_train(config_path, output, use_gpu=-1)
    train_s = time.perf_counter() - start
    train_cpu_s = time.process_time() - cpu_start
    epoch_s = [b - a for a, b in zip(EPOCH_TIMES, EPOCH_TIMES[1:] + [start + train_s])]

    nlp = spacy.load(output / "model-last")
    examples = list(Corpus(paths["dev"])(nlp))
    start, cpu_start = time.perf_counter(), time.process_time()
    scores = nlp.evaluate(examples, batch_size=args.batch_size)
    infer_s = time.perf_counter() - start
    infer_cpu_s = time.process_time() - cpu_start
    doc = nlp(examples[0].reference.text)
    result = {
        "system": system,
        "train_s": round(train_s, 1),
        "train_cpu_s": round(train_cpu_s, 1),
        "epochs": len(epoch_s),
        "epoch_s": [round(s, 1) for s in epoch_s],
        "train_words_per_s": round(paths["n_train_words"] * len(epoch_s) / train_s, 1),
        "infer_s": round(infer_s, 1),
        "infer_cpu_s": round(infer_cpu_s, 1),
        "infer_words_per_s": round(paths["n_dev_words"] / infer_s, 1),
        "scores": {k: round(100 * float(scores[k]), 2) for k in TASKS[task]["scores"] if scores.get(k) is not None},
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
                        help="override a ctx config value, e.g. components.ner.model.hidden_width=256")
    parser.add_argument("--encode", default="", help="ctx heads' encoder: window:DEPTH or bilstm:DEPTH (default: the config's)")
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
            "encode": args.encode or "config",
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
