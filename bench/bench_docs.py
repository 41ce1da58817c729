"""Long and many docs: nlp.pipe words/s of the default pipeline on one
200,000-character doc (EWT dev text, repeated; windowed, never truncated) and
on the EWT dev sentences, at 2 and 1 threads and with n_process=2, in batches
of 256; best of --rounds.

    nice -n 10 python bench/bench_docs.py --sentences 2000 --rounds 2 --out bench/results/docs.json
"""
import torch

from harness import EWT, RESULTS, emit, options, parse
from harness.peers import ctx_pipeline
from harness.readers import sentences
from harness.timing import best_of

LONG_CHARS, BATCH_SIZE = 200_000, 256


def main():
    parser = options(__doc__, RESULTS / "docs.json", threads=None)
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parse(parser)
    texts, words = sentences(args.data / EWT.format(split="dev"), args.sentences)
    joined = " ".join(texts)  # EWT dev holds about 125,000 characters: repeated until long enough
    long_text = " ".join([joined] * (LONG_CHARS // len(joined) + 1))[:LONG_CHARS]
    nlp = ctx_pipeline()
    nlp("warm up")
    long_words = len(nlp.make_doc(long_text))
    settings = {  # name: (words, threads, texts, n_process)
        "long_doc_2_threads": (long_words, 2, [long_text], 1), "long_doc_1_thread": (long_words, 1, [long_text], 1),
        "sentences_1_process_2_threads": (sum(words), 2, texts, 1), "sentences_1_process_1_thread": (sum(words), 1, texts, 1),
        "sentences_n_process_2": (sum(words), 1, texts, 2),
    }
    best = dict.fromkeys(settings, float("inf"))
    for _ in range(args.rounds):
        for name, (_, threads, items, processes) in settings.items():
            torch.set_num_threads(threads)
            best[name] = min(best[name], best_of(1, lambda: list(nlp.pipe(items, batch_size=BATCH_SIZE, n_process=processes))))
    emit({"what": "nlp.pipe words/s: one 200,000-character doc, and n_process=2 against one process",
          "long_doc_chars": len(long_text), "sentences": len(texts), "batch_size": BATCH_SIZE, "rounds": args.rounds,
          "results": {name: {"words": n, "seconds": round(best[name], 2), "words_per_s": round(n / best[name])}
                      for name, (n, *_) in settings.items()},
          "n_process_2_over_1_process_2_threads": round(best["sentences_1_process_2_threads"] / best["sentences_n_process_2"], 2)},
         args.out)


if __name__ == "__main__":
    main()
