"""distill-static with wordpieces against Model2Vec, both on the bundled MiniLM.

    nice -n 10 python bench/bench_static.py --model2vec-python /tmp/m2v/bin/python

Stages (each reuses the previous one's files in --work):

1. distill: `distill_static(subwords=True)` on the UD EWT and CoNLL-2003
   train texts, every candidate key in one pass (CPU seconds, corpus size).
2. select: every candidate (key x sentence weighting x SIF a x PCA dims)
   scored on the STS-B **train** pairs; the best is kept. Dev is never
   looked at before the choice.
3. score: the chosen table as a blank pipeline (`static_pipeline`, the
   ctx_static_vectors component): STS-B dev (doc.similarity's cosine) and
   every word-similarity set, on all pairs; the word table alone (the old
   output) beside it, with its coverage.
4. Model2Vec, in a process of its own venv (it needs huggingface-hub >= 1.0,
   which the pinned transformers refuses):

       python3 -m venv /tmp/m2v && /tmp/m2v/bin/pip install "model2vec[distill]"

   `distill(model_name=<the bundled model's directory>, pca_dims=256)` with
   HF_HUB_OFFLINE=1 (no hub), timed; then `encode()` of the same sentences
   and words. Without --model2vec-python the row is left out.
5. speed: words/s of `doc.vector` over the STS-B dev sentences on the blank
   pipeline with the table (best of 3), Model2Vec's `encode()` of the same
   texts (best of 3, in its process), and the contextual default pipeline
   (a slice of them, once). Torch on one thread everywhere.

Every figure is deterministic (no seeds); one run. JSON:
bench/results/static-vs-model2vec.json.

--speed (after a full run, from its cached tables and its chosen setting)
times the three side by side instead, interleaved chunk by chunk
(`_common.interleave`): the table's `doc.vector`, Model2Vec's `encode()` in
a child process that stays up and encodes the chunk it is sent, and the
contextual pipeline; it adds "speed_interleaved" to the JSON.

    nice -n 10 python bench/bench_static.py --model2vec-python /tmp/m2v/bin/python --speed --chunks 6
"""
import argparse
import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import numpy
import torch

# Model2Vec's child runs its Rust tokenizer on one thread: so does this process.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from _common import DATA, EWT, MODEL, RESULTS, TASKS, emit, interleave, log, machine
from spacy_ctx.analysis.similarity import row_cosines, spearman, vocab_lookup
from spacy_ctx.analysis.static import distill_static
from spacy_ctx.analysis.static_pipeline import static_pipeline
from spacy_ctx.corpora import find_wordsim_sets, read_sts, read_word_pairs
from spacy_ctx.models.hf_loading import resolve_model_dir
from spacy_ctx.pipeline.loading import load_pipeline

KEYS = ["layer6", "mix"]
WEIGHTINGS = [("none", None)] + [(w, a) for w in ("sif", "zipf") for a in (1e-4, 1e-3, 3e-3, 1e-2, 3e-2)]
PCA_DIMS = [None, 256]

M2V_CHILD = r"""
import json, sys, time
import numpy, torch
torch.set_num_threads(1)
from model2vec.distill import distill
job = json.loads(sys.stdin.read())
start = time.process_time(); wall = time.perf_counter()
model = distill(model_name=job["model"], pca_dims=256)
cpu, wall = time.process_time() - start, time.perf_counter() - wall
vectors = {name: model.encode(texts, show_progress_bar=False) for name, texts in job["encode"].items()}
numpy.savez(job["out"], **vectors)
best = float("inf")
for _ in range(3):
    t = time.perf_counter(); model.encode(job["speed"], show_progress_bar=False); best = min(best, time.perf_counter() - t)
import model2vec
print("RESULT " + json.dumps({"distill_cpu_s": cpu, "distill_wall_s": wall, "encode_s": best,
      "version": model2vec.__version__, "vocab_size": len(model.tokens), "width": int(model.embedding.shape[1])}))
"""


M2V_SERVER = r"""
import json, sys
import torch
torch.set_num_threads(1)
from model2vec.distill import distill
job = json.loads(sys.stdin.readline())
model = distill(model_name=job["model"], pca_dims=256)
print("READY", flush=True)
for line in sys.stdin:
    model.encode(json.loads(line), show_progress_bar=False)
    print("DONE", flush=True)
"""


def model2vec_runner(python: str):
    """An interleave runner: Model2Vec's encode() of each chunk, in a child
    process of its own venv that distils once and then stays up."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    child = subprocess.Popen([python, "-c", M2V_SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    child.stdin.write(json.dumps({"model": str(resolve_model_dir(MODEL))}) + "\n")
    child.stdin.flush()
    if child.stdout.readline().strip() != "READY":
        raise RuntimeError("Model2Vec's child process did not start")

    def run(texts):
        child.stdin.write(json.dumps(list(texts)) + "\n")
        child.stdin.flush()
        child.stdout.readline()

    return run, child


def interleaved_speed(args) -> None:
    report = json.loads(args.out.read_text())
    chosen = report["chosen"]
    tables = distill(args, args.work)["tables"]
    nlp, _ = static_pipeline(tables[chosen["key"]], weighting=chosen["weighting"], sif_a=chosen["sif_a"] or 1e-3,
                             pca_dims=chosen["pca_dims"])
    ctx = load_pipeline("default")
    dev = read_sts(DATA / "stsb" / "sts-dev.csv")
    texts = list(dict.fromkeys(t for p in dev for t in p[:2]))
    m2v, child = model2vec_runner(args.model2vec_python)

    def vectors_of(pipeline):
        def run(chunk):
            for doc in pipeline.pipe(chunk):
                doc.vector
        return run

    try:
        seconds = interleave({"static": vectors_of(nlp), "model2vec": m2v, "contextual": vectors_of(ctx)}, texts, args.chunks, warmup=20)
    finally:
        child.stdin.close()
        child.wait()
    n_words = sum(len(doc) for doc in nlp.tokenizer.pipe(texts))
    speed = {name: round(n_words / secs) for name, secs in seconds.items()}
    report["speed_interleaved"] = {
        "n_texts": len(texts), "n_words": n_words, "chunks": args.chunks, "words_per_s": speed,
        "static_over_model2vec": round(seconds["model2vec"] / seconds["static"], 2),
        "static_over_contextual": round(seconds["contextual"] / seconds["static"], 1),
        "note": "torch and Model2Vec on one thread; Model2Vec's time includes sending each chunk to its process",
    }
    emit(report, args.out)


def corpus_paths():
    return [DATA / EWT.format(split="train"), DATA / TASKS["ner"]["train"]]


def distill(args, work: Path) -> dict:
    cache = work / "tables.pkl"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    nlp = load_pipeline("default")
    log("distilling (two word passes, one wordpiece pass, the unseen wordpieces alone)")
    start, wall = time.process_time(), time.perf_counter()
    tables = distill_static(nlp, corpus_paths(), keys=KEYS, methods=["mean"], min_count=1,
                            limit=args.limit, subwords=True, progress=True)
    out = {"tables": {key: tables[(key, "mean")] for key in KEYS},
           "cpu_s": round(time.process_time() - start, 1), "wall_s": round(time.perf_counter() - wall, 1)}
    cache.write_bytes(pickle.dumps(out))
    return out


def sts_score(nlp, pairs) -> float:
    texts = list(dict.fromkeys(t for p in pairs for t in p[:2]))
    index = {t: i for i, t in enumerate(texts)}
    V = numpy.stack([doc.vector for doc in nlp.pipe(texts)])
    a = numpy.asarray([index[p.a] for p in pairs])
    b = numpy.asarray([index[p.b] for p in pairs])
    return round(spearman([p.gold for p in pairs], row_cosines(V[a], V[b])), 2)


def word_scores(lookup, datasets) -> dict:
    out = {}
    for name, pairs in datasets.items():
        gold, cos = [], []
        for a, b, g in pairs:
            va, vb = lookup(a), lookup(b)
            if va is not None and vb is not None and numpy.any(va) and numpy.any(vb):
                gold.append(g)
                cos.append(row_cosines(va[None], vb[None])[0])
        rho = spearman(gold, cos)
        out[name] = {"spearman": None if rho != rho else round(rho, 2), "coverage": round(len(gold) / len(pairs), 4)}
    return out


def run_model2vec(python: str, work: Path, encode: dict, speed: list) -> dict:
    job = {"model": str(resolve_model_dir(MODEL)), "encode": encode, "speed": speed, "out": str(work / "m2v.npz")}
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    run = subprocess.run([python, "-c", M2V_CHILD], input=json.dumps(job), capture_output=True, text=True, env=env)
    if run.returncode:
        raise RuntimeError(run.stderr[-3000:])
    result = json.loads(next(line for line in run.stdout.splitlines() if line.startswith("RESULT "))[7:])
    result["vectors"] = dict(numpy.load(work / "m2v.npz"))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model2vec-python", help="Python of a venv with model2vec[distill] (see the docstring)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_static"))
    parser.add_argument("--limit", type=int, default=None, help="texts read for the distillation (default: all)")
    parser.add_argument("--ctx-sentences", type=int, default=300, help="sentences timed through the contextual pipeline")
    parser.add_argument("--out", type=Path, default=RESULTS / "static-vs-model2vec.json")
    parser.add_argument("--speed", action="store_true", help="only the interleaved speed run (see the docstring)")
    parser.add_argument("--chunks", type=int, default=6, help="--speed: chunks to interleave")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.speed:
        return interleaved_speed(args)
    args.work.mkdir(parents=True, exist_ok=True)
    distilled = distill(args, args.work)
    tables = distilled["tables"]
    some = tables[KEYS[0]]
    train, dev = read_sts(DATA / "stsb" / "sts-train.csv"), read_sts(DATA / "stsb" / "sts-dev.csv")
    datasets = {name: read_word_pairs(path) for name, path in find_wordsim_sets(DATA / "wordsim").items()}

    log("selecting on STS-B train")
    selection = []
    for key in KEYS:
        for weighting, a in WEIGHTINGS:
            for dims in PCA_DIMS:
                nlp, _ = static_pipeline(tables[key], weighting=weighting, sif_a=a or 1e-3, pca_dims=dims)
                selection.append({"key": key, "weighting": weighting, "sif_a": a, "pca_dims": dims, "sts_train": sts_score(nlp, train)})
                log(str(selection[-1]))
    best = max(selection, key=lambda row: row["sts_train"])
    nlp, _ = static_pipeline(tables[best["key"]], weighting=best["weighting"], sif_a=best["sif_a"] or 1e-3, pca_dims=best["pca_dims"])
    words = sorted({w for pairs in datasets.values() for p in pairs for w in p[:2]})
    word_vectors = {w: nlp(w).vector for w in words}
    ours = {"sts_dev": sts_score(nlp, dev), "words": word_scores(word_vectors.get, datasets)}
    word_table = {"words": word_scores(vocab_lookup(static_pipeline(tables[best["key"]])[0].vocab), datasets)}

    dev_texts = list(dict.fromkeys(t for p in dev for t in p[:2]))
    n_words = sum(len(doc) for doc in nlp.tokenizer.pipe(dev_texts))
    best_s = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for doc in nlp.pipe(dev_texts):
            doc.vector
        best_s = min(best_s, time.perf_counter() - start)
    speed = {"n_texts": len(dev_texts), "n_words": n_words, "static_words_per_s": round(n_words / best_s)}
    ctx = load_pipeline("default")
    ctx_texts = dev_texts[: args.ctx_sentences]
    ctx_words = sum(len(doc) for doc in ctx.tokenizer.pipe(ctx_texts))
    list(ctx.pipe(ctx_texts[:20]))  # warm-up
    start = time.perf_counter()
    for doc in ctx.pipe(ctx_texts):
        doc.vector
    speed["contextual_words_per_s"] = round(ctx_words / (time.perf_counter() - start))
    speed["static_over_contextual"] = round(speed["static_words_per_s"] / speed["contextual_words_per_s"], 1)

    m2v = None
    if args.model2vec_python:
        log("Model2Vec in its own venv")
        m2v = run_model2vec(args.model2vec_python, args.work, {"dev": dev_texts, "words": words}, dev_texts)
        vectors = m2v.pop("vectors")
        index = {t: i for i, t in enumerate(dev_texts)}
        a = numpy.asarray([index[p.a] for p in dev])
        b = numpy.asarray([index[p.b] for p in dev])
        m2v["sts_dev"] = round(spearman([p.gold for p in dev], row_cosines(vectors["dev"][a], vectors["dev"][b])), 2)
        m2v_words = dict(zip(words, vectors["words"]))
        m2v["words"] = word_scores(m2v_words.get, datasets)
        m2v["words_per_s"] = round(n_words / m2v.pop("encode_s"))
        speed["model2vec_words_per_s"] = m2v["words_per_s"]
        speed["static_over_model2vec"] = round(speed["static_words_per_s"] / m2v["words_per_s"], 2)

    report = {
        "machine": machine("torch on 1 thread, nice 10"),
        "model": MODEL,
        "runs": "one: every figure is deterministic (no training seeds)",
        "corpus": {"files": [str(p.relative_to(DATA)) for p in corpus_paths()], "limit": args.limit,
                   "note": "the texts are read in file order up to --limit", "n_texts": some.settings["n_texts"],
                   "n_tokens": some.settings["n_tokens"], "n_types": len(some.words),
                   "n_wordpieces_in_context": some.subwords.settings["n_pieces_in_context"],
                   "n_wordpieces": some.subwords.settings["n_pieces"]},
        "distill": {"cpu_s": distilled["cpu_s"], "wall_s": distilled["wall_s"], "keys": KEYS,
                    "note": "one run distils every candidate key; a single key costs the same encoding"},
        "selection_on_sts_train": selection,
        "chosen": best,
        "spacy_ctx": ours,
        "spacy_ctx_word_table_only": word_table,
        "model2vec": m2v,
        "speed": speed,
    }
    emit(report, args.out)


if __name__ == "__main__":
    main()
