"""WSD on SemEval-2007 after training on every --stride-th SemCor sentence: the
first sense, an LMMS-style nearest sense, and ctx_wsd untrained and trained
on frozen features (float16), or fine-tuning the encoder (--grad-factor > 0).

    nice -n 10 python bench/bench_wsd.py --stride 5 --epochs 4
"""
import json
import random
import sys
import time
from pathlib import Path

import numpy
import spacy
from spacy.training import Example
from thinc.api import Adam

from harness import emit, options, parse
from spacy_ctx.corpora import read_docs
from spacy_ctx.senses.corpus import with_gold_input
from spacy_ctx.senses.embeddings import SensePropagator
from spacy_ctx.senses.raganato import doc_to_instances
from spacy_ctx.senses.scoring import score_keys, score_wsd
from spacy_ctx.senses.wordnet import get_inventory


def load(nlp, path: Path, stride: int = 1, limit: int = 0):
    """Every stride-th sentence of a Raganato file (the first `limit`), with its gold senses."""
    return [Example(with_gold_input(ref), ref) for ref in read_docs(path, nlp)[::stride][: limit or None]]


def encode(nlp, examples):
    encoder, docs = nlp.get_pipe("ctx_encoder"), [eg.predicted for eg in examples]
    for i in range(0, len(docs), 64):
        encoder.set_annotations(docs[i : i + 64], encoder.predict(docs[i : i + 64]))


def instances(examples, wsd=None):
    """(instance id, gold keys, span, candidate keys) of every sense-tagged span."""
    for eg in examples:
        for iid, keys, span in doc_to_instances(eg.reference):
            yield eg, iid, keys, span, (wsd.candidates(span[0].lemma_, span[0].pos_) if wsd else None)


def last4(doc, span):
    """The LMMS-style feature: the mean of the last 4 layers over the span, unit length."""
    vec = doc._.ctx_layers[-4:, span.start : span.end].astype("f").mean(axis=(0, 1))
    return vec / (numpy.linalg.norm(vec) + 1e-8)


def lmms(wsd, wordnet, train, dev):
    sums, counts = {}, {}
    for eg, _, keys, span, _ in instances(train):
        for key in keys:
            sums[key] = sums.get(key, 0) + last4(eg.predicted, span)
            counts[key] = counts.get(key, 0) + 1
    propagator = SensePropagator(wordnet, {k: sums[k] / counts[k] for k in sums})
    answers = {}
    for eg, iid, _, span, keys in instances(dev, wsd):
        if keys:
            vec, table = last4(eg.predicted, span), {key: propagator.get(key) for key in keys}
            sims = {k: float(vec @ v) / (numpy.linalg.norm(v) + 1e-8) for k, v in table.items() if v is not None}
            answers[iid] = max(sims, key=sims.get) if sims else keys[0]
    return answers


def evaluate(wsd, dev):
    docs = [with_gold_input(eg.reference) for eg in dev]
    for doc, eg in zip(docs, dev):
        doc._.ctx_layers, doc._.ctx_layer_ids = eg.predicted._.ctx_layers, eg.predicted._.ctx_layer_ids
    wsd.set_annotations(docs, wsd.predict(docs))
    return round(100 * score_wsd([Example(d, eg.reference) for d, eg in zip(docs, dev)])["wsd_f"], 1)


def main():
    parser = options(__doc__, threads=None)
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
    args = parse(parser)
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config={"store_dtype": "float16"})
    listener = {"layers": [int(x) for x in args.layers.split(",")] if args.layers else None, "grad_factor": args.grad_factor}
    wsd = nlp.add_pipe("ctx_wsd", config={"wordnet_path": str(args.data / "wordnet30" / "dict"),
                                          "model": {"train_senses": bool(args.train_senses), "tok2vec": listener}})
    result = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "out"}
    train = load(nlp, args.data / "wsd" / "semcor30_from_naf.data.xml", args.stride, args.limit)
    dev = load(nlp, args.data / "wsd" / "semeval2007" / "semeval2007.data.xml")
    words = sum(len(eg.reference) for eg in train)
    result.update(train_sentences=len(train), train_words=words, train_instances=len({iid for _, iid, keys, _, _ in instances(train) if keys}))
    start = time.time()
    encode(nlp, train)
    result.update(encode_s=round(time.time() - start, 1), encode_words_per_s=round(words / (time.time() - start), 1))
    encode(nlp, dev)
    gold = {iid: keys for _, iid, keys, _, _ in instances(dev) if keys}
    mfs = {iid: keys[0] for _, iid, _, _, keys in instances(dev, wsd) if keys}
    result.update(dev_instances=len(gold), mfs_wordnet_f1=round(100 * score_keys(gold, mfs)["f"], 1),
                  lmms_f1=round(100 * score_keys(gold, lmms(wsd, get_inventory(args.data / "wordnet30" / "dict"), train, dev))["f"], 1))
    print(json.dumps(result), file=sys.stderr, flush=True)
    start = time.time()
    wsd.initialize(lambda: train, nlp=nlp)
    result.update(init_s=round(time.time() - start, 1), n_senses=len(wsd.senses), untrained_f1=evaluate(wsd, dev))
    fine_tune = args.grad_factor > 0
    optimizer = Adam(args.fine_tune_lr if fine_tune else args.lr)
    if fine_tune:  # the stored frozen features are not used from here on
        for eg in train:
            eg.predicted._.ctx_layers = None
    history, rng, start = [], random.Random(0), time.time()
    for epoch in range(args.epochs):
        order, losses = list(train), {}
        rng.shuffle(order)
        for i in range(0, len(order), args.batch_size):  # fine-tuning: encoder and head, through the listener
            (nlp if fine_tune else wsd).update(order[i : i + args.batch_size], sgd=optimizer, losses=losses)
        if fine_tune:
            encode(nlp, dev)  # the encoder changed
        history.append({"epoch": epoch + 1, "loss": round(losses["ctx_wsd"], 2), "dev_f1": evaluate(wsd, dev), "s": round(time.time() - start, 1)})
        print(json.dumps(history[-1]), file=sys.stderr, flush=True)
    seconds = time.time() - start
    result.update(epochs_s=round(seconds, 1), train_total_s=round(result["encode_s"] + result["init_s"] + seconds, 1),
                  train_words_per_s=round(words * args.epochs / seconds, 1), trained_f1_last=history[-1]["dev_f1"] if history else None,
                  trained_f1_best=max((h["dev_f1"] for h in history), default=None), history=history)
    if args.save:
        nlp.to_disk(args.save)
    emit(result, args.out)


if __name__ == "__main__":
    main()
