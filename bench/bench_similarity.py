"""Similarity you can trust: STS-B per layer and correction against
sentence-transformers' own encode(), and static vectors distilled from every
layer against the encoder's input embeddings and word2vec on the same text.

    nice -n 10 python bench/bench_similarity.py sts
    nice -n 10 python bench/bench_similarity.py words --tables-dir /tmp/static_tables

sts: STS-B dev (1,500 pairs), Spearman x 100 of cosine:
- per layer and for the default mix: mean token vector, first wordpiece
  ([CLS]), and center / whiten / abtt fitted on the unique sentences of
  STS-B *train* (never dev); the model's own sentence-transformers encode();
- `selection`: the candidate sentence-similarity configurations scored on
  the STS-B *train* pairs (gold scores of train, never dev), to choose one;
- `pipelines`: real doc.similarity of the default pipeline and of the
  recommended one (mix.layers [-1] + the abtt D=1 normalizer fitted on STS-B
  train, the model of `fit-normalizer --method abtt -D 1 --mix-only`), each
  saved to disk and loaded back first.
  Writes bench/results/similarity-sts.json and docs/figures/similarity-sts.png.

words: one corpus of unlabelled *training* text (UD EWT train, CoNLL-2003
train, the unique STS-B train sentences, the first --semcor-sentences of
SemCor), one sentence per line. From it, in one streaming pass, static
tables for every layer and the mix, by mean and by first principal
component; word2vec (skip-gram) and fastText (gensim, the `bench` extra) on
the same sentences, same tokenizer, lowercased, same min count. All scored
on the wordsim sets with the encoder's words in isolation.
  Writes bench/results/similarity-words.json, docs/figures/similarity-words.png
  and, with --tables-dir, every table (for bench_static_heads.py).

Torch and BLAS run single-threaded (--threads): on the busy shared machine
spinning threads cost more than they gave.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy
import spacy
import torch
from threadpoolctl import threadpool_limits

from _report import emit  # noqa: E402  (bench/ is on sys.path when run as a script)
from spacy_ctx.analysis.features import encode_docs, find_encoder
from spacy_ctx.analysis.similarity import (
    ScoredPair,
    doc_means,
    encode_fit_data,
    read_sts,
    row_cosines,
    similarity_corpus,
    spearman,
    write_similarity_outputs,
)
from spacy_ctx.analysis.static import distill_static, write_static_vectors
from spacy_ctx.corpora import read_texts
from spacy_ctx.normalizer import Normalizer

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("SPACY_CTX_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "bench" / "results"
FIGURES = ROOT / "docs" / "figures"


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def blank_pipeline(mix_layers=None):
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config={"mix": {"layers": mix_layers}} if mix_layers else {})
    return nlp


def saved_and_loaded(nlp, work: Path, name: str):
    nlp.to_disk(work / name)
    return spacy.load(work / name)


# STS-B


CANDIDATES = [
    # (name, mix layers and softmax weights, normalizer settings or None)
    ("mix all layers (default)", None, None, None),
    ("mix [-1]", [6], None, None),
    ("mix [-1] + center", [6], None, ("center", {})),
    ("mix [-1] + abtt D=1", [6], None, ("abtt", {"n_components": 1})),
    ("mix [-1] + abtt D=4", [6], None, ("abtt", {"n_components": 4})),
    ("mix [-1] + whiten", [6], None, ("whiten", {})),
    ("mix [0,-1] 0.2/0.8", [0, 6], [0.2, 0.8], None),
    ("mix [0,-1] 0.2/0.8 + center", [0, 6], [0.2, 0.8], ("center", {})),
    ("mix [0,-1] 0.2/0.8 + abtt D=1", [0, 6], [0.2, 0.8], ("abtt", {"n_components": 1})),
    ("mix [-2,-1]", [5, 6], None, None),
    ("mix [-2,-1] + abtt D=1", [5, 6], None, ("abtt", {"n_components": 1})),
]


def select_on_train(train_pairs, fit_features, texts):
    """Each candidate's Spearman on the STS-B train pairs, from the train
    sentences' features (normalizers fitted on the same sentences)."""
    index = {t: i for i, t in enumerate(texts)}
    a = numpy.asarray([index[p.a] for p in train_pairs])
    b = numpy.asarray([index[p.b] for p in train_pairs])
    gold = [p.gold for p in train_pairs]
    out = {}
    for name, layers, weights, norm in CANDIDATES:
        layers = layers or list(range(fit_features.layers.shape[0]))
        w = numpy.full(len(layers), 1 / len(layers)) if weights is None else numpy.asarray(weights)
        tokens = numpy.tensordot(w, fit_features.layers[layers], axes=(0, 0))  # [n_tokens, width]
        V = doc_means(tokens, fit_features.offsets)
        if norm is not None:
            V = Normalizer(norm[0], **norm[1]).fit({"mix": tokens}).transform(V, "mix")
        out[name] = round(spearman(gold, row_cosines(V[a], V[b])), 2)
        log(f"train selection: {name}: {out[name]}")
    return out


def run_sts(args) -> dict:
    dev, train = args.data / "stsb" / "sts-dev.csv", args.data / "stsb" / "sts-train.csv"
    nlp = blank_pipeline()
    log("encoding the STS-B train sentences (fit data)")
    fit_features = encode_fit_data(nlp, train, limit=args.fit_limit, progress=True)
    train_pairs = read_sts(train)
    texts = list(dict.fromkeys(t for p in train_pairs for t in p[:2]))[: args.fit_limit]
    keep = set(texts)
    selection = select_on_train([p for p in train_pairs if p.a in keep and p.b in keep], fit_features, texts)
    with tempfile.TemporaryDirectory(prefix="spacy_ctx_sim_") as tmp:
        work = Path(tmp)
        log("default pipeline: every layer, the corrections, the anchor")
        default = saved_and_loaded(nlp, work, "default")
        result = similarity_corpus(default, stsb_path=dev, sts_limit=args.dev_limit, fit_features=fit_features, progress=True)
        result["settings"]["fit_data"] = str(train)
        log("recommended pipeline: mix [-1] + abtt D=1 (STS-B train)")
        best = blank_pipeline([-1])
        # fit-normalizer --mix-only fits the mix's vectors of the fit data;
        # with mix.layers [-1] those are layer 6's, already encoded above.
        norm = Normalizer("abtt", n_components=1).fit({"mix": fit_features.get("layer6")})
        find_encoder(best).set_normalizer(norm)
        best.get_pipe_config("ctx_encoder")["normalize"] = True  # config.cfg decides on load
        best = saved_and_loaded(best, work, "recommended")
        recommended = similarity_corpus(best, stsb_path=dev, sts_limit=args.dev_limit, methods=(), anchor=False, progress=True)
    result["selection_on_train"] = selection
    result["pipelines"] = {
        "default (mix of all layers)": result["sts"]["pipeline"],
        "recommended (mix [-1] + abtt D=1 fitted on STS-B train)": recommended["sts"]["pipeline"],
    }
    anchor = result["sts"]["anchor"]["score"]
    result["recommended_minus_anchor"] = (
        None if anchor is None else round(recommended["sts"]["pipeline"]["score"] - anchor, 2)
    )
    return result


# Word similarity


def write_corpus(path: Path, args) -> dict:
    """The distillation corpus, one sentence a line; returns sentences per source."""
    sources = {
        "ud_english_ewt/en_ewt-ud-train.conllu": None,
        "conll2003/train.txt": None,
        "wsd/semcor30_from_naf.data.xml": args.semcor_sentences,
    }
    counts = {}
    with path.open("w", encoding="utf8") as out:
        for source, stop in sources.items():
            n = 0
            if args.source_limit:
                stop = min(stop or args.source_limit, args.source_limit)
            for record in read_texts(args.data / source, stop=stop):
                out.write(record.text.replace("\n", " ") + "\n")
                n += 1
            counts[source] = n
        sts = list(dict.fromkeys(t for p in read_sts(args.data / "stsb" / "sts-train.csv") for t in p[:2]))
        sts = sts[: args.source_limit or None]
        out.writelines(t.replace("\n", " ") + "\n" for t in sts)
        counts["stsb/sts-train.csv (unique sentences)"] = len(sts)
    return counts


def train_gensim(corpus: Path, args) -> dict:
    """word2vec and fastText on the corpus, tokenized as the distillation
    is (spaCy's English tokenizer, lowercased); {name: (words, vectors)}."""
    from gensim.models import FastText, Word2Vec

    tokenizer = spacy.blank("en")
    sentences = [
        [t.lower_ for t in tokenizer.make_doc(line.strip()) if not t.is_space]
        for line in corpus.open(encoding="utf8")
        if line.strip()
    ]
    settings = dict(vector_size=args.gensim_width, window=5, min_count=args.min_count, sg=1, epochs=args.gensim_epochs, workers=1, seed=0)
    out = {}
    for name, cls in (("word2vec skip-gram", Word2Vec), ("fastText skip-gram", FastText)):
        start = time.process_time()
        model = cls(sentences=sentences, **settings)
        out[name] = (list(model.wv.index_to_key), numpy.asarray(model.wv.vectors, dtype="float32"))
        log(f"{name}: {len(out[name][0])} words, {time.process_time() - start:.0f} CPU s")
    return out, settings


def run_words(args) -> dict:
    from spacy_ctx.analysis.static import StaticTable

    nlp = blank_pipeline()
    n_layers = find_encoder(nlp).n_layers
    with tempfile.TemporaryDirectory(prefix="spacy_ctx_static_") as tmp:
        work = Path(tmp)
        tables_dir = args.tables_dir or work / "tables"
        corpus = work / "corpus.txt"
        sources = write_corpus(corpus, args)
        log(f"corpus: {sources}")
        start, cpu = time.time(), time.process_time()
        tables = distill_static(
            nlp, [corpus], keys=list(range(n_layers)) + ["mix"], methods=("mean", "pca"),
            min_count=args.min_count, max_occurrences=args.max_occurrences, progress=True,
        )
        distill_s, distill_cpu_s = time.time() - start, time.process_time() - cpu
        log(f"distilled in {distill_s:.0f} s wall, {distill_cpu_s:.0f} CPU s")
        paths = {}
        for (key, method), table in tables.items():
            name = f"distilled {key} {method}"
            paths[name] = write_static_vectors(table, tables_dir / f"{key}-{method}")
        gensim_tables, gensim_settings = train_gensim(corpus, args)
        for name, (words, vectors) in gensim_tables.items():
            table = StaticTable(
                words=words, vectors=vectors, counts=numpy.zeros(len(words), "int64"), key="-", method=name,
                attr="LOWER", settings={"model": name, **gensim_settings},
            )
            paths[name] = write_static_vectors(table, tables_dir / name.split()[0].lower(), name=name.split()[0])
        result = similarity_corpus(nlp, wordsim_dir=args.data / "wordsim", vectors=paths, progress=True)
    one = next(iter(tables.values()))
    result["corpus"] = {
        "sources": sources,
        "n_texts": one.settings["n_texts"],
        "n_tokens": one.settings["n_tokens"],
        "n_types": len(one.words),
        "min_count": args.min_count,
        "max_occurrences": args.max_occurrences,
        "distill_wall_s": round(distill_s, 1),
        "distill_cpu_s": round(distill_cpu_s, 1),
        "gensim": gensim_settings,
    }
    result["tables_dir"] = str(args.tables_dir) if args.tables_dir else None
    return result


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["sts", "words"])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads")
    parser.add_argument("--fit-limit", type=int, default=None, help="sts: fit on the first N unique train sentences")
    parser.add_argument("--dev-limit", type=int, default=None, help="sts: score the first N dev pairs (a smoke test)")
    parser.add_argument("--semcor-sentences", type=int, default=12000, help="words: SemCor sentences in the corpus")
    parser.add_argument("--min-count", type=int, default=2, help="words: types (and word2vec words) seen at least this often")
    parser.add_argument("--max-occurrences", type=int, default=12, help="words: occurrences per type sampled for pca")
    parser.add_argument("--gensim-width", type=int, default=384)
    parser.add_argument("--gensim-epochs", type=int, default=10)
    parser.add_argument("--source-limit", type=int, default=0, help="words: at most N sentences per source (a smoke test)")
    parser.add_argument("--tables-dir", type=Path, default=None, help="words: keep the tables here")
    parser.add_argument("--out", type=Path, default=None, help="JSON path (default: bench/results/similarity-PART.json)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        result = run_sts(args) if args.part == "sts" else run_words(args)
    result["date"] = time.strftime("%Y-%m-%d")
    result["machine"] = f"{os.cpu_count()}-core shared CPU, torch threads {args.threads}"
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_similarity_outputs(result, tmp)
        FIGURES.mkdir(parents=True, exist_ok=True)
        (FIGURES / f"similarity-{args.part}.png").write_bytes(paths["png"].read_bytes())
        result["markdown"] = paths["md"].read_text(encoding="utf8")
    return emit(result, args.out or RESULTS / f"similarity-{args.part}.json")


if __name__ == "__main__":
    main()
