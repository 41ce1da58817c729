"""Similarity you can trust: STS-B per layer and correction against
sentence-transformers' own encode(), and static vectors distilled from every
layer against word2vec and fastText on the same text.

sts: STS-B dev, Spearman x 100 of cosine, per layer and for the mix (mean,
first wordpiece, corrections fitted on STS-B train), the candidate
configurations scored on STS-B train pairs, doc.similarity of the default and
the recommended pipeline (mix [-1] + abtt D=1), and the anchor (the model's
sentence-transformers encode(), bench/_common). words: static tables of every
layer (mean, first principal component) distilled from unlabelled training
text, and gensim's word2vec and fastText on it, on the wordsim sets. Each
writes bench/results/similarity-PART.json and docs/figures/similarity-PART.png.

    nice -n 10 python bench/bench_similarity.py sts
    nice -n 10 python bench/bench_similarity.py words --tables-dir /tmp/static_tables
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy
import spacy
import torch
from threadpoolctl import threadpool_limits

from spacy_ctx.analysis.plots import plot_panels
from spacy_ctx.analysis.report import write_similarity_outputs
from spacy_ctx.analysis.similarity import doc_means, encode_fit_data, row_cosines, similarity_corpus, spearman
from spacy_ctx.analysis.static import StaticTable, distill_static, write_static_vectors
from spacy_ctx.corpora import read_sts, read_texts
from spacy_ctx.normalizer import Normalizer
from spacy_ctx.pipeline.loading import find_encoder, load_pipeline

from _common import DATA, FIGURES, RESULTS, emit, log, machine, sentence_transformers_vectors

ANCHOR = "sentence-transformers encode()"


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


def pair_spearman(pairs, texts, vectors) -> float:
    """Spearman x 100 (None where undefined) of the cosines of each pair's
    rows of `vectors`, one row per text of `texts`."""
    index = {t: i for i, t in enumerate(texts)}
    a = numpy.asarray([index[p.a] for p in pairs])
    b = numpy.asarray([index[p.b] for p in pairs])
    rho = spearman([p.gold for p in pairs], row_cosines(vectors[a], vectors[b]))
    return None if rho != rho else round(rho, 2)


def select_on_train(train_pairs, fit_features, texts):
    """Each candidate's Spearman on the STS-B train pairs, from the train
    sentences' features (normalizers fitted on the same sentences)."""
    out = {}
    for name, layers, weights, norm in CANDIDATES:
        layers = layers or list(range(fit_features.layers.shape[0]))
        w = numpy.full(len(layers), 1 / len(layers)) if weights is None else numpy.asarray(weights)
        tokens = numpy.tensordot(w, fit_features.layers[layers], axes=(0, 0))  # [n_tokens, width]
        V = doc_means(tokens, fit_features.offsets)
        if norm is not None:
            V = Normalizer(norm[0], **norm[1]).fit({"mix": tokens}).transform(V, "mix")
        out[name] = pair_spearman(train_pairs, texts, V)
        log(f"train selection: {name}: {out[name]}")
    return out


def anchor(pairs) -> dict:
    """The model's own sentence-transformers encode() on the same pairs."""
    texts = list(dict.fromkeys(t for p in pairs for t in p[:2]))
    vectors, note = sentence_transformers_vectors(texts)
    return {"name": ANCHOR, "score": None if vectors is None else pair_spearman(pairs, texts, vectors), "note": note}


def run_sts(args) -> dict:
    dev, train = args.data / "stsb" / "sts-dev.csv", args.data / "stsb" / "sts-train.csv"
    nlp = load_pipeline("default")
    log("encoding the STS-B train sentences (fit data)")
    fit_features = encode_fit_data(nlp, train, limit=args.fit_limit, progress=True)
    train_pairs = read_sts(train)
    texts = list(dict.fromkeys(t for p in train_pairs for t in p[:2]))[: args.fit_limit]
    keep = set(texts)
    selection = select_on_train([p for p in train_pairs if p.a in keep and p.b in keep], fit_features, texts)
    with tempfile.TemporaryDirectory(prefix="spacy_ctx_sim_") as tmp:
        work = Path(tmp)
        log("default pipeline: every layer, the corrections")
        default = saved_and_loaded(nlp, work, "default")
        result = similarity_corpus(default, stsb_path=dev, sts_limit=args.dev_limit, fit_features=fit_features, progress=True)
        result["settings"]["fit_data"] = str(train)
        log("recommended pipeline: mix [-1] + abtt D=1 (STS-B train)")
        best = load_pipeline("default", overrides={"components.ctx_encoder.mix.layers": [-1]})
        # fit-normalizer --mix-only fits the mix's vectors of the fit data;
        # with mix.layers [-1] those are layer 6's, already encoded above.
        norm = Normalizer("abtt", n_components=1).fit({"mix": fit_features.get("layer6")})
        find_encoder(best).set_normalizer(norm)
        best.get_pipe_config("ctx_encoder")["normalize"] = True  # config.cfg decides on load
        best = saved_and_loaded(best, work, "recommended")
        recommended = similarity_corpus(best, stsb_path=dev, sts_limit=args.dev_limit, methods=(), progress=True)
    log("anchor: sentence-transformers encode()")
    result["sts"]["anchor"] = anchor(read_sts(dev, args.dev_limit))
    result["selection_on_train"] = selection
    result["pipelines"] = {
        "default (mix of all layers)": result["sts"]["pipeline"],
        "recommended (mix [-1] + abtt D=1 fitted on STS-B train)": recommended["sts"]["pipeline"],
    }
    score = result["sts"]["anchor"]["score"]
    result["recommended_minus_anchor"] = None if score is None else round(recommended["sts"]["pipeline"]["score"] - score, 2)
    return result


def sts_outputs(result: dict, png: Path) -> str:
    """The package's Markdown and a figure of the STS-B rows, each with the
    anchor added: its line, and a flat line beside the pipeline's."""
    sts = result["sts"]
    with tempfile.TemporaryDirectory() as tmp:
        markdown = write_similarity_outputs(result, tmp)["md"].read_text(encoding="utf8")
    score = "-" if sts["anchor"]["score"] is None else f"{sts['anchor']['score']:.1f}"
    lines = {row: dict(values) for row, values in sts["rows"].items()}
    lines["doc.similarity (pipeline)"] = dict.fromkeys(sts["keys"], sts["pipeline"]["score"])
    lines[ANCHOR] = dict.fromkeys(sts["keys"], numpy.nan if sts["anchor"]["score"] is None else sts["anchor"]["score"])
    plot_panels({"STS-B dev, Spearman x 100": lines}, sts["keys"], png)
    return markdown.rstrip("\n") + f"\n\n{ANCHOR}: **{score}** ({sts['anchor']['note']})\n"


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
    nlp = load_pipeline("default")
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
    parser.add_argument("--png", type=Path, default=None, help="figure path (default: docs/figures/similarity-PART.png)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        result = run_sts(args) if args.part == "sts" else run_words(args)
    result["date"] = time.strftime("%Y-%m-%d")
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
