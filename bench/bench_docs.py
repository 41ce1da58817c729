"""Long and many docs: words/s of `nlp.pipe` on one 200,000-character doc,
and of `n_process=2` against one process, the default pipeline.

    nice -n 10 python bench/bench_docs.py --sentences 2000 --rounds 2 --out bench/results/docs.json

The long doc is UD EWT dev text joined with spaces (and repeated) up to
200,000 characters (windowed by the encoder, never truncated). The many docs are
the EWT dev sentences: one process at torch's two threads, one process at
one thread, and `n_process=2` with one thread in each (spaCy forks the
workers; spacy_ctx's fork hooks keep torch to one thread there), all three
in nlp.pipe batches of 256, so that only the processes and threads differ.
Each setting runs `rounds` times in turn; the best of its rounds is
reported.
"""
import argparse
import time
from pathlib import Path

import torch

from _common import DATA, EWT, RESULTS, emit, machine, sentences
from spacy_ctx.pipeline.loading import load_pipeline

LONG_CHARS = 200_000
# nlp.pipe's batch size in every sentence setting (n_process=2 hands each
# worker whole batches: 2,000 sentences make 8 of them).
BATCH_SIZE = 256


def timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "docs.json")
    args = parser.parse_args()
    texts, _ = sentences(args.data / EWT.format(split="dev"), args.sentences)
    joined = " ".join(texts)
    # EWT dev holds about 125,000 characters: repeated until the doc is long enough.
    long_text = (" ".join([joined] * (LONG_CHARS // len(joined) + 1)))[:LONG_CHARS]
    nlp = load_pipeline("default")
    nlp("warm up")
    long_words = len(nlp.make_doc(long_text))
    words = sum(len(doc) for doc in nlp.tokenizer.pipe(texts))

    def threads(n, run):
        def go():
            torch.set_num_threads(n)
            run()
        return go

    settings = {
        "long_doc_2_threads": (long_words, threads(2, lambda: list(nlp.pipe([long_text])))),
        "long_doc_1_thread": (long_words, threads(1, lambda: list(nlp.pipe([long_text])))),
        "sentences_1_process_2_threads": (words, threads(2, lambda: [d for d in nlp.pipe(texts, batch_size=BATCH_SIZE)])),
        "sentences_1_process_1_thread": (words, threads(1, lambda: [d for d in nlp.pipe(texts, batch_size=BATCH_SIZE)])),
        "sentences_n_process_2": (words, threads(1, lambda: [d for d in nlp.pipe(texts, n_process=2, batch_size=BATCH_SIZE)])),
    }
    best = {name: float("inf") for name in settings}
    for _ in range(args.rounds):
        for name, (_, run) in settings.items():
            best[name] = min(best[name], timed(run))
    results = {name: {"words": n, "seconds": round(best[name], 2), "words_per_s": round(n / best[name])} for name, (n, _) in settings.items()}
    emit({"what": "nlp.pipe words/s: one 200,000-character doc, and n_process=2 against one process",
          "date": time.strftime("%Y-%m-%d"), "machine": machine(), "long_doc_chars": len(long_text),
          "sentences": len(texts), "batch_size": BATCH_SIZE, "rounds": args.rounds, "results": results,
          "n_process_2_over_1_process_2_threads": round(best["sentences_1_process_2_threads"] / best["sentences_n_process_2"], 2)},
         args.out)


if __name__ == "__main__":
    main()
