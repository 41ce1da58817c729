"""Compiled and exported forwards of the bundled MiniLM against eager torch.

Side by side in one interleaved run on UD EWT dev sentences, each backend
running the same wordpiece-sorted batches of 64 with every hidden state out
(the transformers loop of bench_padding.py):
- eager: transformers' own forward (SDPA attention, its default), and with
  `attn_implementation="eager"`;
- compile: `torch.compile` (inductor, CPU, dynamic shapes);
- jit: `torch.jit.trace`, `freeze` and `optimize_for_inference` (oneDNN fusion);
- ort: ONNX Runtime after its transformer graph optimizer (fused attention,
  SkipLayerNorm, fast GELU), fp32;
- ort-int8: the same, dynamic int8 with per-channel weights and the
  feed-forward down projections kept in fp32;
- ctx: ctx_encoder in nlp.pipe(batch_size=64) at its defaults (packed forward,
  batches pooled to 4,096 words), for reference.
Each backend's hidden states are checked against eager fp32 on every
sentence: per layer the mean and 1st percentile of token cosines, and the
largest absolute difference. Set-up costs (compile, trace, export) are timed
apart and reported.

    nice python bench/bench_backends.py --sentences 1000 --chunks 6 --out bench/results/backends.json

Needs the [bench] extra (onnxruntime, onnx) for the ort rows (skipped without).
"""
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable, Dict, List

import numpy
import spacy
import torch

from spacy_ctx.pipeline.loading import load_pipeline

from _common import EWT, emit, hf_model, interleave, machine, sentences
from bench_padding import BATCH_SIZE, POOLED, ctx_runner, parse_timing, timing_parser

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class HiddenStates(torch.nn.Module):
    """The model as a function of its three inputs to a tuple of every
    hidden state, the form tracing and ONNX export want."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, output_hidden_states=True, return_dict=True)
        return tuple(out.hidden_states)


def sorted_batches(tokenizer, texts: List[str]) -> List[Dict[str, torch.Tensor]]:
    encoded = tokenizer(texts)["input_ids"]
    order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))
    return [
        tokenizer([texts[i] for i in order[k : k + BATCH_SIZE]], padding=True, return_tensors="pt")
        for k in range(0, len(order), BATCH_SIZE)
    ]


def torch_forward(module) -> Callable:
    def forward(batch):
        with torch.inference_mode():
            return [h.numpy() for h in module(*(batch[k] for k in INPUTS))]

    return forward


def ort_forward(path: Path) -> Callable:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    # ORT's threads spin after each run by default, taking the cores from
    # whichever runner comes next in the interleaving.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def forward(batch):
        return session.run(None, {k: batch[k].numpy() for k in INPUTS})

    return forward


def export_onnx(model, tokenizer, work: Path, int8: bool) -> Path:
    """The model exported to ONNX and through ORT's BERT graph optimizer; with
    `int8`, the export dynamically quantised instead (per channel, FFN down
    projections in fp32), which the session's own optimizer then fuses: the
    quantiser cannot read the BERT optimizer's fused operators."""
    from onnxruntime.transformers.optimizer import optimize_model

    raw = work / "model.onnx"
    if not raw.exists():
        example = sorted_batches(tokenizer, ["an example sentence to trace", "and another"])[0]
        names = [f"hidden_{i}" for i in range(model.config.num_hidden_layers + 1)]
        axes = {name: {0: "batch", 1: "sequence"} for name in [*INPUTS, *names]}
        torch.onnx.export(
            HiddenStates(model), tuple(example[k] for k in INPUTS), str(raw), input_names=list(INPUTS),
            output_names=names, dynamic_axes=axes, opset_version=17, dynamo=False,
        )
        optimized = optimize_model(str(raw), model_type="bert", num_heads=model.config.num_attention_heads, hidden_size=model.config.hidden_size)
        optimized.save_model_to_file(str(work / "optimized.onnx"))
    if not int8:
        return work / "optimized.onnx"
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(raw)).graph
    # The feed-forward down projection of each block: its MatMul under
    # ".../output/dense" that is not the attention's output.
    keep = [n.name for n in graph.node if n.op_type == "MatMul" and "/output/dense" in n.name and "attention" not in n.name]
    quantized = work / "int8.onnx"
    quantize_dynamic(
        str(raw), str(quantized), per_channel=True, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"], nodes_to_exclude=keep
    )
    return quantized


def fidelity(forward: Callable, reference: List, batches: List) -> Dict:
    """Per layer: mean and 1st percentile token cosine against `reference`,
    over real wordpieces, and the largest absolute difference."""
    cosines, worst = None, 0.0
    for batch, ref in zip(batches, reference):
        mask = batch["attention_mask"].numpy().astype(bool)
        out = forward(batch)
        if cosines is None:
            cosines = [[] for _ in out]
        for i, (a, b) in enumerate(zip(out, ref)):
            a, b = numpy.asarray(a, dtype=numpy.float32)[mask], b[mask]
            cos = (a * b).sum(-1) / (numpy.linalg.norm(a, axis=-1) * numpy.linalg.norm(b, axis=-1) + 1e-12)
            cosines[i].append(cos)
            worst = max(worst, float(numpy.abs(a - b).max()))
    layers = [numpy.concatenate(c) for c in cosines]
    return {
        "mean_cosine": [round(float(c.mean()), 6) for c in layers],
        "p1_cosine": [round(float(numpy.percentile(c, 1)), 6) for c in layers],
        "max_abs_diff": round(worst, 6),
        "within_bar": all(c.mean() >= 0.999 and numpy.percentile(c, 1) >= 0.99 for c in layers),
    }


def batch_runner(tokenizer, forward: Callable) -> Callable:
    def run(texts):
        for batch in sorted_batches(tokenizer, texts):
            forward(batch)

    return run


def main() -> None:
    parser = timing_parser(__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["eager-attention", "compile", "jit", "ort", "ort-int8", "ctx"])
    parser.add_argument("--out", type=Path, default=None)
    args = parse_timing(parser)
    texts, _ = sentences(args.data / EWT.format(split="dev"), args.sentences)
    tokenizer, model = hf_model()
    batches = sorted_batches(tokenizer, texts)
    forwards = {"eager": torch_forward(HiddenStates(model))}
    reference = [forwards["eager"](b) for b in batches]
    setup_s, skipped = {}, {}
    work = Path(tempfile.mkdtemp())
    for name in args.backends:
        start = time.perf_counter()
        try:
            if name == "eager-attention":
                forwards[name] = torch_forward(HiddenStates(hf_model(attn_implementation="eager")[1]))
            elif name == "compile":
                forwards[name] = torch_forward(torch.compile(HiddenStates(model), dynamic=True))
                forwards[name](batches[0])
            elif name == "jit":
                example = tuple(batches[len(batches) // 2][k] for k in INPUTS)
                with torch.inference_mode(), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    traced = torch.jit.trace(HiddenStates(hf_model(attn_implementation="eager")[1]), example, strict=False)
                    forwards[name] = torch_forward(torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval())))
                    forwards[name](batches[0])
            elif name in ("ort", "ort-int8"):
                forwards[name] = ort_forward(export_onnx(model, tokenizer, work, int8=name == "ort-int8"))
        except Exception as err:  # a backend this machine cannot run is reported, not fatal
            skipped[name] = f"{type(err).__name__}: {str(err)[:300]}"
            forwards.pop(name, None)
            continue
        setup_s[name] = round(time.perf_counter() - start, 1)
    checks = {name: fidelity(forward, reference, batches) for name, forward in forwards.items() if name != "eager"}
    runners = {name: batch_runner(tokenizer, forward) for name, forward in forwards.items()}
    if "ctx" in args.backends:
        runners["ctx"] = ctx_runner(load_pipeline("default"), True, BATCH_SIZE, POOLED)
    seconds = interleave(runners, texts, args.chunks, warmup=64)
    words = sum(len(doc) for doc in spacy.blank("en").pipe(texts))
    results = {
        name: {"words_per_s": round(words / secs, 1), "vs_eager": round(seconds["eager"] / secs, 3), "setup_s": setup_s.get(name), "fidelity": checks.get(name)}
        for name, secs in seconds.items()
    }
    emit(
        {
            "what": "words/s of compiled and exported forwards against eager torch, interleaved; fidelity against eager fp32",
            "date": time.strftime("%Y-%m-%d"),
            "machine": machine(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "sentences": len(texts),
            "words": words,
            "results": results,
            "skipped": skipped,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
