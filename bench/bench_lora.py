"""LoRA against full fine-tuning of the bundled MiniLM under a tagger on a
listener: trainable parameters, peak RSS and seconds per update, each mode
(frozen, full, lora) in a process of its own, --rounds times in turn; medians.

    nice -n 10 python bench/bench_lora.py --updates 12 --batch 32     # bench/results/lora.json
"""
import statistics
import time

from harness import EWT, RESULTS, child_result, emit, in_child, log, machine, options, parse, peak_rss_mib
from harness.training import LORA

MODES = ("frozen", "full", "lora")


def child(mode: str, args) -> dict:
    import spacy
    from spacy.training import Example

    from spacy_ctx.corpora import read_docs
    from spacy_ctx.models.lora import count_parameters
    from spacy_ctx.models.transformer import find_hf_shim

    gold = list(read_docs(args.data / EWT.format(split="train"), spacy.blank("en"), limit=args.batch * args.updates))
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config={"model": {"lora": LORA if mode == "lora" else None}})
    listener = {"@architectures": "spacy_ctx.CtxListener.v1", "grad_factor": 0.0 if mode == "frozen" else 1.0}
    nlp.add_pipe("tagger", config={"model": {"@architectures": "spacy.Tagger.v2", "nO": None, "tok2vec": listener}})
    examples = [Example(nlp.make_doc(doc.text), doc) for doc in gold]
    optimizer = nlp.initialize(lambda: examples)
    counts = count_parameters(find_hf_shim(nlp.get_pipe("ctx_encoder").model).encoder)
    rss_ready, seconds = peak_rss_mib(), []
    for k in range(args.updates):
        start = time.perf_counter()
        nlp.update(examples[k * args.batch : (k + 1) * args.batch], sgd=optimizer)
        seconds.append(time.perf_counter() - start)
    return {
        "mode": mode, "encoder_parameters": counts["total"],
        "trainable_encoder_parameters": counts["trainable"] if mode != "frozen" else 0,
        "peak_rss_mib_after_init": round(rss_ready), "peak_rss_mib_training": round(peak_rss_mib()),
        # The first updates fill the frozen cache or warm up: the median of the rest.
        "s_per_update": round(statistics.median(seconds[2:]), 3),
        "words_per_update": round(sum(len(eg.reference) for eg in examples) / args.updates),
    }


def main():
    parser = options(__doc__, RESULTS / "lora.json", threads=1, child=True)
    parser.add_argument("--updates", type=int, default=12)
    parser.add_argument("--batch", type=int, default=32, help="sentences per update")
    parser.add_argument("--rounds", type=int, default=2)
    args = parse(parser)
    if args.child:
        return child_result(child(args.child, args))
    runs = {mode: [] for mode in MODES}
    for r in range(args.rounds):
        for mode in MODES:
            log(f"round {r + 1}: {mode}")
            child_args = ["--updates", str(args.updates), "--batch", str(args.batch), "--data", str(args.data)]
            runs[mode].append(in_child(__file__, ["--child", mode, *child_args]))
    rows = {mode: dict(results[0]) for mode, results in runs.items()}
    for mode, row in rows.items():
        for key in ("peak_rss_mib_after_init", "peak_rss_mib_training", "s_per_update"):
            row[key] = round(statistics.median(r[key] for r in runs[mode]), 3)
        row["training_rss_over_init_mib"] = round(row["peak_rss_mib_training"] - row["peak_rss_mib_after_init"])
    emit({"machine": machine("torch on one thread"), "lora": LORA, "rounds": args.rounds, "updates": args.updates,
          "batch_sentences": args.batch, "modes": rows,
          "lora_trainable_share": round(rows["lora"]["trainable_encoder_parameters"] / rows["full"]["trainable_encoder_parameters"], 4),
          "lora_time_over_full": round(rows["lora"]["s_per_update"] / rows["full"]["s_per_update"], 2)}, args.out)


if __name__ == "__main__":
    main()
