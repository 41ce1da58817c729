"""Similarity you can trust: STS-B per layer and correction against
sentence-transformers' own encode(), and static vectors distilled from every
layer against word2vec and fastText on the same text.

sts: STS-B dev, Spearman x 100 of cosine, per layer and for the mix (mean,
first wordpiece, corrections fitted on STS-B train), the candidate
configurations scored on STS-B train pairs, doc.similarity of the default and
the recommended pipeline (mix [-1] + abtt D=1), and the anchor (the model's
sentence-transformers encode(), harness.peers). words: static tables of every
layer (mean, first principal component) distilled from unlabelled training
text, and gensim's word2vec and fastText on it, on the wordsim sets. Each
writes bench/results/similarity-PART.json and docs/figures/similarity-PART.png.

    nice -n 10 python bench/bench_similarity.py sts
    nice -n 10 python bench/bench_similarity.py words --tables-dir /tmp/static_tables
"""
import tempfile
import time
from pathlib import Path

import numpy
import spacy

from harness import FIGURES, RESULTS, emit, log, machine, options, parse
from harness.peers import ctx_pipeline, sentence_transformers_vectors
from harness.readers import unique_texts
from spacy_ctx.analysis.plots import plot_panels
from spacy_ctx.analysis.report import write_similarity_outputs
from spacy_ctx.analysis.similarity import doc_means, encode_fit_data, row_cosines, similarity_corpus, spearman
from spacy_ctx.analysis.static import StaticTable, distill_static, write_static_vectors
from spacy_ctx.corpora import read_sts, read_texts
from spacy_ctx.normalizer import Normalizer
from spacy_ctx.pipeline.loading import find_encoder

ANCHOR = "sentence-transformers encode()"
ABTT1 = ("abtt", {"n_components": 1})
CANDIDATES = [  # (name, mix layers (None: all), softmax weights, normalizer or None)
    ("mix all layers (default)", None, None, None), ("mix [-1]", [6], None, None), ("mix [-1] + center", [6], None, ("center", {})),
    ("mix [-1] + abtt D=1", [6], None, ABTT1), ("mix [-1] + abtt D=4", [6], None, ("abtt", {"n_components": 4})),
    ("mix [-1] + whiten", [6], None, ("whiten", {})), ("mix [0,-1] 0.2/0.8", [0, 6], [0.2, 0.8], None),
    ("mix [0,-1] 0.2/0.8 + center", [0, 6], [0.2, 0.8], ("center", {})), ("mix [0,-1] 0.2/0.8 + abtt D=1", [0, 6], [0.2, 0.8], ABTT1),
    ("mix [-2,-1]", [5, 6], None, None), ("mix [-2,-1] + abtt D=1", [5, 6], None, ABTT1),
]


def saved_and_loaded(nlp, work: Path, name: str):
    nlp.to_disk(work / name)
    return spacy.load(work / name)


def pair_spearman(pairs, texts, vectors) -> float:
    """Spearman x 100 (None where undefined) of the cosines of each pair's
    rows of `vectors`, one row per text of `texts`."""
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
        default = saved_and_loaded(nlp, Path(tmp), "default")
        result = similarity_corpus(default, stsb_path=dev, sts_limit=args.dev_limit, fit_features=fit, progress=True)
        result["settings"]["fit_data"] = str(train)
        best = ctx_pipeline(settings={"mix.layers": [-1]})
        # fit-normalizer --mix-only fits the mix's vectors: with mix.layers [-1], layer 6's, encoded above.
        find_encoder(best).set_normalizer(Normalizer("abtt", n_components=1).fit({"mix": fit.get("layer6")}))
        best.get_pipe_config("ctx_encoder")["normalize"] = True  # config.cfg decides on load
        recommended = similarity_corpus(saved_and_loaded(best, Path(tmp), "recommended"), stsb_path=dev, sts_limit=args.dev_limit,
                                        methods=(), progress=True)
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
    """The package's Markdown and a figure of the STS-B rows, each with the
    anchor added: its line, and a flat line beside the pipeline's."""
    sts = result["sts"]
    with tempfile.TemporaryDirectory() as tmp:
        markdown = write_similarity_outputs(result, tmp)["md"].read_text(encoding="utf8")
    anchor = sts["anchor"]["score"]
    lines = {row: dict(values) for row, values in sts["rows"].items()}
    lines["doc.similarity (pipeline)"] = dict.fromkeys(sts["keys"], sts["pipeline"]["score"])
    lines[ANCHOR] = dict.fromkeys(sts["keys"], numpy.nan if anchor is None else anchor)
    plot_panels({"STS-B dev, Spearman x 100": lines}, sts["keys"], png)
    return markdown.rstrip("\n") + f"\n\n{ANCHOR}: **{'-' if anchor is None else f'{anchor:.1f}'}** ({sts['anchor']['note']})\n"


def write_corpus(path: Path, args) -> dict:
    """The distillation corpus, one sentence a line: sentences per source."""
    sources = {"ud_english_ewt/en_ewt-ud-train.conllu": None, "conll2003/train.txt": None, "wsd/semcor30_from_naf.data.xml": args.semcor_sentences}
    counts = {}
    with path.open("w", encoding="utf8") as out:
        for source, stop in sources.items():
            stop = min(stop or args.source_limit, args.source_limit) if args.source_limit else stop
            texts = [record.text.replace("\n", " ") for record in read_texts(args.data / source, stop=stop)]
            out.writelines(t + "\n" for t in texts)
            counts[source] = len(texts)
        sts = unique_texts(read_sts(args.data / "stsb" / "sts-train.csv"))[: args.source_limit or None]
        out.writelines(t.replace("\n", " ") + "\n" for t in sts)
        counts["stsb/sts-train.csv (unique sentences)"] = len(sts)
    return counts


def train_gensim(corpus: Path, args):
    """word2vec and fastText on the corpus, tokenized as the distillation is
    (spaCy's English tokenizer, lowercased): ({name: (words, vectors)}, settings)."""
    from gensim.models import FastText, Word2Vec

    tokenizer = spacy.blank("en")
    lines = [[t.lower_ for t in tokenizer.make_doc(line.strip()) if not t.is_space] for line in corpus.open(encoding="utf8") if line.strip()]
    settings = dict(vector_size=args.gensim_width, window=5, min_count=args.min_count, sg=1, epochs=args.gensim_epochs, workers=1, seed=0)
    out = {}
    for name, cls in (("word2vec skip-gram", Word2Vec), ("fastText skip-gram", FastText)):
        model = cls(sentences=lines, **settings)
        out[name] = (list(model.wv.index_to_key), numpy.asarray(model.wv.vectors, dtype="float32"))
    return out, settings


def run_words(args) -> dict:
    nlp = ctx_pipeline()
    with tempfile.TemporaryDirectory(prefix="spacy_ctx_static_") as tmp:
        work = Path(tmp)
        tables_dir, corpus = args.tables_dir or work / "tables", work / "corpus.txt"
        sources = write_corpus(corpus, args)
        start, cpu = time.time(), time.process_time()
        tables = distill_static(nlp, [corpus], keys=list(range(find_encoder(nlp).n_layers)) + ["mix"], methods=("mean", "pca"),
                                min_count=args.min_count, max_occurrences=args.max_occurrences, progress=True)
        distill_s, distill_cpu_s = time.time() - start, time.process_time() - cpu
        paths = {f"distilled {key} {method}": write_static_vectors(table, tables_dir / f"{key}-{method}") for (key, method), table in tables.items()}
        gensim_tables, gensim_settings = train_gensim(corpus, args)
        for name, (words, vectors) in gensim_tables.items():
            table = StaticTable(words=words, vectors=vectors, counts=numpy.zeros(len(words), "int64"), key="-", method=name,
                                attr="LOWER", settings={"model": name, **gensim_settings})
            paths[name] = write_static_vectors(table, tables_dir / name.split()[0].lower(), name=name.split()[0])
        result = similarity_corpus(nlp, wordsim_dir=args.data / "wordsim", vectors=paths, progress=True)
    one = next(iter(tables.values()))
    result["corpus"] = {"sources": sources, "n_texts": one.settings["n_texts"], "n_tokens": one.settings["n_tokens"], "n_types": len(one.words),
                        "min_count": args.min_count, "max_occurrences": args.max_occurrences, "distill_wall_s": round(distill_s, 1),
                        "distill_cpu_s": round(distill_cpu_s, 1), "gensim": gensim_settings}
    result["tables_dir"] = str(args.tables_dir) if args.tables_dir else None
    return result


def main(argv=None) -> dict:
    parser = options(__doc__, threads=1)
    parser.add_argument("part", choices=["sts", "words"])
    parser.add_argument("--fit-limit", type=int, default=None, help="sts: fit on the first N unique train sentences")
    parser.add_argument("--dev-limit", type=int, default=None, help="sts: score the first N dev pairs (a smoke test)")
    parser.add_argument("--semcor-sentences", type=int, default=12000, help="words: SemCor sentences in the corpus")
    parser.add_argument("--min-count", type=int, default=2, help="words: types (and word2vec words) seen at least this often")
    parser.add_argument("--max-occurrences", type=int, default=12, help="words: occurrences per type sampled for pca")
    parser.add_argument("--gensim-width", type=int, default=384)
    parser.add_argument("--gensim-epochs", type=int, default=10)
    parser.add_argument("--source-limit", type=int, default=0, help="words: at most N sentences per source (a smoke test)")
    parser.add_argument("--tables-dir", type=Path, default=None, help="words: keep the tables here")
    parser.add_argument("--png", type=Path, default=None, help="figure path (default: docs/figures/similarity-PART.png)")
    args = parse(parser, argv)
    result = run_sts(args) if args.part == "sts" else run_words(args)
    result["machine"] = machine(f"torch threads {args.threads}")
    png = args.png or FIGURES / f"similarity-{args.part}.png"
    if args.part == "sts":
        result["markdown"] = sts_outputs(result, png)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            paths = write_similarity_outputs(result, tmp)
            png.write_bytes(paths["png"].read_bytes())
            result["markdown"] = paths["md"].read_text(encoding="utf8")
    return emit(result, args.out or RESULTS / f"similarity-{args.part}.json")


if __name__ == "__main__":
    main()
