"""WSD on SemEval-2007 (P/R/F1) after training on every --stride-th SemCor
sentence: the most frequent sense, an LMMS-style nearest sense, and ctx_wsd
untrained and trained, on frozen MiniLM features computed once (float16), or
with --grad-factor > 0 fine-tuning the encoder with the head.

    nice -n 10 python bench/bench_wsd.py --stride 5 --epochs 4
    nice -n 10 python bench/bench_wsd.py --stride 10 --epochs 2 --grad-factor 1.0
    nice -n 10 python bench/bench_wsd.py --stride 1 --epochs 3
"""
import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy
import spacy
from spacy.training import Example
from thinc.api import Adam

from spacy_ctx.corpora import read_docs
from spacy_ctx.senses.corpus import with_gold_input
from spacy_ctx.senses.embeddings import SensePropagator
from spacy_ctx.senses.raganato import doc_to_instances
from spacy_ctx.senses.scoring import score_keys, score_wsd
from spacy_ctx.senses.wordnet import get_inventory

from _common import DATA, emit


def load(nlp, path: Path, stride: int = 1, limit: int = 0):
    """Every stride-th sentence of a Raganato file (the first `limit`), with its gold senses."""
    docs = read_docs(path, nlp)[::stride][: limit or None]
    return [Example(with_gold_input(ref), ref) for ref in docs]


def encode(nlp, examples):
    encoder = nlp.get_pipe("ctx_encoder")
    docs = [eg.predicted for eg in examples]
    for i in range(0, len(docs), 64):
        batch = docs[i : i + 64]
        encoder.set_annotations(batch, encoder.predict(batch))


def gold_of(examples):
    return {iid: keys for eg in examples for iid, keys, _ in doc_to_instances(eg.reference) if keys}


def mfs(wsd, examples):
    answers = {}
    for eg in examples:
        for iid, _, span in doc_to_instances(eg.reference):
            keys = wsd.candidates(span[0].lemma_, span[0].pos_)
            if keys:
                answers[iid] = keys[0]
    return answers


def last4(doc, start, end):
    # The LMMS-style feature: mean of the last 4 layers, averaged over the span.
    layers = doc._.ctx_layers[-4:, start:end].astype("f")
    vec = layers.mean(axis=(0, 1))
    return vec / (numpy.linalg.norm(vec) + 1e-8)


def lmms(wsd, wordnet, train, dev):
    sums, counts = {}, {}
    for eg in train:
        for iid, keys, span in doc_to_instances(eg.reference):
            vec = last4(eg.predicted, span.start, span.end)
            for key in keys:
                sums[key] = sums.get(key, 0) + vec
                counts[key] = counts.get(key, 0) + 1
    propagator = SensePropagator(wordnet, {k: sums[k] / counts[k] for k in sums})
    answers = {}
    for eg in dev:
        for iid, _, span in doc_to_instances(eg.reference):
            keys = wsd.candidates(span[0].lemma_, span[0].pos_)
            if not keys:
                continue
            table = {key: propagator.get(key) for key in keys}
            vec = last4(eg.predicted, span.start, span.end)
            best, best_sim = keys[0], -2.0
            for key in keys:
                if table.get(key) is not None:
                    sim = float(vec @ table[key]) / (numpy.linalg.norm(table[key]) + 1e-8)
                    if sim > best_sim:
                        best, best_sim = key, sim
            answers[iid] = best
    return answers


def evaluate(nlp, wsd, dev):
    docs = [with_gold_input(eg.reference) for eg in dev]
    for doc, eg in zip(docs, dev):
        doc._.ctx_layers = eg.predicted._.ctx_layers
        doc._.ctx_layer_ids = eg.predicted._.ctx_layer_ids
    wsd.set_annotations(docs, wsd.predict(docs))
    return score_wsd([Example(d, eg.reference) for d, eg in zip(docs, dev)])["wsd_f"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--stride", type=int, default=5, help="keep every n-th SemCor sentence")
    parser.add_argument("--limit", type=int, default=0, help="max SemCor sentences (0 = all kept)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--train-senses", type=int, default=0, help="1: learn the sense table E too")
    parser.add_argument("--layers", type=str, default="-4,-3,-2,-1", help="listener layers ('' = all)")
    parser.add_argument("--grad-factor", type=float, default=0.0, help="> 0: fine-tune the encoder with the head")
    parser.add_argument("--fine-tune-lr", type=float, default=5e-5, help="Adam learning rate when fine-tuning")
    parser.add_argument("--save", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    wsd_dir = args.data / "wsd"
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config={"store_dtype": "float16"})
    wsd = nlp.add_pipe(
        "ctx_wsd",
        config={
            "wordnet_path": str(args.data / "wordnet30" / "dict"),
            "model": {
                "train_senses": bool(args.train_senses),
                "tok2vec": {
                    "layers": [int(x) for x in args.layers.split(",")] if args.layers else None,
                    "grad_factor": args.grad_factor,
                },
            },
        },
    )
    result = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "out"}
    train = load(nlp, wsd_dir / "semcor30_from_naf.data.xml", args.stride, args.limit)
    dev = load(nlp, wsd_dir / "semeval2007" / "semeval2007.data.xml")
    n_words = sum(len(eg.reference) for eg in train)
    result.update(train_sentences=len(train), train_words=n_words, train_instances=len(gold_of(train)))
    t0 = time.time()
    encode(nlp, train)
    t_encode = time.time() - t0
    encode(nlp, dev)
    result["encode_s"] = round(t_encode, 1)
    result["encode_words_per_s"] = round(n_words / t_encode, 1)
    print(json.dumps(result), file=sys.stderr, flush=True)

    gold = gold_of(dev)
    result["dev_instances"] = len(gold)
    result["mfs_wordnet_f1"] = round(100 * score_keys(gold, mfs(wsd, dev))["f"], 1)
    wordnet = get_inventory(args.data / "wordnet30" / "dict")
    result["lmms_f1"] = round(100 * score_keys(gold, lmms(wsd, wordnet, train, dev))["f"], 1)
    print(json.dumps(result), file=sys.stderr, flush=True)

    t1 = time.time()
    wsd.initialize(lambda: train, nlp=nlp)
    result["init_s"] = round(time.time() - t1, 1)
    result["n_senses"] = len(wsd.senses)
    result["untrained_f1"] = round(100 * evaluate(nlp, wsd, dev), 1)
    fine_tune = args.grad_factor > 0
    optimizer = Adam(args.fine_tune_lr if fine_tune else args.lr)
    if fine_tune:  # the stored frozen features are not used from here on
        for eg in train:
            eg.predicted._.ctx_layers = None
    history = []
    rng = random.Random(0)
    t2 = time.time()
    for epoch in range(args.epochs):
        order = list(train)
        rng.shuffle(order)
        losses = {}
        for i in range(0, len(order), args.batch_size):
            if fine_tune:  # encoder and head, through the listener
                nlp.update(order[i : i + args.batch_size], sgd=optimizer, losses=losses)
            else:
                wsd.update(order[i : i + args.batch_size], sgd=optimizer, losses=losses)
        if fine_tune:
            encode(nlp, dev)  # the encoder changed
        f1 = round(100 * evaluate(nlp, wsd, dev), 1)
        history.append({"epoch": epoch + 1, "loss": round(losses["ctx_wsd"], 2), "dev_f1": f1, "s": round(time.time() - t2, 1)})
        print(json.dumps(history[-1]), file=sys.stderr, flush=True)
    t_train = time.time() - t2
    result["epochs_s"] = round(t_train, 1)
    result["train_total_s"] = round(t_encode + result["init_s"] + t_train, 1)
    result["train_words_per_s"] = round(n_words * args.epochs / t_train, 1)
    result["trained_f1_last"] = history[-1]["dev_f1"] if history else None
    result["trained_f1_best"] = max((h["dev_f1"] for h in history), default=None)
    result["history"] = history
    if args.save:
        nlp.to_disk(args.save)
    emit(result, args.out)


if __name__ == "__main__":
    main()
