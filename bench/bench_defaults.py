"""What token vectors should read by default: candidate token mixes, each a
plain mean of layers chosen from the encoder's depth, on the word-level
measures: words in isolation on the word-similarity sets (Spearman x 100, all
pairs) and the polysemy AUC of `anisotropy` on the first SemCor sentences.
Each layer alone is scored too. One encoding of every layer per corpus; a
plain mean of layers is linear, so each candidate is the mean of those arrays
(what the pipeline's mix gives, up to float rounding).

    python bench/bench_defaults.py --out bench/results/defaults-token-mixes-minilm.json
    python bench/bench_defaults.py --model /root/.cache/spacy-ctx-models/all-mpnet-base-v2 \\
        --out bench/results/defaults-token-mixes-mpnet.json
"""
from typing import Dict, List

import numpy

from harness import RESULTS, emit, log, options, parse
from spacy_ctx.analysis.features import encode_docs
from spacy_ctx.analysis.polysemy import polysemy_auc, sense_items, span_vectors
from spacy_ctx.analysis.similarity import isolation_vectors, word_similarity
from spacy_ctx.corpora import read_docs
from spacy_ctx.evaluation_sets import find_wordsim_sets, read_word_pairs
from spacy_ctx.pipeline.loading import find_encoder, load_pipeline


def candidates(depth: int) -> Dict[str, List[int]]:
    """{name: layers} for an encoder of `depth` transformer layers (layer 0 =
    the embeddings, `depth` = the top)."""
    third, half = round(depth / 3), round(depth / 2)
    return {
        "top": [depth],
        "third": [third],
        "third+top": [third, depth],
        "third..half": list(range(third, half + 1)),
        "third..top": list(range(third, depth + 1)),
        **{f"layer{i}": [i] for i in range(depth + 1)},
    }


def main() -> None:
    parser = options(__doc__, out=RESULTS / "defaults-token-mixes-minilm.json", model=True)
    parser.add_argument("--semcor-limit", type=int, default=600, help="SemCor sentences for the polysemy AUC")
    args = parse(parser)
    nlp = load_pipeline("default", overrides={"components.ctx_encoder.model.name": args.model})
    encoder = find_encoder(nlp)
    depth = encoder.n_layers - 1
    mixes = candidates(depth)

    datasets = {name: read_word_pairs(path) for name, path in find_wordsim_sets(args.data / "wordsim").items()}
    words = list(dict.fromkeys(w for pairs in datasets.values() for p in pairs for w in p[:2]))
    log(f"{len(words)} words in isolation, every layer")
    isolated = isolation_vectors(encoder, words, make_doc=nlp.make_doc)
    kept = list(isolated["layer0"])
    per_layer = numpy.stack([[isolated[f"layer{i}"][w] for w in kept] for i in range(depth + 1)])
    lookups = {name: dict(zip(kept, per_layer[layers].mean(axis=0))).get for name, layers in mixes.items()}
    words_table = word_similarity(lookups, datasets)

    log(f"SemCor, the first {args.semcor_limit} sentences, every layer")
    docs = read_docs(args.data / "wsd" / "semcor30_from_naf.data.xml", nlp, limit=args.semcor_limit)
    features = encode_docs(encoder, docs)
    items = sense_items(docs)
    polysemy = {name: polysemy_auc(span_vectors(features.layers[layers].mean(axis=0), items.starts, items.ends), items)
                for name, layers in mixes.items()}

    rows = {
        name: {
            "layers": layers,
            **{dataset: words_table["rows"][name][dataset]["spearman"] for dataset in datasets},
            "polysemy AUC per lemma": round(polysemy[name]["auc_macro"], 4),
            "polysemy AUC pooled": round(polysemy[name]["auc"], 4),
        }
        for name, layers in mixes.items()
    }
    emit({
        "what": "Token mixes (the plain mean of the listed layers; layer 0 = the embeddings) on the word-level "
        "measures: words in isolation, Spearman x 100 over all pairs (every word covered), and the polysemy AUC "
        f"(per lemma and pooled) on the first {args.semcor_limit} SemCor sentences, as `anisotropy --limit` "
        "computes it. One deterministic run.",
        "model": args.model,
        "depth": depth,
        "n_pairs": words_table["n_shared"],
        "polysemy": {k: polysemy["top"][k] for k in ("n_lemmas", "n_lemmas_macro", "n_pairs", "n_same")},
        "rows": rows,
    }, args.out)


if __name__ == "__main__":
    main()
