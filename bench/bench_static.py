"""distill-static with wordpieces against Model2Vec, both on the bundled MiniLM.

    nice -n 10 python bench/bench_static.py --model2vec-python /tmp/m2v/bin/python
    nice -n 10 python bench/bench_static.py --model2vec-python /tmp/m2v/bin/python --speed --chunks 6

1. distill: `distill_static(subwords=True)` on the UD EWT and CoNLL-2003
   train texts, every candidate key in one pass (cached in --work).
2. select: every candidate (key x sentence weighting x SIF a x PCA dims)
   scored on the STS-B **train** pairs; the best is kept, dev unseen.
3. score: the chosen table as a blank pipeline (`static_pipeline`): STS-B
   dev (doc.similarity's cosine) and every word-similarity set; the word
   table alone beside it, with its coverage.
4. Model2Vec `distill(pca_dims=256)` in a process of its own venv
   (harness.peers.Model2Vec: python3 -m venv /tmp/m2v && /tmp/m2v/bin/pip
   install "model2vec[distill]"), timed, then `encode()` of the same
   sentences and words. Without --model2vec-python the row is left out.
5. speed: words/s of `doc.vector` over the STS-B dev sentences with the
   table and Model2Vec's `encode()` (best of 3), and of the contextual
   default pipeline (--ctx-sentences of them, once). One thread everywhere.
Every figure is deterministic; one run. --speed (after a full run, from its
cached tables and its chosen setting) times the three interleaved chunk by
chunk instead and adds "speed_interleaved" to the JSON.
"""
import json
import os
import pickle
import time
from pathlib import Path

import numpy
import torch

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # Model2Vec's child tokenizes on one thread: so does this process

from harness import EWT, MODEL, RESULTS, TASKS, emit, log, machine, options, parse  # noqa: E402
from harness.peers import Model2Vec, ctx_pipeline, pipe  # noqa: E402
from harness.readers import unique_texts  # noqa: E402
from harness.timing import best_of, interleave  # noqa: E402
from spacy_ctx.analysis.similarity import row_cosines, spearman, vocab_lookup  # noqa: E402
from spacy_ctx.analysis.static import distill_static  # noqa: E402
from spacy_ctx.analysis.static_pipeline import static_pipeline  # noqa: E402
from spacy_ctx.corpora import find_wordsim_sets, read_sts, read_word_pairs  # noqa: E402

KEYS = ["layer6", "mix"]
WEIGHTINGS = [("none", None)] + [(w, a) for w in ("sif", "zipf") for a in (1e-4, 1e-3, 3e-3, 1e-2, 3e-2)]
PCA_DIMS = [None, 256]


def distill(args) -> dict:
    cache = args.work / "tables.pkl"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    cpu, wall = time.process_time(), time.perf_counter()
    tables = distill_static(ctx_pipeline(), [args.data / EWT.format(split="train"), args.data / TASKS["ner"]["train"]], keys=KEYS,
                            methods=["mean"], min_count=1, limit=args.limit, subwords=True, progress=True)
    out = {"tables": {key: tables[(key, "mean")] for key in KEYS}, "cpu_s": round(time.process_time() - cpu, 1),
           "wall_s": round(time.perf_counter() - wall, 1)}
    cache.write_bytes(pickle.dumps(out))
    return out


def chosen_pipeline(tables, row):
    return static_pipeline(tables[row["key"]], weighting=row["weighting"], sif_a=row["sif_a"] or 1e-3, pca_dims=row["pca_dims"])[0]


def sts_score(pairs, texts, vectors) -> float:
    index = {t: i for i, t in enumerate(texts)}
    a, b = (numpy.asarray([index[getattr(p, side)] for p in pairs]) for side in ("a", "b"))
    return round(spearman([p.gold for p in pairs], row_cosines(vectors[a], vectors[b])), 2)


def doc_vectors(nlp, texts):
    return numpy.stack([doc.vector for doc in nlp.pipe(texts)])


def word_scores(lookup, datasets) -> dict:
    out = {}
    for name, pairs in datasets.items():
        found = [(g, lookup(a), lookup(b)) for a, b, g in pairs]
        found = [(g, va, vb) for g, va, vb in found if va is not None and vb is not None and numpy.any(va) and numpy.any(vb)]
        rho = spearman([g for g, _, _ in found], [row_cosines(va[None], vb[None])[0] for _, va, vb in found])
        out[name] = {"spearman": None if rho != rho else round(rho, 2), "coverage": round(len(found) / len(pairs), 4)}
    return out


def interleaved_speed(args, texts) -> None:
    report = json.loads(args.out.read_text())
    static, ctx, m2v = chosen_pipeline(distill(args)["tables"], report["chosen"]), ctx_pipeline(), Model2Vec(args.model2vec_python)
    vectors = lambda nlp: pipe(nlp, each=lambda doc: doc.vector)  # noqa: E731
    try:
        seconds = interleave({"static": vectors(static), "model2vec": m2v, "contextual": vectors(ctx)}, texts, args.chunks, warmup=20)
    finally:
        m2v.close()
    words = sum(len(doc) for doc in static.tokenizer.pipe(texts))
    report["speed_interleaved"] = {
        "n_texts": len(texts), "n_words": words, "chunks": args.chunks, "words_per_s": {n: round(words / s) for n, s in seconds.items()},
        "static_over_model2vec": round(seconds["model2vec"] / seconds["static"], 2),
        "static_over_contextual": round(seconds["contextual"] / seconds["static"], 1),
        "note": "torch and Model2Vec on one thread; Model2Vec's time includes sending each chunk to its process"}
    emit(report, args.out)


def main():
    parser = options(__doc__, RESULTS / "static-vs-model2vec.json", threads=1)
    parser.add_argument("--model2vec-python", help="Python of a venv with model2vec[distill] (see above)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_static"))
    parser.add_argument("--limit", type=int, default=None, help="texts read for the distillation (default: all)")
    parser.add_argument("--ctx-sentences", type=int, default=300, help="sentences timed through the contextual pipeline")
    parser.add_argument("--speed", action="store_true", help="only the interleaved speed run (see above)")
    parser.add_argument("--chunks", type=int, default=6, help="--speed: chunks to interleave")
    args = parse(parser)
    train, dev = read_sts(args.data / "stsb" / "sts-train.csv"), read_sts(args.data / "stsb" / "sts-dev.csv")
    train_texts, dev_texts = unique_texts(train), unique_texts(dev)
    if args.speed:
        return interleaved_speed(args, dev_texts)
    args.work.mkdir(parents=True, exist_ok=True)
    distilled = distill(args)
    tables, datasets = distilled["tables"], {n: read_word_pairs(p) for n, p in find_wordsim_sets(args.data / "wordsim").items()}
    selection = []
    for key in KEYS:
        for weighting, a in WEIGHTINGS:
            for dims in PCA_DIMS:
                row = {"key": key, "weighting": weighting, "sif_a": a, "pca_dims": dims}
                selection.append({**row, "sts_train": sts_score(train, train_texts, doc_vectors(chosen_pipeline(tables, row), train_texts))})
                log(str(selection[-1]))
    best = max(selection, key=lambda row: row["sts_train"])
    nlp = chosen_pipeline(tables, best)
    words = sorted({w for pairs in datasets.values() for p in pairs for w in p[:2]})
    ours = {"sts_dev": sts_score(dev, dev_texts, doc_vectors(nlp, dev_texts)), "words": word_scores({w: nlp(w).vector for w in words}.get, datasets)}
    word_table = {"words": word_scores(vocab_lookup(static_pipeline(tables[best["key"]])[0].vocab), datasets)}
    n_words = sum(len(doc) for doc in nlp.tokenizer.pipe(dev_texts))
    speed = {"n_texts": len(dev_texts), "n_words": n_words,
             "static_words_per_s": round(n_words / best_of(3, lambda: [doc.vector for doc in nlp.pipe(dev_texts)]))}
    ctx, ctx_texts = ctx_pipeline(), dev_texts[: args.ctx_sentences]
    list(ctx.pipe(ctx_texts[:20]))  # warm-up
    ctx_words = sum(len(doc) for doc in ctx.tokenizer.pipe(ctx_texts))
    speed["contextual_words_per_s"] = round(ctx_words / best_of(1, lambda: [doc.vector for doc in ctx.pipe(ctx_texts)]))
    speed["static_over_contextual"] = round(speed["static_words_per_s"] / speed["contextual_words_per_s"], 1)
    m2v = None
    if args.model2vec_python:
        log("Model2Vec in its own venv")
        child = Model2Vec(args.model2vec_python)
        try:
            m2v = dict(child.info)
            m2v["sts_dev"] = sts_score(dev, dev_texts, child.encode(dev_texts, args.work / "m2v-dev.npy"))
            m2v["words"] = word_scores(dict(zip(words, child.encode(words, args.work / "m2v-words.npy"))).get, datasets)
            m2v["words_per_s"] = round(n_words / min(child(dev_texts) for _ in range(3)))
        finally:
            child.close()
        speed.update(model2vec_words_per_s=m2v["words_per_s"], static_over_model2vec=round(speed["static_words_per_s"] / m2v["words_per_s"], 2))
    some = tables[KEYS[0]]
    emit({
        "machine": machine("torch on 1 thread, nice 10"), "model": MODEL, "runs": "one: every figure is deterministic (no training seeds)",
        "corpus": {"files": [EWT.format(split="train"), TASKS["ner"]["train"]], "limit": args.limit,
                   "note": "the texts are read in file order up to --limit", "n_texts": some.settings["n_texts"],
                   "n_tokens": some.settings["n_tokens"], "n_types": len(some.words),
                   "n_wordpieces_in_context": some.subwords.settings["n_pieces_in_context"], "n_wordpieces": some.subwords.settings["n_pieces"]},
        "distill": {"cpu_s": distilled["cpu_s"], "wall_s": distilled["wall_s"], "keys": KEYS,
                    "note": "one run distils every candidate key; a single key costs the same encoding"},
        "selection_on_sts_train": selection, "chosen": best, "spacy_ctx": ours, "spacy_ctx_word_table_only": word_table,
        "model2vec": m2v, "speed": speed,
    }, args.out)


if __name__ == "__main__":
    main()
