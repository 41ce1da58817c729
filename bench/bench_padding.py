"""What padding costs the encoder, and what computing none of it buys.

Side by side in one interleaved run on UD EWT dev sentences, the bundled
MiniLM at the default thread count:
(a) the plain transformers loop a user writes: sentences sorted by wordpiece
    count, batches of 64, output_hidden_states=True;
(b) ctx_encoder in nlp.pipe(batch_size=64), the model's own padded forward
    (`LayerEncoder.pack = False`), each nlp.pipe batch encoded as it comes
    (`min_batch_words = 0`);
(c) the same with the padding-free forward (models/pytorch/packed.py);
(c2) (c) with nlp.pipe's batches pooled up to `min_batch_words` (4,096), the
    default: the linears through oneDNN, activation and residuals fused;
(c3) (c2) with the linears through torch's own modules (MKL's sgemm);
(d) (c) at spaCy's default nlp.pipe batch size (1,000);
(e) with --auto: (c) with `precision = "auto"` (the fastest precision this
    machine runs within the fidelity bar, chosen at load; its choice and
    measurements go into the JSON).
It also reports each path's padding ratio (padded / real wordpieces), this
machine's sgemm rate at the encoder's shapes, and the useful work (FLOPs of
real wordpieces per second) as a share of it.

    python bench/bench_padding.py --sentences 1000 --chunks 6 --out bench/results/padding.json
"""
import argparse
import time
from pathlib import Path

import torch

from spacy_ctx.models.transformer import find_hf_shim
from spacy_ctx.pipeline.encoder import pooled_batches
from spacy_ctx.pipeline.loading import find_encoder, load_pipeline

from _common import DATA, EWT, chunk_ratios, emit, hf_model, interleave, machine, sentences
from bench_sgemm import best_gflops

BATCH_SIZE = 64
# ctx_encoder's default min_batch_words.
POOLED = 4096


def sorted_batches(tokenizer, texts):
    """The loop's batches: texts sorted by wordpiece count, BATCH_SIZE at a
    time, padded to the longest."""
    encoded = tokenizer(texts, add_special_tokens=True)["input_ids"]
    order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
    for k in range(0, len(order), BATCH_SIZE):
        yield tokenizer([texts[i] for i in order[k : k + BATCH_SIZE]], padding=True, return_tensors="pt")


def raw_loop(tokenizer, model):
    def run(texts):
        for batch in sorted_batches(tokenizer, texts):
            with torch.no_grad():
                model(**batch, output_hidden_states=True)

    return run


def loop_padding(tokenizer, chunks) -> float:
    """Padded / real wordpieces of the loop over these chunks."""
    batches = [batch["attention_mask"] for chunk in chunks for batch in sorted_batches(tokenizer, chunk)]
    return sum(mask.numel() for mask in batches) / sum(int(mask.sum()) for mask in batches)


def ctx_runner(nlp, pack: bool, batch_size: int, min_words: int = 0, fuse: bool = True):
    encoder = find_encoder(nlp)
    shim = find_hf_shim(encoder.model)

    def run(texts):
        shim.encoder.pack = pack
        shim.encoder.fuse = fuse
        encoder.cfg["min_batch_words"] = min_words
        for doc in nlp.pipe(texts, batch_size=batch_size):
            pass

    return run


def planner_padding(nlp, texts, batch_size: int) -> float:
    """Padded / real wordpieces of the planner's forward batches for texts
    in nlp.pipe batches of `batch_size`, not pooled (chunk by chunk, as
    interleave runs them): what the padded forward computes. The packed
    forward computes only the real ones, attention included (it runs per
    run of equal-length windows)."""
    shim = find_hf_shim(find_encoder(nlp).model)
    padded = real = 0
    for docs in pooled_batches((nlp.make_doc(t) for t in texts), batch_size, 0):
        for batch in shim.planner(docs).batches:
            padded += batch.input_ids.size
            real += int(batch.attention_mask.sum())
    return padded / real


def sgemm_gflops(width: int, rows: int = 4096, repeats: int = 20) -> float:
    """The fp32 matmul rate at the encoder's feed-forward shape, the faster
    of MKL and oneDNN (one round of bench_sgemm.py's timing)."""
    return best_gflops(rows, width, 4 * width, repeats, rounds=1)


def flops_per_wordpiece(config) -> float:
    """Multiply-adds x 2 of one real wordpiece's linears in every layer."""
    width, inner = config.hidden_size, config.intermediate_size
    return 2 * config.num_hidden_layers * (4 * width * width + 2 * width * inner)


def timing_parser(description: str) -> argparse.ArgumentParser:
    """The options of the interleaved timings on EWT dev sentences."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--chunks", type=int, default=6)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    return parser


def parse_timing(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The options parsed, with torch's thread count set from --threads."""
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    return args


def main() -> None:
    parser = timing_parser(__doc__.splitlines()[0])
    parser.add_argument("--auto", action="store_true", help='add (e): precision = "auto"')
    parser.add_argument("--rounds", type=int, default=1, help="times over the sentences, chunk by chunk")
    parser.add_argument("--out", type=Path, default=None)
    args = parse_timing(parser)
    texts, _ = sentences(args.data / EWT.format(split="dev"), args.sentences)
    tokenizer, model = hf_model()
    nlp = load_pipeline("default")
    runners = {
        "a_transformers_sorted_loop": raw_loop(tokenizer, model),
        "b_ctx_padded_forward": ctx_runner(nlp, False, BATCH_SIZE),
        "c_ctx_packed": ctx_runner(nlp, True, BATCH_SIZE),
        "c2_ctx_packed_pooled": ctx_runner(nlp, True, BATCH_SIZE, POOLED),
        "c3_ctx_packed_pooled_unfused": ctx_runner(nlp, True, BATCH_SIZE, POOLED, fuse=False),
        "d_ctx_packed_batch_1000": ctx_runner(nlp, True, 1000),
    }
    auto_choice = None
    if args.auto:
        auto = load_pipeline("default", overrides={"components.ctx_encoder.model.precision": "auto"})
        auto("warm up")
        auto_choice = find_hf_shim(find_encoder(auto).model).choice.to_dict()
        runners["e_ctx_packed_auto"] = ctx_runner(auto, True, BATCH_SIZE, POOLED)
    samples = {}
    seconds = interleave(runners, texts, args.chunks, warmup=64, rounds=args.rounds, samples=samples)
    words = sum(len(nlp.make_doc(t)) for t in texts) * args.rounds
    size = -(-len(texts) // args.chunks)
    chunks = [texts[k : k + size] for k in range(0, len(texts), size)]
    # Real wordpieces, special tokens included, in the timed runs.
    pieces = sum(len(ids) for ids in tokenizer(texts)["input_ids"]) * args.rounds
    # The packed paths compute no padding.
    padding = {name: 1.0 for name in seconds}
    padding["a_transformers_sorted_loop"] = loop_padding(tokenizer, chunks)
    padding["b_ctx_padded_forward"] = sum(planner_padding(nlp, c, BATCH_SIZE) * len(c) for c in chunks) / len(texts)
    gemm = sgemm_gflops(model.config.hidden_size)
    per_piece = flops_per_wordpiece(model.config)
    reference = seconds["a_transformers_sorted_loop"]
    results = {}
    for name, secs in seconds.items():
        useful = pieces * per_piece / secs / 1e9
        results[name] = {
            "words_per_s": round(words / secs, 1),
            "vs_transformers_loop": round(reference / secs, 3),
            # The loop's time over this path's, chunk by chunk: a slow spell
            # of the shared machine moves the sums above, less the median.
            "vs_loop_per_chunk": chunk_ratios(samples["a_transformers_sorted_loop"], samples[name]),
            "padding_ratio": round(padding[name], 3),
            "useful_gflops": round(useful, 1),
            "share_of_sgemm": round(useful / gemm, 3),
        }
    emit(
        {
            "what": "words/s of the encoder paths, interleaved; padding ratio; useful work against sgemm",
            "date": time.strftime("%Y-%m-%d"),
            "machine": machine(),
            "threads": torch.get_num_threads(),
            "sentences": len(texts),
            "rounds": args.rounds,
            "words": words,
            "sgemm_gflops": round(gemm, 1),
            "results": results,
            "auto_choice": auto_choice,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
