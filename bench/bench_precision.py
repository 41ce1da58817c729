"""Precision and depth of the encoder's forward pass on CPU, side by side.

Against the raw fp32 forward of the bundled MiniLM on UD EWT dev, in the same
length-sorted batches: the fidelity of each fast path (cosine per word and per
wordpiece, every layer), and its speed at 1 and 2 torch threads (median of
--rounds interleaved rounds), in batches of 8 to 128 sentences too. Paths:
int8 (spacy_ctx.models.pytorch.precision), int8-all, int8-qd (torch's
quantize_dynamic), bf16, -k4 (stop at layer 4) and, with onnxruntime and onnx
installed, ort-fp32 and ort-int8. --ablation: only the fidelity of int8
variants that each change one design choice.

    python bench/bench_precision.py --rounds 5       # bench/results/precision.json
    python bench/bench_precision.py --ablation       # bench/results/precision_ablation.json
"""
import argparse
import copy
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy
import torch

from spacy_ctx.models.pytorch import precision as P
from spacy_ctx.models.pytorch.cpu import cpu_flags, int8_reduce_range
from spacy_ctx.models.pytorch.truncation import truncate_layers

from _common import DATA, EWT, RESULTS, emit, hf_model, interleave, sentences

BATCH_SIZE = 64
SHAPES = (8, 16, 32, 128)
TRUNCATE = 4


def make_batches(tokenizer, texts, batch_size=BATCH_SIZE):
    """Length-sorted batches: [(encoding, word ids per row)]."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = []
    for k in range(0, len(order), batch_size):
        enc = tokenizer([texts[i] for i in order[k : k + batch_size]], padding=True, truncation=True, return_tensors="pt")
        out.append((enc, [enc.word_ids(i) for i in range(len(enc["input_ids"]))]))
    return out


def n_words(batches):
    return sum(len({w for w in row if w is not None}) for _, rows in batches for row in rows)


# Each path maps an encoding to its hidden states: [n_layers, batch, seq_len, width].
def torch_path(model):
    def run(enc):
        with torch.inference_mode():
            out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], output_hidden_states=True)
        return torch.stack(out.hidden_states)

    return run


def ort_paths(model, tokenizer, threads, reduce_range, tmp: Path):
    """{name: {threads: run}} for onnxruntime fp32 and int8, or {} without it."""
    try:
        import onnxruntime
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        return {}

    class Stacked(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, ids, mask):
            return torch.stack(self.model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states)

    fp32_file, int8_file = tmp / "fp32.onnx", tmp / "int8.onnx"
    enc = tokenizer(["a short text", "and a longer one here"], padding=True, return_tensors="pt")
    axes = {"ids": {0: "batch", 1: "seq"}, "mask": {0: "batch", 1: "seq"}, "hidden": {1: "batch", 2: "seq"}}
    # A copy: the exporter restores the wrapper's train mode on the way out.
    torch.onnx.export(
        Stacked(copy.deepcopy(model)).eval(), (enc["input_ids"], enc["attention_mask"]), str(fp32_file),
        input_names=["ids", "mask"], output_names=["hidden"], dynamic_axes=axes, opset_version=17, dynamo=False,
    )
    quantize_dynamic(
        str(fp32_file), str(int8_file), per_channel=True, reduce_range=reduce_range,
        weight_type=QuantType.QInt8, extra_options={"DefaultTensorType": 1},
    )

    def session(path, n):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = n
        options.inter_op_num_threads = 1
        sess = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        feed = lambda e: {"ids": e["input_ids"].numpy(), "mask": e["attention_mask"].numpy()}
        return lambda e: torch.from_numpy(sess.run(None, feed(e))[0])

    return {
        "ort-fp32": {n: session(fp32_file, n) for n in threads},
        "ort-int8": {n: session(int8_file, n) for n in threads},
    }


def word_vectors(hidden, word_ids):
    """Mean-pool wordpieces to words: [n_layers, n_words, width]."""
    rows, words, offset = [], [], 0
    for b, ids in enumerate(word_ids):
        seen = [w for w in ids if w is not None]
        for s, w in enumerate(ids):
            if w is not None:
                rows.append(b * hidden.shape[2] + s)
                words.append(offset + w)
        offset += max(seen) + 1 if seen else 0
    flat = hidden.reshape(hidden.shape[0], -1, hidden.shape[-1])[:, rows].double()
    index = torch.tensor(words)
    out = torch.zeros(hidden.shape[0], offset, hidden.shape[-1], dtype=torch.float64)
    out.index_add_(1, index, flat)
    counts = torch.zeros(offset, dtype=torch.float64).index_add_(0, index, torch.ones(len(words), dtype=torch.float64))
    return out / counts.view(1, -1, 1)


def fidelity(ref_run, run, batches):
    """Per layer: cosine with fp32 per word and per wordpiece."""
    word_cos, piece_cos = [], []
    for enc, word_ids in batches:
        ref, got = ref_run(enc).double(), run(enc).double()
        mask = enc["attention_mask"].bool()
        piece_cos.append(torch.cosine_similarity(ref[:, mask], got[:, mask], dim=-1))
        word_cos.append(torch.cosine_similarity(word_vectors(ref, word_ids), word_vectors(got, word_ids), dim=-1))
    word_cos, piece_cos = torch.cat(word_cos, 1).numpy(), torch.cat(piece_cos, 1).numpy()
    summary = lambda c: {
        "mean": round(float(c.mean()), 6),
        "p1": round(float(numpy.percentile(c, 1)), 6),
        "min": round(float(c.min()), 5),
    }
    return {
        "words": [summary(c) for c in word_cos],
        "wordpieces": [summary(c) for c in piece_cos],
        "passes": bool(all(c.mean() >= 0.999 and numpy.percentile(c, 1) >= 0.99 for c in word_cos)),
    }


def ablation(fp32, tokenizer, texts, train_texts):
    """Fidelity of int8 variants that differ from `convert`'s in one choice."""
    torch.set_num_threads(1)
    calibration = P.calibration_batches(tokenizer)
    int8 = lambda **kw: P.convert(copy.deepcopy(fp32), "int8", kw.pop("calibration", calibration), **kw)
    qconfig = {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig}
    variants = {
        "int8": lambda: int8(),
        "quantize_dynamic-per-channel-weights": lambda: torch.ao.quantization.quantize_dynamic(copy.deepcopy(fp32), qconfig),
        "int8-no-smoothing": lambda: int8(alpha=0.0),
        "int8-alpha-0.7": lambda: int8(alpha=0.7),
        "int8-ffn-down-in-int8": lambda: int8(skip=["pooler.dense"]),
        f"int8-reduce_range-{not int8_reduce_range()}": lambda: int8(reduce_range=not int8_reduce_range()),
        "int8-calibrated-on-128-ewt-train": lambda: int8(calibration=P.calibration_batches(tokenizer, train_texts)),
    }
    batches = make_batches(tokenizer, texts)
    report = {"hardware": hardware(), "sentences": len(texts), "fidelity": {}}
    for name, make in variants.items():
        print(f"ablation {name}", file=sys.stderr, flush=True)
        report["fidelity"][name] = fidelity(torch_path(fp32), torch_path(make()), batches)
    return report


def timed_rounds(runners, rounds, label):
    """Per-round seconds of each runner, rotating which goes first."""
    names = list(runners)
    per_round = []
    for r in range(rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        print(f"{label} round {r + 1}/{rounds}", file=sys.stderr, flush=True)
        per_round.append(interleave({n: runners[n] for n in order}, [r], chunks=1, warmup=0))
    return per_round


def ratios(per_round, reference, words_per_round):
    out = {}
    for name in per_round[0]:
        speedups = [rnd[reference] / rnd[name] for rnd in per_round]
        out[name] = {
            "speedup_median": round(statistics.median(speedups), 3),
            "speedup_rounds": [round(s, 3) for s in speedups],
            "words_per_s_median": round(statistics.median(w / rnd[name] for w, rnd in zip(words_per_round, per_round)), 1),
        }
    return out


def runner(run, round_batches, threads):
    def go(chunk):
        # chunk: [round index], or [] for the shared loop's warm-up call.
        torch.set_num_threads(threads)
        for enc, _ in round_batches[chunk[0]] if chunk else ():
            run(enc)

    return go


def hardware():
    flags = cpu_flags()
    model_name = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
        platform.processor(),
    )
    return {
        "cpu": model_name,
        "cores": os.cpu_count(),
        "simd_flags": sorted(f for f in flags if f.startswith(("avx", "amx", "fma", "f16c"))),
        "torch": torch.__version__,
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "onednn_bf16_path": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
        "supports": {p: P.supports(p) for p in P.PRECISIONS},
        "int8_reduce_range": int8_reduce_range(),
        "quantized_engine": torch.backends.quantized.engine,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--sentences", type=int, default=0, help="0: all of EWT dev")
    parser.add_argument("--ablation", action="store_true", help="fidelity of the int8 design choices only")
    parser.add_argument("--out", type=Path, default=None, help="default: bench/results/precision[_ablation].json")
    args = parser.parse_args()
    name = "precision_ablation.json" if args.ablation else "precision.json"
    args.out = args.out or RESULTS / name
    warnings.filterwarnings("ignore")
    load_start = os.getloadavg()
    tokenizer, fp32 = hf_model()
    texts, _ = sentences(args.data / EWT.format(split="dev"), args.sentences or None)
    calibration = P.calibration_batches(tokenizer)
    reduce_range = int8_reduce_range()

    if args.ablation:
        report = ablation(fp32, tokenizer, texts, sentences(args.data / EWT.format(split="train"), 256)[0][::2])
        report["command"] = "python bench/bench_precision.py " + " ".join(sys.argv[1:])
        report["date"] = time.strftime("%Y-%m-%d")
        emit(report, args.out)
        return
    int8 = P.convert(copy.deepcopy(fp32), "int8", calibration)
    int8_all = P.convert(copy.deepcopy(fp32), "int8", calibration, skip=["pooler.dense"])
    qd_model = torch.ao.quantization.quantize_dynamic(copy.deepcopy(fp32), {torch.nn.Linear}, dtype=torch.qint8)
    bf16 = P.convert(copy.deepcopy(fp32), "bf16")
    paths = {
        "fp32": torch_path(fp32),
        "int8": torch_path(int8),
        "int8-all": torch_path(int8_all),
        "int8-qd": torch_path(qd_model),
        f"fp32-k{TRUNCATE}": torch_path(truncate_layers(copy.deepcopy(fp32), TRUNCATE)),
        f"int8-k{TRUNCATE}": torch_path(truncate_layers(copy.deepcopy(int8), TRUNCATE)),
    }
    with tempfile.TemporaryDirectory() as tmp:
        ort = ort_paths(fp32, tokenizer, args.threads, reduce_range, Path(tmp))

        torch.set_num_threads(1)
        all_batches = make_batches(tokenizer, texts)
        report = {"hardware": hardware(), "sentences": len(texts), "words": n_words(all_batches)}
        fidelity_paths = {"int8": paths["int8"], "int8-all": paths["int8-all"], "int8-qd": paths["int8-qd"]}
        fidelity_paths.update({name: ort_run[1] for name, ort_run in ort.items() if 1 in ort_run})
        report["fidelity"] = {}
        for name, run in fidelity_paths.items():
            print(f"fidelity {name}", file=sys.stderr, flush=True)
            report["fidelity"][name] = fidelity(paths["fp32"], run, all_batches)
        # Without native bf16 each batch takes several times as long: a sample.
        bf16_batches = all_batches if P.supports("bf16") else all_batches[::8]
        report["fidelity"]["bf16"] = fidelity(paths["fp32"], torch_path(bf16), bf16_batches)
        report["fidelity"]["bf16"]["sentences"] = sum(len(rows) for _, rows in bf16_batches)

        # Speed: each round encodes its own slice of the sentences.
        rounds = [texts[r :: args.rounds] for r in range(args.rounds)]
        round_batches = [make_batches(tokenizer, chunk) for chunk in rounds]
        words = [n_words(b) for b in round_batches]
        runners = {}
        for n in args.threads:
            for name, run in paths.items():
                runners[f"{name}@{n}"] = runner(run, round_batches, n)
            for name, by_threads in ort.items():
                runners[f"{name}@{n}"] = runner(by_threads[n], round_batches, n)
        for go in runners.values():  # warm-up: first calls allocate and pack
            go([0])
        per_round = timed_rounds(runners, args.rounds, "speed")
        report["speed"] = ratios(per_round, "fp32@1", words)
        report["speed_vs_same_threads"] = {
            name: round(statistics.median(rnd[f"fp32@{name.rsplit('@', 1)[1]}"] / rnd[name] for rnd in per_round), 3)
            for name in per_round[0]
        }

        # bf16 and batch shapes: smaller side studies, each interleaved with fp32.
        sample = [round_batches[r][::4] for r in range(args.rounds)]
        bf16_runners = {"fp32@1": runner(paths["fp32"], sample, 1), "bf16@1": runner(torch_path(bf16), sample, 1)}
        bf16_rounds = min(args.rounds, 3)
        bf16_per_round = timed_rounds(bf16_runners, bf16_rounds, "bf16")
        report["speed_bf16"] = ratios(bf16_per_round, "fp32@1", [n_words(b) for b in sample])
        # Sentences per batch: padding and cache footprint against GEMM size.
        shapes = {}
        for size in SHAPES:
            shaped = [make_batches(tokenizer, chunk, size) for chunk in rounds]
            for name in ("fp32", "int8", f"fp32-k{TRUNCATE}", f"int8-k{TRUNCATE}"):
                shapes[f"{name}@1-b{size}"] = runner(paths[name], shaped, 1)
        shape_per_round = timed_rounds({"fp32@1": runners["fp32@1"], **shapes}, args.rounds, "shapes")
        report["speed_batch_size"] = ratios(shape_per_round, "fp32@1", words)
    report["batch_size"] = BATCH_SIZE
    report["load_average"] = {"start": [round(x, 2) for x in load_start], "end": [round(x, 2) for x in os.getloadavg()]}
    report["command"] = "python bench/bench_precision.py " + " ".join(sys.argv[1:])
    report["date"] = time.strftime("%Y-%m-%d")
    emit(report, args.out)


if __name__ == "__main__":
    main()
