"""WSD on SemEval-2007 after training on every --stride-th SemCor sentence: the
first sense, an LMMS-style nearest sense, and ctx_wsd untrained and trained
on frozen features (float16), or fine-tuning the encoder (--grad-factor > 0).
Dev F1 (all, MFS and LFS instances) every --eval-every updates; stops after
--max-updates or --patience evaluations without a better F1. --unseen: also
rows for the dev lemmas the training subset lacks, scored with and without them.
--gloss-projection and --identity-l2 select the scorer's options (docs/wsd.md).

    nice -n 10 python bench/bench_wsd.py --stride 5 --max-updates 2000
"""
import json
import pickle
import random
import sys
import time
from pathlib import Path

import numpy
import spacy
from spacy.training import Example
from thinc.api import Adam, fix_random_seed

from harness import MODEL, emit, options, parse
from spacy_ctx.corpora import read_docs
from spacy_ctx.senses.corpus import with_gold_input
from spacy_ctx.senses.embeddings import SensePropagator
from spacy_ctx.senses.raganato import doc_to_instances
from spacy_ctx.senses.scoring import score_keys, score_wsd
from spacy_ctx.senses.targets import span_lemma_pos
from spacy_ctx.senses.wordnet import get_inventory

def encode(nlp, examples, cache=None):
    """The encoder's layers on each example's predicted doc; `cache`: a pickle of them, read if it exists, else written."""
    encoder, docs = nlp.get_pipe("ctx_encoder"), [eg.predicted for eg in examples]
    if cache and cache.exists():
        for doc, (layers, ids) in zip(docs, pickle.loads(cache.read_bytes())):
            doc._.ctx_layers, doc._.ctx_layer_ids = layers, ids
        return
    for i in range(0, len(docs), 64):
        encoder.set_annotations(docs[i : i + 64], encoder.predict(docs[i : i + 64]))
    if cache:
        cache.write_bytes(pickle.dumps([(doc._.ctx_layers, doc._.ctx_layer_ids) for doc in docs]))


def instances(examples, wsd=None):
    """(example, instance id, gold keys, span, candidate keys) of every sense-tagged span."""
    for eg in examples:
        for iid, keys, span in doc_to_instances(eg.reference):
            yield eg, iid, keys, span, (wsd.candidates(span[0].lemma_, span[0].pos_) if wsd else None)


def lmms(wsd, wordnet, train, dev):
    """The LMMS-style answers: the nearest propagated sense mean of the last 4 layers' span mean, unit length."""

    def last4(doc, span):
        vec = doc._.ctx_layers[-4:, span.start : span.end].astype("f").mean(axis=(0, 1))
        return vec / (numpy.linalg.norm(vec) + 1e-8)

    sums, counts = {}, {}
    for eg, _, keys, span, _ in instances(train):
        for key in keys:
            sums[key] = sums.get(key, 0) + last4(eg.predicted, span)
            counts[key] = counts.get(key, 0) + 1
    propagator, answers = SensePropagator(wordnet, {k: sums[k] / counts[k] for k in sums}), {}
    for eg, iid, _, span, keys in instances(dev, wsd):
        if keys:
            vec, table = last4(eg.predicted, span), {key: propagator.get(key) for key in keys}
            sims = {k: float(vec @ v) / (numpy.linalg.norm(v) + 1e-8) for k, v in table.items() if v is not None}
            answers[iid] = max(sims, key=sims.get) if sims else keys[0]
    return answers


def head_docs(dev):
    """Fresh docs of the dev examples with their stored layers, for the head alone."""
    docs = [with_gold_input(eg.reference) for eg in dev]
    for doc, eg in zip(docs, dev):
        doc._.ctx_layers, doc._.ctx_layer_ids = eg.predicted._.ctx_layers, eg.predicted._.ctx_layer_ids
    return docs


def evaluate(wsd, dev):
    docs = head_docs(dev)
    wsd.set_annotations(docs, wsd.predict(docs))
    scores = score_wsd([Example(d, eg.reference) for d, eg in zip(docs, dev)], first_sense=wsd.inventory.is_first_sense)
    return {f"{k}f1": round(100 * scores[f"wsd_{k}f"], 1) for k in ("", "mfs_", "lfs_")}


def unseen_f1(wsd, dev, gold):
    """F1 on the instances of `gold` only (the dev lemmas missing in training)."""
    answers = {t.id: key for doc_answers in wsd.predict(head_docs(dev)) for t, key, _ in doc_answers}
    return round(100 * score_keys(gold, answers)["f"], 1)


def train_head(nlp, wsd, train, dev, args, lr, fine_tune, untrained):
    """Train from the current state; dev F1 every --eval-every updates, early stopping by --patience."""
    if fine_tune:  # the stored frozen features are not used from here on
        for eg in train:
            eg.predicted._.ctx_layers = None
    optimizer = Adam(args.fine_tune_lr if fine_tune else lr)
    history, rng, start, updates, losses = [{"updates": 0, **untrained}], random.Random(args.seed), time.time(), 0, {}
    while updates < args.max_updates and len(history) - 1 - max(range(len(history)), key=lambda i: history[i]["f1"]) < args.patience:
        order = list(train)
        rng.shuffle(order)
        for i in range(0, len(order), args.batch_size):  # fine-tuning: encoder and head, through the listener
            (nlp if fine_tune else wsd).update(order[i : i + args.batch_size], sgd=optimizer, losses=losses)
            updates += 1
            if updates % args.eval_every == 0 or updates == args.max_updates:
                if fine_tune:
                    encode(nlp, dev)  # the encoder changed
                loss, losses = losses.get("ctx_wsd", 0.0) / args.eval_every, {}
                history.append({"updates": updates, "loss": round(loss, 3), **evaluate(wsd, dev), "s": round(time.time() - start, 1)})
                print(json.dumps(history[-1]), file=sys.stderr, flush=True)
            if updates == args.max_updates:
                break
    best = max(history, key=lambda h: h["f1"])
    return dict(lr=lr, train_s=round(time.time() - start, 1), updates=updates, trained_last=history[-1], trained_best=best, history=history)


def main():
    parser = options(__doc__, threads=None, model=True)
    parser.add_argument("--stride", type=int, default=5, help="keep every n-th SemCor sentence")
    parser.add_argument("--limit", type=int, default=0, help="max SemCor sentences (0 = all kept)")
    parser.add_argument("--max-updates", type=int, default=2000)
    parser.add_argument("--eval-every", type=int, default=100, help="updates between dev evaluations")
    parser.add_argument("--patience", type=int, default=5, help="evaluations without a better dev F1 before stopping")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=str, default="1e-3", help="comma-separated: each from the same initialisation")
    parser.add_argument("--prior-weight", type=float, default=0.5)
    parser.add_argument("--train-senses", type=int, default=0, help="1: learn the sense table E too")
    parser.add_argument("--seed", type=int, default=0, help="the shuffling and initialisation seed")
    parser.add_argument("--cross-fit", type=int, default=1, help="0: train against rows that hold the instance (before the fix)")
    parser.add_argument("--unseen", action="store_true", help="rows for the dev lemmas missing in training")
    parser.add_argument("--layers", type=str, default="-4,-3,-2,-1", help="listener layers ('' = all)")
    parser.add_argument("--grad-factor", type=float, default=0.0, help="> 0: fine-tune the encoder with the head")
    parser.add_argument("--fine-tune-lr", type=float, default=5e-5, help="Adam learning rate when fine-tuning")
    parser.add_argument("--save", type=Path, default=None)
    parser.add_argument("--cache", type=Path, default=None, help="a folder for the frozen layers, reused across runs")
    parser.add_argument("--gloss-cache", type=Path, default=None, help="a folder for the gloss embeddings, reused across runs")
    parser.add_argument("--gloss-projection", type=int, default=0, help="1: score the glosses through learned projections")
    parser.add_argument("--identity-l2", type=float, default=0.0, help="pull of W (and the projections) towards their start")
    args = parse(parser)
    fix_random_seed(args.seed)
    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
    nlp, wordnet = spacy.blank("en"), args.data / "wordnet30" / "dict"
    listener = {"layers": [int(x) for x in args.layers.split(",")] if args.layers else None, "grad_factor": args.grad_factor}
    # Frozen: keep only the layers the head reads, in float16 (all 13 MPNet layers of SemCor in float32 are ~33 GB).
    nlp.add_pipe("ctx_encoder", config={"store_dtype": "float16", "store_layers": None if args.grad_factor else listener["layers"],
                                        "model": {"name": args.model}})
    wsd = nlp.add_pipe("ctx_wsd", config={"wordnet_path": str(wordnet), "cross_fit": bool(args.cross_fit),
                                          "model": {"train_senses": bool(args.train_senses), "prior_weight": args.prior_weight, "tok2vec": listener,
                                                    "gloss_projection": bool(args.gloss_projection), "identity_l2": args.identity_l2}})
    result = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "out"}
    semcor = read_docs(args.data / "wsd" / "semcor30_from_naf.data.xml", nlp)[:: args.stride][: args.limit or None]
    train = [Example(with_gold_input(ref), ref) for ref in semcor]
    se07 = read_docs(args.data / "wsd" / "semeval2007" / "semeval2007.data.xml", nlp)
    dev = [Example(with_gold_input(ref), ref) for ref in se07]
    words = sum(len(eg.reference) for eg in train)
    result.update(train_sentences=len(train), train_words=words, train_instances=len({iid for _, iid, keys, _, _ in instances(train) if keys}))
    nlp.get_pipe("ctx_encoder").initialize(lambda: train, nlp=nlp)  # connects ctx_wsd's listener, cached layers or not
    start, model = time.time(), Path(args.model).name
    encode(nlp, train, args.cache and args.cache / f"semcor-{args.stride}-{args.limit}-{model}-{args.layers}.pkl")
    result.update(encode_s=round(time.time() - start, 1), encode_words_per_s=round(words / (time.time() - start), 1))
    encode(nlp, dev, args.cache and args.cache / f"semeval2007-{model}-{args.layers}.pkl")
    gold = {iid: keys for _, iid, keys, _, _ in instances(dev) if keys}
    mfs = {iid: keys[0] for _, iid, _, _, keys in instances(dev, wsd) if keys}
    result.update(dev_instances=len(gold), mfs_wordnet_f1=round(100 * score_keys(gold, mfs)["f"], 1),
                  lmms_f1=round(100 * score_keys(gold, lmms(wsd, get_inventory(wordnet), train, dev))["f"], 1))
    print(json.dumps(result), file=sys.stderr, flush=True)
    train_lemmas = {span_lemma_pos(span) for _, _, keys, span, _ in instances(train) if keys}
    unseen = {span_lemma_pos(span) for _, _, keys, span, _ in instances(dev) if keys} - train_lemmas
    extra = [k for lemma_pos in unseen for k in wsd.candidates(*lemma_pos)] if args.unseen else None
    start = time.time()
    wsd.initialize(lambda: train, nlp=nlp, extra_senses=extra, gloss_cache=args.gloss_cache)
    result.update(init_s=round(time.time() - start, 1), n_senses=len(wsd.senses), untrained=evaluate(wsd, dev))
    init_model = wsd.model.to_bytes()
    for lr in [float(x) for x in args.lr.split(",")]:
        wsd.model.from_bytes(init_model)
        result.setdefault("runs", []).append(train_head(nlp, wsd, train, dev, args, lr, args.grad_factor > 0, result["untrained"]))
    if args.unseen:  # the same model, with and without rows for the dev lemmas missing in training
        gold, rows = {iid: keys for _, iid, keys, span, _ in instances(dev) if keys and span_lemma_pos(span) in unseen}, wsd._rows
        result["unseen"] = {"instances": len(gold), "with_rows": unseen_f1(wsd, dev, gold)}
        wsd._rows = {k: r for k, r in rows.items() if k not in set(extra) - {k for lp in train_lemmas for k in wsd.candidates(*lp)}}
        result["unseen"]["first_sense"] = unseen_f1(wsd, dev, gold)
        wsd._rows = rows
    if args.save:
        nlp.to_disk(args.save)
    emit(result, args.out)


if __name__ == "__main__":
    main()
