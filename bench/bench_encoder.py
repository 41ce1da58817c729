"""Encoder throughput against spacy-transformers, side by side in one run.

Words per second on UD EWT dev sentences, the bundled MiniLM in all three:
(a) `ctx_encoder`, storing every layer on the Doc; (b) the raw transformers
forward with output_hidden_states=True in length-sorted batches, the floor of
the work; (c) spacy-transformers' `transformer` component. Interleaved chunk
by chunk, so the ratios hold; the peak RSS of (a) alone, in a child process.
--plot draws the JSON's bar chart.

    python bench/bench_encoder.py --sentences 1000 --chunks 8 --out bench/results/encoder.json
    python bench/bench_encoder.py --plot docs/figures/throughput.png --out bench/results/encoder.json
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

from spacy_ctx.pipeline.loading import load_pipeline

from _common import DATA, EWT, MODEL, child_result, emit, hf_model, in_child, interleave, machine, peak_rss_mib, pipe_runner
from _common import sentences

# Sentences per forward batch for the raw baseline. The spaCy components use
# nlp.pipe's default batch (1,000 docs), as a user would; ctx_encoder then cuts
# its length-sorted windows into forward batches itself.
BATCH_SIZE = 64


def make_ctx():
    stats = {"bytes": 0, "tokens": 0}
    run = pipe_runner(load_pipeline("default"), stored=stats)
    return run, lambda: {"bytes_per_token": stats["bytes"] / max(stats["tokens"], 1)}


def make_raw():
    tokenizer, model = hf_model()

    def run(texts):
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for k in range(0, len(order), BATCH_SIZE):
            chunk = [texts[i] for i in order[k : k + BATCH_SIZE]]
            enc = tokenizer(chunk, padding=True, truncation=True, return_tensors="pt")
            with torch.no_grad():
                out = model(**enc, output_hidden_states=True)
            torch.stack(out.hidden_states)

    return run, lambda: {}


def make_spacy_transformers():
    import spacy
    import spacy_transformers  # noqa: F401  (registers the transformer factory)

    from spacy_ctx.models.hf_loading import resolve_model_dir

    nlp = spacy.blank("en")
    nlp.add_pipe(
        "transformer",
        config={
            "model": {
                "@architectures": "spacy-transformers.TransformerModel.v3",
                "name": str(resolve_model_dir(MODEL)),
                "tokenizer_config": {"use_fast": True},
            }
        },
    )
    nlp.initialize()
    stats = {"bytes": 0, "tokens": 0}

    def run(texts):
        for doc in nlp.pipe(texts):
            data = doc._.trf_data
            stats["bytes"] += sum(getattr(t, "nbytes", 0) for t in data.model_output.values())
            stats["bytes"] += data.align.lengths.nbytes + data.align.dataXd.nbytes
            stats["bytes"] += sum(getattr(v, "nbytes", 0) for v in data.tokens.values())
            stats["tokens"] += len(doc)

    return run, lambda: {"trf_data_bytes_per_token": stats["bytes"] / max(stats["tokens"], 1)}


METHODS = {
    "a_ctx_encoder": make_ctx,
    "b_raw_transformers": make_raw,
    "c_spacy_transformers": make_spacy_transformers,
}
LABELS = {
    "a_ctx_encoder": "ctx_encoder\n(all layers on the Doc)",
    "b_raw_transformers": "raw transformers\n(all hidden states)",
    "c_spacy_transformers": "spacy-transformers\n(transformer component)",
}


def plot(report: dict, png: Path) -> None:
    """A bar chart of the report's words per second."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    speeds = [report["results"][name]["words_per_s"] for name in report["results"]]
    fig = Figure(figsize=(6.4, 3.4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    bars = ax.bar([LABELS.get(n, n) for n in report["results"]], speeds, color=["tab:blue", "tab:gray", "tab:orange"])
    ax.bar_label(bars, [f"{s:.0f}" for s in speeds])
    ax.set_ylabel("words / s")
    ax.set_title(f"Bundled MiniLM, {report['sentences']} EWT sentences ({report['date']}, {report['machine']})", fontsize="small")
    fig.savefig(png, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--chunks", type=int, default=10)
    parser.add_argument("--rss-child", action="store_true", help="(internal) run (a) alone on stdin's lines, report its peak RSS")
    parser.add_argument("--plot", type=Path, default=None, metavar="PNG", help="only draw --out's JSON into PNG")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    if args.plot:
        plot(json.loads(args.out.read_text()), args.plot)
        return
    if args.rss_child:
        run, extra = make_ctx()
        run(sys.stdin.read().split("\n"))
        child_result({"peak_rss_mib": peak_rss_mib(), **extra()})
        return
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    texts, words = sentences(args.data / EWT.format(split="dev"), args.sentences)
    runners = {name: make() for name, make in METHODS.items()}
    seconds = interleave({name: run for name, (run, _) in runners.items()}, texts, args.chunks)
    n_words = sum(words)
    results = {
        name: {"seconds": seconds[name], "words_per_s": n_words / seconds[name], **runners[name][1]()}
        for name in METHODS
    }
    results["a_ctx_encoder"].update(in_child(__file__, ["--rss-child"], "\n".join(texts)))
    a, b, c = (results[m]["words_per_s"] for m in METHODS)
    emit(
        {
            "date": time.strftime("%Y-%m-%d"),
            "machine": machine(f"load {os.getloadavg()[0]:.1f}"),
            "torch_threads": torch.get_num_threads(),
            "sentences": len(texts),
            "words": n_words,
            "results": results,
            "ratio_a_over_b": a / b,
            "ratio_a_over_c": a / c,
            "ratio_c_over_b": c / b,
            "targets_met": {"a >= 0.9 b": a >= 0.9 * b, "a >= 1.5 c": a >= 1.5 * c},
        },
        args.out,
    )


if __name__ == "__main__":
    main()
