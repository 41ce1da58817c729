"""Similarity you can trust, against the peers on the same data. sts: STS-B
dev Spearman x 100 per layer, mix and correction, the candidates scored on
STS-B train, the default and the recommended pipeline, and the anchor,
sentence-transformers' encode(). words: static tables of every layer against
word2vec and fastText on the same text, on the wordsim sets. static:
distill-static of --model at each of --keys against Model2Vec's distill of
the same model (in a venv of its own: python3 -m venv /tmp/m2v &&
/tmp/m2v/bin/pip install "model2vec[distill]" scikit-learn); --speed, after a full run,
adds words/s interleaved. Writes bench/results/similarity-PART.json
(static: static-vs-model2vec.json) and docs/figures/similarity-PART.png.

    nice -n 10 python bench/bench_similarity.py sts
    nice -n 10 python bench/bench_similarity.py words --tables-dir /tmp/static_tables
    nice -n 10 python bench/bench_similarity.py static --model2vec-python /tmp/m2v/bin/python [--speed --chunks 6]
"""
import json
import os
import pickle
import tempfile
import time
from pathlib import Path

import numpy
import spacy

from harness import EWT, FIGURES, MODEL, RESULTS, TASKS, emit, log, machine, options, parse
from harness.peers import Model2Vec, ctx_pipeline, pipe, sentence_transformers_vectors
from harness.readers import unique_texts
from harness.timing import interleave
from spacy_ctx.analysis.plots import plot_panels
from spacy_ctx.analysis.report import write_similarity_outputs
from spacy_ctx.analysis.similarity import doc_means, encode_fit_data, row_cosines, similarity_corpus, spearman, vocab_lookup
from spacy_ctx.analysis.similarity import word_similarity
from spacy_ctx.analysis.static import StaticTable, distill_static, resolve_key, write_static_vectors
from spacy_ctx.analysis.static_pipeline import static_pipeline
from spacy_ctx.corpora import read_texts
from spacy_ctx.evaluation_sets import find_wordsim_sets, read_sts, read_word_pairs
from spacy_ctx.normalizer import Normalizer
from spacy_ctx.pipeline.loading import find_encoder

ANCHOR = "sentence-transformers encode()"
MIN_COUNT, MAX_OCCURRENCES = 2, 12  # words: the types (and word2vec's words) kept, occurrences per type sampled for pca
WORK = Path("/tmp/bench_static")  # static: the cached tables
ABTT1 = ("abtt", {"n_components": 1})
CANDIDATES = [  # (name, mix layers (None: all), softmax weights, normalizer or None)
    ("mix all layers (default)", None, None, None), ("mix [-1]", [6], None, None), ("mix [-1] + center", [6], None, ("center", {})),
    ("mix [-1] + abtt D=1", [6], None, ABTT1), ("mix [-1] + abtt D=4", [6], None, ("abtt", {"n_components": 4})),
    ("mix [-1] + whiten", [6], None, ("whiten", {})), ("mix [0,-1] 0.2/0.8", [0, 6], [0.2, 0.8], None),
    ("mix [0,-1] 0.2/0.8 + center", [0, 6], [0.2, 0.8], ("center", {})), ("mix [0,-1] 0.2/0.8 + abtt D=1", [0, 6], [0.2, 0.8], ABTT1),
    ("mix [-2,-1]", [5, 6], None, None), ("mix [-2,-1] + abtt D=1", [5, 6], None, ABTT1),
]


def saved_and_loaded(nlp, path: Path):
    nlp.to_disk(path)
    return spacy.load(path)


def pair_spearman(pairs, texts, vectors) -> float:
    """Spearman x 100 (None where undefined) of the cosines of each pair's rows of `vectors`, a row per text."""
    index = {t: i for i, t in enumerate(texts)}
    a, b = (numpy.asarray([index[getattr(p, side)] for p in pairs]) for side in ("a", "b"))
    rho = spearman([p.gold for p in pairs], row_cosines(vectors[a], vectors[b]))
    return None if rho != rho else round(rho, 2)


def run_sts(args) -> dict:
    dev, train = args.data / "stsb" / "sts-dev.csv", args.data / "stsb" / "sts-train.csv"
    nlp = ctx_pipeline()
    log("encoding the STS-B train sentences (fit data)")
    fit = encode_fit_data(nlp, train, limit=args.fit_limit, progress=True)
    texts = unique_texts(read_sts(train))[: args.fit_limit]
    keep = set(texts)
    train_pairs = [p for p in read_sts(train) if p.a in keep and p.b in keep]
    selection = {}  # each candidate on the train pairs, normalizers fitted on the same sentences
    for name, layers, weights, norm in CANDIDATES:
        layers = layers or list(range(fit.layers.shape[0]))
        w = numpy.full(len(layers), 1 / len(layers)) if weights is None else numpy.asarray(weights)
        tokens = numpy.tensordot(w, fit.layers[layers], axes=(0, 0))  # [n_tokens, width]
        V = doc_means(tokens, fit.offsets)
        if norm is not None:
            V = Normalizer(norm[0], **norm[1]).fit({"mix": tokens}).transform(V, "mix")
        selection[name] = pair_spearman(train_pairs, texts, V)
        log(f"train selection: {name}: {selection[name]}")
    with tempfile.TemporaryDirectory(prefix="spacy_ctx_sim_") as tmp:
        default = saved_and_loaded(nlp, Path(tmp) / "default")
        result = similarity_corpus(default, stsb_path=dev, sts_limit=args.dev_limit, fit_features=fit, progress=True)
        result["settings"]["fit_data"] = str(train)
        best = ctx_pipeline(settings={"mix.layers": [-1]})
        # fit-normalizer --mix-only fits the mix's vectors: with mix.layers [-1], layer 6's, encoded above.
        find_encoder(best).set_normalizer(Normalizer("abtt", n_components=1).fit({"mix": fit.get("layer6")}))
        best.get_pipe_config("ctx_encoder")["normalize"] = True  # config.cfg decides on load
        recommended = similarity_corpus(saved_and_loaded(best, Path(tmp) / "recommended"), stsb_path=dev,
                                        sts_limit=args.dev_limit, methods=(), progress=True)
    pairs = read_sts(dev, args.dev_limit)
    vectors, note = sentence_transformers_vectors(unique_texts(pairs))
    score = None if vectors is None else pair_spearman(pairs, unique_texts(pairs), vectors)
    result["sts"]["anchor"] = {"name": ANCHOR, "score": score, "note": note}
    result["selection_on_train"] = selection
    result["pipelines"] = {"default (mix of all layers)": result["sts"]["pipeline"],
                           "recommended (mix [-1] + abtt D=1 fitted on STS-B train)": recommended["sts"]["pipeline"]}
    result["recommended_minus_anchor"] = None if score is None else round(recommended["sts"]["pipeline"]["score"] - score, 2)
    return result


def sts_outputs(result: dict, png: Path) -> str:
    """The package's Markdown and figure of the STS-B rows, the anchor added (a flat line beside the pipeline's)."""
    sts = result["sts"]
    with tempfile.TemporaryDirectory() as tmp:
        markdown = write_similarity_outputs(result, tmp)["md"].read_text(encoding="utf8")
    anchor = sts["anchor"]["score"]
    lines = {row: dict(values) for row, values in sts["rows"].items()}
    lines["doc.similarity (pipeline)"] = dict.fromkeys(sts["keys"], sts["pipeline"]["score"])
    lines[ANCHOR] = dict.fromkeys(sts["keys"], numpy.nan if anchor is None else anchor)
    plot_panels({"STS-B dev, Spearman x 100": lines}, sts["keys"], png)
    return markdown.rstrip("\n") + f"\n\n{ANCHOR}: **{'-' if anchor is None else f'{anchor:.1f}'}** ({sts['anchor']['note']})\n"


def write_corpus(path: Path, data: Path) -> dict:
    """The distillation corpus, one sentence a line: sentences per source (SemCor's first 12,000)."""
    sources = {"ud_english_ewt/en_ewt-ud-train.conllu": None, "conll2003/train.txt": None, "wsd/semcor30_from_naf.data.xml": 12000}
    counts = {}
    with path.open("w", encoding="utf8") as out:
        for source, stop in sources.items():
            texts = [record.text.replace("\n", " ") for record in read_texts(data / source, stop=stop)]
            out.writelines(t + "\n" for t in texts)
            counts[source] = len(texts)
        sts = unique_texts(read_sts(data / "stsb" / "sts-train.csv"))
        out.writelines(t.replace("\n", " ") + "\n" for t in sts)
        counts["stsb/sts-train.csv (unique sentences)"] = len(sts)
    return counts


def train_gensim(corpus: Path):
    """word2vec and fastText on the corpus, tokenized as the distillation is (spaCy's, lowercased)."""
    from gensim.models import FastText, Word2Vec

    tokenizer = spacy.blank("en")
    lines = [[t.lower_ for t in tokenizer.make_doc(line.strip()) if not t.is_space]
             for line in corpus.open(encoding="utf8") if line.strip()]
    settings = dict(vector_size=384, window=5, min_count=MIN_COUNT, sg=1, epochs=10, workers=1, seed=0)
    models = {"word2vec skip-gram": Word2Vec, "fastText skip-gram": FastText}
    models = {name: cls(sentences=lines, **settings) for name, cls in models.items()}
    return {name: (list(m.wv.index_to_key), numpy.asarray(m.wv.vectors, dtype="float32")) for name, m in models.items()}, settings


def run_words(args) -> dict:
    nlp = ctx_pipeline()
    with tempfile.TemporaryDirectory(prefix="spacy_ctx_static_") as tmp:
        work = Path(tmp)
        tables_dir, corpus = args.tables_dir or work / "tables", work / "corpus.txt"
        sources = write_corpus(corpus, args.data)
        start, cpu = time.time(), time.process_time()
        tables = distill_static(nlp, [corpus], keys=list(range(find_encoder(nlp).n_layers)) + ["mix"], methods=("mean", "pca"),
                                min_count=MIN_COUNT, max_occurrences=MAX_OCCURRENCES, progress=True)
        distill_s, distill_cpu_s = time.time() - start, time.process_time() - cpu
        paths = {f"distilled {key} {method}": write_static_vectors(table, tables_dir / f"{key}-{method}") for (key, method), table in tables.items()}
        gensim_tables, gensim_settings = train_gensim(corpus)
        for name, (words, vectors) in gensim_tables.items():
            table = StaticTable(words=words, vectors=vectors, counts=numpy.zeros(len(words), "int64"), key="-", method=name,
                                attr="LOWER", settings={"model": name, **gensim_settings})
            paths[name] = write_static_vectors(table, tables_dir / name.split()[0].lower(), name=name.split()[0])
        result = similarity_corpus(nlp, wordsim_dir=args.data / "wordsim", vectors=paths, progress=True)
    one = next(iter(tables.values()))
    result["corpus"] = {"sources": sources, "n_texts": one.settings["n_texts"], "n_tokens": one.settings["n_tokens"], "n_types": len(one.words),
                        "min_count": MIN_COUNT, "max_occurrences": MAX_OCCURRENCES, "distill_wall_s": round(distill_s, 1),
                        "distill_cpu_s": round(distill_cpu_s, 1), "gensim": gensim_settings}
    result["tables_dir"] = str(args.tables_dir) if args.tables_dir else None
    return result


KEYS = ["-1", "mix"]  # static: the candidate keys (--keys), the top layer and the sentence mix by default
WEIGHTINGS = [("none", None)] + [(w, a) for w in ("sif", "zipf") for a in (1e-4, 1e-3, 3e-3, 1e-2, 3e-2)]
PCA_DIMS = [None, 256]


def distill(args) -> dict:
    """{"tables": {key: the table distilled from --model at that key}, "cpu_s", "wall_s"}, cached per model, keys and limit."""
    cache = WORK / f"tables-{Path(args.model).name}-{'_'.join(args.keys)}-{args.limit}.pkl"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    cpu, wall, nlp = time.process_time(), time.perf_counter(), ctx_pipeline(model=args.model)
    keys = [resolve_key(key, find_encoder(nlp).n_layers) for key in args.keys]
    tables = distill_static(nlp, [args.data / EWT.format(split="train"), args.data / TASKS["ner"]["train"]], keys=keys,
                            methods=["mean"], min_count=1, limit=args.limit, subwords=True, progress=True)
    out = {"tables": {key: tables[(key, "mean")] for key in keys}, "cpu_s": round(time.process_time() - cpu, 1),
           "wall_s": round(time.perf_counter() - wall, 1)}
    cache.write_bytes(pickle.dumps(out))
    return out


def chosen_pipeline(tables, row):
    return static_pipeline(tables[row["key"]], weighting=row["weighting"], sif_a=row["sif_a"] or 1e-3, pca_dims=row["pca_dims"])[0]


def sts_score(nlp, pairs, texts):
    return pair_spearman(pairs, texts, numpy.stack([doc.vector for doc in nlp.pipe(texts)]))


def word_scores(lookup, datasets) -> dict:
    """Spearman x 100 (on the pairs it covers) and coverage of a word lookup on each wordsim set."""
    rows = word_similarity({"lookup": lookup}, datasets)["rows"]["lookup"]
    return {name: {key: row[key] for key in ("spearman", "coverage")} for name, row in rows.items()}


def interleaved_speed(args, texts) -> None:
    report = json.loads(args.out.read_text())
    static, ctx, m2v = chosen_pipeline(distill(args)["tables"], report["chosen"]), ctx_pipeline(model=args.model), Model2Vec(args.model2vec_python, args.model)
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


def run_static(args) -> None:
    args.out = args.out or RESULTS / "static-vs-model2vec.json"
    train, dev = read_sts(args.data / "stsb" / "sts-train.csv"), read_sts(args.data / "stsb" / "sts-dev.csv")
    train_texts, dev_texts = unique_texts(train), unique_texts(dev)
    if args.speed:
        return interleaved_speed(args, dev_texts)
    WORK.mkdir(parents=True, exist_ok=True)
    distilled = distill(args)
    tables, datasets = distilled["tables"], {n: read_word_pairs(p) for n, p in find_wordsim_sets(args.data / "wordsim").items()}
    selection = []
    for key in tables:
        for weighting, a in WEIGHTINGS:
            for dims in PCA_DIMS:
                row = {"key": key, "weighting": weighting, "sif_a": a, "pca_dims": dims}
                selection.append({**row, "sts_train": sts_score(chosen_pipeline(tables, row), train, train_texts)})
                log(str(selection[-1]))
    best = max(selection, key=lambda row: row["sts_train"])
    nlp = chosen_pipeline(tables, best)
    words = sorted({w for pairs in datasets.values() for p in pairs for w in p[:2]})
    ours = {"sts_dev": sts_score(nlp, dev, dev_texts),
            "words": word_scores({w: nlp(w).vector for w in words}.get, datasets)}
    word_table = {"words": word_scores(vocab_lookup(static_pipeline(tables[best["key"]])[0].vocab), datasets)}
    m2v = None
    if args.model2vec_python:
        log("Model2Vec in its own venv")
        child = Model2Vec(args.model2vec_python, args.model)
        try:
            m2v = dict(child.info)
            m2v["sts_dev"] = pair_spearman(dev, dev_texts, child.encode(dev_texts, WORK / "m2v-dev.npy"))
            m2v["words"] = word_scores(dict(zip(words, child.encode(words, WORK / "m2v-words.npy"))).get, datasets)
        finally:
            child.close()
    some = next(iter(tables.values()))
    emit({
        "machine": machine(f"torch threads {args.threads}"), "model": args.model, "runs": "one: every figure is deterministic (no training seeds)",
        "corpus": {"files": [EWT.format(split="train"), TASKS["ner"]["train"]], "limit": args.limit,
                   "note": "the texts are read in file order up to --limit", "n_texts": some.settings["n_texts"],
                   "n_tokens": some.settings["n_tokens"], "n_types": len(some.words),
                   "n_wordpieces_in_context": some.subwords.settings["n_pieces_in_context"], "n_wordpieces": some.subwords.settings["n_pieces"]},
        "distill": {"cpu_s": distilled["cpu_s"], "wall_s": distilled["wall_s"], "keys": list(tables),
                    "note": "one run distils every candidate key; a single key costs the same encoding"},
        "selection_on_sts_train": selection, "chosen": best, "spacy_ctx": ours, "spacy_ctx_word_table_only": word_table,
        "model2vec": m2v,
    }, args.out)


def main(argv=None) -> dict:
    parser = options(__doc__, threads=1, model=True)
    parser.add_argument("part", choices=["sts", "words", "static"])
    parser.add_argument("--keys", nargs="+", default=KEYS, help="static: candidate layers (negative from the top) or mix")
    parser.add_argument("--fit-limit", type=int, default=None, help="sts: fit on the first N unique train sentences")
    parser.add_argument("--dev-limit", type=int, default=None, help="sts: score the first N dev pairs (a smoke test)")
    parser.add_argument("--tables-dir", type=Path, default=None, help="words: keep the tables here")
    parser.add_argument("--model2vec-python", help="static: Python of a venv with model2vec[distill]")
    parser.add_argument("--limit", type=int, default=None, help="static: texts read for the distillation (default: all)")
    parser.add_argument("--speed", action="store_true", help="static: only the interleaved speed run")
    parser.add_argument("--chunks", type=int, default=6, help="static --speed: chunks to interleave")
    args = parse(parser, argv)
    if args.part != "static" and args.model != MODEL:
        parser.error("--model: static only (sts and words compare the bundled model's layers)")
    if args.part == "static":
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # as in Model2Vec's child
        return run_static(args)
    result = run_sts(args) if args.part == "sts" else run_words(args)
    result["machine"] = machine(f"torch threads {args.threads}")
    out = args.out or RESULTS / f"similarity-{args.part}.json"
    png = FIGURES / f"similarity-{args.part}.png" if out.parent == RESULTS else out.with_suffix(".png")  # a trial's beside it
    if args.part == "sts":
        result["markdown"] = sts_outputs(result, png)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            paths = write_similarity_outputs(result, tmp)
            png.write_bytes(paths["png"].read_bytes())
            result["markdown"] = paths["md"].read_text(encoding="utf8")
    return emit(result, out)


if __name__ == "__main__":
    main()
