"""Encoder paths side by side against the wordpiece-sorted transformers loop,
interleaved chunk by chunk on UD EWT dev sentences (--paths; the first is the
reference). Peers: loop, loop-fp16, loop-bf16 (batches of 64, every hidden
state), the same loop through eager-attention, compile, jit, ort, ort-int8;
trf, trf-batch64 (spacy-transformers); st-tokens (sentence-transformers' token
embeddings); elmo (a lone ELMo encoder). ctx_encoder in nlp.pipe at a setting:
see CTX. Per path: words/s, the ratio to the reference (summed and per chunk),
the padding ratio and useful work as a share of the sgemm peak. --sgemm: only
the fp32 matmul peak at --model's linear shapes, MKL and oneDNN, best of 3.

    python bench/bench_speed.py --paths loop padded packed pooled unfused batch1000 auto \\
        --sentences 1200 --chunks 3 --rounds 4 --out bench/results/padding-fused-2threads.json
"""
import cProfile
import copy
import json
import pstats
import random
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path

import spacy
import torch
from thinc.api import Config

from harness import CONFIGS, EWT, MODEL, ROOT, child_result, emit, in_child, options, peak_rss_mib
from harness.peers import ctx_pipeline, hf_model, hidden_states, pipe, sorted_batches, spacy_transformers, stored_layers
from harness.peers import sentence_transformers_tokens, transformers_loop
from harness.plots import bars, figure
from harness.readers import load_docs, sentences
from harness.timing import BACKENDS, chunk_ratios, gflops, interleave, with_threads
from harness.training import pretrained_sizes
from spacy_ctx.models.pytorch import precision as P
from spacy_ctx.models.pytorch.cpu import int8_reduce_range
from spacy_ctx.models.pytorch.fidelity import layer_fidelity, within_bar, worst_layer
from spacy_ctx.models.transformer import find_hf_shim
from spacy_ctx.pipeline.encoder import pooled_batches
from spacy_ctx.pipeline.loading import find_encoder

K4 = {"store_layers": [4], "mix.layers": [4]}
# name: (precision, pipeline settings, nlp.pipe batch size, runtime switches)
CTX = {
    "padded": ("fp32", {}, 64, {"pack": False, "min_batch_words": 0}),
    "packed": ("fp32", {}, 64, {"min_batch_words": 0}),
    "pooled": ("fp32", {}, 64, {}),
    "unfused": ("fp32", {}, 64, {"fuse": False}),
    "batch1000": ("fp32", {}, 1000, {"min_batch_words": 0}),
    "default": ("fp32", {}, None, {}),
    "auto": ("auto", {}, 64, {}), "int8": ("int8", {}, 64, {}), "bf16": ("bf16", {}, 64, {}),
    "k4": ("fp32", K4, 64, {}), "int8-k4": ("int8", K4, 64, {}),
}
LOOPS = {"loop": None, "loop-fp16": torch.float16, "loop-bf16": torch.bfloat16}
FORWARDS = ("eager-attention", "compile", "jit", "ort", "ort-int8")
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
TRACE = ["an example sentence to trace", "and another"]


class HiddenStates(torch.nn.Module):
    """The model as a function of its three inputs to a tuple of every hidden state, as tracing and ONNX want."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                         output_hidden_states=True)
        return tuple(out.hidden_states)


def ort_forward(model, tokenizer, work: Path, int8: bool):
    """ONNX Runtime on the model's export: through ORT's BERT graph optimizer (fp32) or dynamically quantised (per
    channel, FFN down projections in fp32), which the session's own optimizer then fuses."""
    import onnxruntime
    from onnxruntime.transformers.optimizer import optimize_model

    raw, path = work / "model.onnx", work / ("int8.onnx" if int8 else "optimized.onnx")
    if not raw.exists():
        names = [f"hidden_{i}" for i in range(model.config.num_hidden_layers + 1)]
        example = sorted_batches(tokenizer, TRACE)[0]
        torch.onnx.export(HiddenStates(copy.deepcopy(model)).eval(), tuple(example[k] for k in INPUTS), str(raw),
                          input_names=list(INPUTS), output_names=names, opset_version=17, dynamo=False,
                          dynamic_axes={n: {0: "batch", 1: "sequence"} for n in [*INPUTS, *names]})
    if int8:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        down = [n.name for n in onnx.load(str(raw)).graph.node
                if n.op_type == "MatMul" and "/output/dense" in n.name and "attention" not in n.name]
        quantize_dynamic(str(raw), str(path), per_channel=True, weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul"], nodes_to_exclude=down)
    else:
        optimize_model(str(raw), model_type="bert", num_heads=model.config.num_attention_heads,
                       hidden_size=model.config.hidden_size).save_model_to_file(str(path))
    settings = onnxruntime.SessionOptions()
    settings.intra_op_num_threads = torch.get_num_threads()
    # ORT's threads spin after each run by default, taking the cores from whichever runner comes next.
    settings.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(str(path), settings, providers=["CPUExecutionProvider"])
    return lambda batch: [torch.from_numpy(h) for h in session.run(None, {k: batch[k].numpy() for k in INPUTS})]


class Paths:
    """Builds the paths by name, sharing the model and the pipelines."""

    def __init__(self, args):
        self.device, self.sync, self.elmo_weights = args.device, args.device == "cuda", args.elmo_weights
        self.name, self.st_batch = args.model, args.st_batch
        self.tokenizer, self.model = hf_model(self.name)
        self.model.to(self.device)
        self.pipelines, self.work = {}, Path(tempfile.mkdtemp())

    def nlp(self, precision="fp32", settings=None):
        key = (precision, json.dumps(settings or {}))
        if key not in self.pipelines:
            self.pipelines[key] = nlp = ctx_pipeline(precision, 0 if self.sync else -1, settings, self.name)
            nlp("warm up")  # "auto" chooses at load
        return self.pipelines[key]

    def forward(self, name):
        """A peer's forward of one batch to every hidden state."""
        if name in LOOPS:
            return hidden_states(self.model, self.device, LOOPS[name])
        if name == "eager-attention":
            return hidden_states(hf_model(self.name, attn_implementation="eager")[1])
        if name == "compile":
            return hidden_states(torch.compile(self.model, dynamic=True))
        if name.startswith("ort"):
            return ort_forward(self.model, self.tokenizer, self.work, int8=name == "ort-int8")
        example = tuple(sorted_batches(self.tokenizer, TRACE)[0][k] for k in INPUTS)  # jit
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(HiddenStates(hf_model(self.name, attn_implementation="eager")[1]), example, strict=False)
            module = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))

        def forward(batch):
            with torch.inference_mode():
                return module(*(batch[k] for k in INPUTS))

        return forward

    def runner(self, name, stored=None):
        if name == "elmo":  # a lone ELMo ctx_encoder of pretrain-elmo's weights
            block = dict(Config().from_disk(CONFIGS / "elmo_tagger.cfg", interpolate=False)["components"]["ctx_encoder"]["model"])
            block.update(weights=str(self.elmo_weights), **pretrained_sizes(self.elmo_weights))
            return pipe(self.nlp("fp32", {"model": block}), 64, stored=stored)
        if name == "st-tokens":
            return sentence_transformers_tokens(self.name, self.st_batch, self.device)
        if name.startswith("trf"):
            return pipe(spacy_transformers(self.sync, self.name), 64 if name == "trf-batch64" else None, synchronize=self.sync)
        if name in CTX:
            precision, settings, batch_size, switches = CTX[name]
            return pipe(self.nlp(precision, settings), batch_size, stored=stored, synchronize=self.sync,
                        **{"pack": True, "fuse": True, "min_batch_words": 4096, **switches})
        forward = self.forward(name)
        forward(sorted_batches(self.tokenizer, ["warm up", "and compile"])[0])
        return transformers_loop(self.tokenizer, forward, self.sync)

    def padding(self, name, chunks) -> float:
        """Padded / real wordpieces of a path's forward batches over the chunks."""
        if name.startswith("trf") or name == "elmo":
            return None
        if name in CTX and name != "padded":
            return 1.0  # the packed forward computes only the real ones, attention included
        if name == "padded":
            nlp = self.nlp()
            planner = find_hf_shim(find_encoder(nlp).model).planner
            masks = [b.attention_mask for c in chunks for docs in pooled_batches(map(nlp.make_doc, c), CTX[name][2], 0)
                     for b in planner(docs).batches]
            return round(sum(m.size for m in masks) / sum(int(m.sum()) for m in masks), 3)
        masks = [b["attention_mask"] for c in chunks
                 for b in sorted_batches(self.tokenizer, c, self.st_batch if name == "st-tokens" else 64)]
        return round(sum(m.numel() for m in masks) / sum(int(m.sum()) for m in masks), 3)

    def fidelity(self, name, texts):
        """Per layer (mean, 1st percentile) token cosine against fp32: a ctx path's stored layers against the pooled
        default's, a peer's hidden states on real wordpieces against the loop's."""
        if name in CTX:  # a runner called on nothing sets its path's switches on the shared pipelines
            self.runner("pooled")([])
            reference = stored_layers(self.nlp(), texts)
            self.runner(name)([])
            nlp = self.nlp(*CTX[name][:2])
            return layer_fidelity(reference[nlp("x")._.ctx_layer_ids], stored_layers(nlp, texts)), None
        return peer_fidelity(sorted_batches(self.tokenizer, texts), self.forward("loop"), self.forward(name))


def peer_fidelity(batches, reference, forward):
    """Two forwards' hidden states on the real wordpieces: (layer_fidelity, the largest absolute difference)."""
    real = lambda states, b: [h.float().cpu()[b["attention_mask"].bool()] for h in states]  # noqa: E731
    pairs = [(real(reference(b), b), real(forward(b), b)) for b in batches]
    ref, got = ([torch.cat(layer) for layer in zip(*side)] for side in zip(*pairs))
    return layer_fidelity(ref, got), max(float((a - b).abs().max()) for a, b in zip(ref, got))


def texts_for(args):
    """EWT dev sentences or, where the corpora are not at hand (a lent GPU machine), corpus/'s sentences in
    shuffled pairs: (texts, words of each)."""
    path = args.data / EWT.format(split="dev")
    if path.exists():
        return sentences(path, args.sentences)
    pool, rng = [doc.text for f in sorted((ROOT / "corpus").glob("*.spacy")) for doc in load_docs(f)], random.Random(0)
    texts = [f"{rng.choice(pool)} {rng.choice(pool)}" for _ in range(args.sentences)]
    return texts, [len(doc) for doc in spacy.blank("en").tokenizer.pipe(texts)]


def graded(fidelity, max_abs_diff=None):
    mean, low = worst_layer(fidelity)
    return {"max_abs_diff": max_abs_diff, "per_layer_mean_p1": [[round(m, 6), round(p, 6)] for m, p in fidelity],
            "worst_mean": round(mean, 6), "worst_p1": round(low, 6), "within_bar": within_bar(fidelity)}


def ablation(args, texts):
    """The fidelity of int8 variants that each change one design choice of `convert`."""
    tokenizer, fp32 = hf_model(args.model)
    calibration = P.calibration_batches(tokenizer)
    train = sentences(args.data / EWT.format(split="train"), 256)[0][::2]
    int8 = lambda **kw: P.convert(copy.deepcopy(fp32), "int8", kw.pop("calibration", calibration), **kw)  # noqa: E731
    reduce_range = not int8_reduce_range()
    variants = {
        "int8": int8, "int8-no-smoothing": lambda: int8(alpha=0.0), "int8-alpha-0.7": lambda: int8(alpha=0.7),
        "int8-ffn-down-in-int8": lambda: int8(skip=["pooler.dense"]),
        f"int8-reduce_range-{reduce_range}": lambda: int8(reduce_range=reduce_range),
        "int8-calibrated-on-128-ewt-train": lambda: int8(calibration=P.calibration_batches(tokenizer, train)),
        "quantize_dynamic-per-channel-weights": lambda: torch.ao.quantization.quantize_dynamic(
            copy.deepcopy(fp32), {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig}),
    }
    torch.set_num_threads(1)
    batches, reference = sorted_batches(tokenizer, texts), hidden_states(fp32)
    fidelity = {name: graded(*peer_fidelity(batches, reference, hidden_states(make()))) for name, make in variants.items()}
    return {"what": "per-layer fidelity of int8 variants against fp32", "sentences": len(texts), "fidelity": fidelity}


GROUPS = {
    "matmul": ("addmm", "aten::mm", "bmm", "aten::matmul", "aten::linear", "mkldnn", "baddbmm"),
    "attention": ("scaled_dot_product", "softmax", "flash_attention"),
    "elementwise": ("gelu", "layer_norm", "aten::add", "aten::mul", "aten::div", "aten::sub", "tanh", "dropout",
                    "aten::where", "aten::sum", "aten::mean", "aten::maximum", "aten::fill_", "aten::clamp"),
    "copies_and_indexing": ("index", "copy", "aten::cat", "aten::stack", "contiguous", "clone", "aten::to", "_to_copy",
                            "zeros", "empty", "scatter", "gather", "embedding", "split", "aten::narrow"),
}
OWNERS = (("torch (ops and their Python)", ("/torch/",)), ("numpy", ("/numpy/",)),
          ("spacy and thinc", ("/spacy/", "/thinc/")))


def profile(run, texts, words: int):
    """Self CPU time of each torch op over `run(texts)` (torch.profiler, on the calling thread), by group, what runs
    outside torch ops, and cProfile's split of that by spacy_ctx module."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        run(texts)
        wall = time.perf_counter() - start
    groups, ops = defaultdict(float), {e.key: e.self_cpu_time_total / 1e6 for e in prof.key_averages()}
    for key, seconds in ops.items():
        groups[next((g for g, keys in GROUPS.items() if any(k in key for k in keys)), "other_torch")] += seconds
    table = {g: {"s": round(s, 3), "share": round(s / wall, 3)} for g, s in sorted(groups.items(), key=lambda kv: -kv[1])}
    outside = wall - sum(groups.values())
    table["outside_torch_ops"] = {"s": round(outside, 3), "share": round(outside / wall, 3)}
    profiler = cProfile.Profile()
    profiler.runcall(run, texts)
    split = defaultdict(float)
    for (path, _, name), (_, _, tottime, _, _) in pstats.Stats(profiler).stats.items():
        owner = next((o for o, keys in OWNERS if any(k in path for k in keys)), "other")
        split["spacy_ctx/" + path.split("/spacy_ctx/")[1] if "/spacy_ctx/" in path else owner] += tottime
    return {"wall_s": round(wall, 3), "words_per_s": round(words / wall), "groups": table,
            "top_ops_s": {k: round(v, 3) for k, v in sorted(ops.items(), key=lambda kv: -kv[1])[:12]},
            "cprofile_tottime_s": {k: round(v, 3) for k, v in sorted(split.items(), key=lambda kv: -kv[1])}}


def host_copies(nlp, texts) -> int:
    """Device-to-host copies during one nlp.pipe batch of 64 docs: pooling and
    the mix stay on the device, so the count should not grow with the layers."""
    activities = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    with torch.profiler.profile(activities=activities) as prof:
        pipe(nlp, 64, synchronize=True)(texts[:64])
    return sum("DtoH" in e.name or "Device -> Host" in e.name for e in prof.events())


def sgemm(threads, model: str):
    """The fp32 matmul peak at every linear shape of the model's layer, per backend and thread count."""
    config = hf_model(model)[1].config
    width, inner = config.hidden_size, config.intermediate_size
    shapes = {"attention_projection": (width, width), "ffn_up": (width, inner), "ffn_down": (inner, width)}
    report = {"what": "fp32 GFLOP/s of torch.mm (MKL) and oneDNN's linear at the encoder's linear shapes, best of 3 rounds",
              "model": model, "width": width, "inner": inner, "by_threads": {}}
    for n in (n or torch.get_num_threads() for n in threads):
        torch.set_num_threads(n)
        rates = {backend: {f"{name}_rows{rows}": round(gflops(rows, k, m, 10, backend=backend), 1)
                           for name, (k, m) in shapes.items() for rows in (512, 2048, 4096, 16384)} for backend in BACKENDS}
        report["by_threads"][str(n)] = {"peak_gflops": max(max(r.values()) for r in rates.values()),
                                        **{f"{b}_peak_gflops": max(r.values()) for b, r in rates.items()}, "shapes": rates}
    return report


def main(argv=None):
    parser = options(__doc__, threads=None, model=True, child=True)
    parser.add_argument("--paths", nargs="+", default=["loop", "padded", "packed", "pooled", "unfused", "batch1000"],
                        choices=[*LOOPS, *FORWARDS, "trf", "trf-batch64", "st-tokens", *CTX, "elmo"])
    parser.add_argument("--st-batch", type=int, default=64, help="st-tokens' encode() batch size")
    parser.add_argument("--elmo-weights", type=Path, help="the elmo path's weights (pretrain-elmo's output)")
    parser.add_argument("--sentences", type=int, default=1000, help="first N EWT dev sentences")
    parser.add_argument("--chunks", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=1, help="times over the sentences, chunk by chunk")
    parser.add_argument("--threads", type=int, nargs="+", default=[0], help="torch threads; several: every path at each")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--fidelity", type=int, default=0, metavar="N", help="grade each path on the first N sentences")
    parser.add_argument("--rss", nargs="+", default=[], metavar="PATH", help="peak RSS of these paths, each alone")
    parser.add_argument("--profile", action="store_true", help="profile the first ctx path at each --threads")
    parser.add_argument("--ablation", action="store_true", help="only the fidelity of the int8 design choices")
    parser.add_argument("--sgemm", action="store_true", help="only the fp32 matmul peak at each --threads")
    parser.add_argument("--plot", type=Path, metavar="PNG", help="only draw --out's words/s into PNG")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    if args.plot:
        report = json.loads(args.out.read_text())
        with figure(args.plot, size=(6.4, 3.4)) as (ax,):
            bars(ax, {name: row["words_per_s"] for name, row in report["results"].items()}, "words / s",
                 f"{report.get('model', MODEL)}, {report['sentences']} EWT sentences ({report['date']}, {report['machine']})")
        return
    if args.sgemm:
        return emit(sgemm(args.threads, args.model), args.out)
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("bench_speed.py: no CUDA device here (torch.cuda.is_available() is False)")
    texts, words = texts_for(args)
    if args.child:
        Paths(args).runner(args.child)(texts)
        return child_result({"peak_rss_mib": round(peak_rss_mib())})
    if args.ablation:
        return emit(ablation(args, texts), args.out)
    paths, threads = Paths(args), [n or torch.get_num_threads() for n in args.threads]
    name_of = lambda path, n: path if len(threads) == 1 else f"{path}@{n}"  # noqa: E731
    report = {"model": args.model, "sentences": len(texts), "words": sum(words) * args.rounds, "rounds": args.rounds,
              "threads": threads, "device": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu", "results": {}}
    if args.profile:
        first = next(p for p in args.paths if p in CTX)
        report["runs"] = {}
        for n in threads:
            torch.set_num_threads(n)
            report["runs"][str(n)] = profile(paths.runner(first), texts, sum(words))
        return emit({"what": f"torch.profiler self CPU time of the {first} path, by kind of op", **report}, args.out)
    runners, setup_s, skipped, stored = {}, {}, {}, {p: {"bytes": 0, "tokens": 0} for p in args.paths}
    for path in args.paths:
        start = time.perf_counter()
        try:
            run = paths.runner(path, stored[path])
        except Exception as err:  # a peer this machine cannot run is reported, not fatal
            skipped[path] = f"{type(err).__name__}: {str(err)[:300]}"
            continue
        setup_s[path] = round(time.perf_counter() - start, 1)
        runners.update((name_of(path, n), with_threads(n, run)) for n in threads)
    samples = {}
    seconds = interleave(runners, texts, args.chunks, warmup=64, rounds=args.rounds, samples=samples)
    size = -(-len(texts) // args.chunks)
    chunks = [texts[k : k + size] for k in range(0, len(texts), size)]
    pieces = sum(len(ids) for ids in paths.tokenizer(texts)["input_ids"]) * args.rounds  # special tokens included
    config, width = paths.model.config, paths.model.config.hidden_size
    # Multiply-adds x 2 of one real wordpiece's linears in every layer.
    per_piece = 2 * config.num_hidden_layers * (4 * width * width + 2 * width * config.intermediate_size)
    gemm = {}
    for n in threads if args.device == "cpu" else ():  # the feed-forward's shape, the faster backend
        torch.set_num_threads(n)
        gemm[n] = max(gflops(4096, width, config.intermediate_size, 20, 3, b) for b in BACKENDS)
    for path in setup_s:
        graded_path = graded(*paths.fidelity(path, texts[: args.fidelity])) if args.fidelity and path != args.paths[0] \
            and not path.startswith(("trf", "elmo", "st-")) else None
        for n in threads:
            name, reference = name_of(path, n), name_of(args.paths[0], n)
            row = {"words_per_s": round(report["words"] / seconds[name], 1),
                   "vs_transformers_loop": round(seconds[reference] / seconds[name], 3),
                   "vs_loop_per_chunk": chunk_ratios(samples[reference], samples[name]),
                   "padding_ratio": paths.padding(path, chunks), "setup_s": setup_s[path]}
            if gemm:
                useful = pieces * per_piece / seconds[name] / 1e9
                row.update(useful_gflops=round(useful, 1), share_of_sgemm=round(useful / gemm[n], 3))
            if stored[path]["tokens"]:
                row["stored_bytes_per_token"] = round(stored[path]["bytes"] / stored[path]["tokens"], 1)
            if graded_path:
                row["fidelity"] = graded_path
            report["results"][name] = row
        if path in args.rss:  # the same texts and model, alone in a process
            row.update(in_child(__file__, [*(sys.argv[1:] if argv is None else argv), "--child", path]))
    auto = [nlp for (precision, _), nlp in paths.pipelines.items() if precision == "auto"]
    report["auto_choice"] = find_hf_shim(find_encoder(auto[0]).model).choice.to_dict() if auto else None
    report["sgemm_gflops"] = {str(n): round(g, 1) for n, g in gemm.items()}
    if args.device == "cuda":
        report["ctx_device_to_host_copies_per_batch_of_64"] = {
            "7_layers": host_copies(paths.nlp(), texts), "1_layer": host_copies(paths.nlp("fp32", {"store_layers": [6]}), texts)}
    report["skipped"] = skipped
    return emit({"what": "words/s of encoder paths, interleaved, against the transformers loop", **report}, args.out)


if __name__ == "__main__":
    main()
