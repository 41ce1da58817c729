"""Inference speed of whole NER pipelines on CoNLL-2003 valid, interleaved:
--ctx-config (default configs/ner.cfg; ctx variants: precision, batch,
storage), spacy-transformers on the same encoder (trf) and spaCy's CNN (cnn),
each initialised on corpus/ner-train.spacy. --same-head adds the ctx encoder
under trf's very NER head, to see the encoders apart. --model sets the
encoder (and a base-size config's paths.encoder).

    python bench/bench_pipelines.py --threads 1 --batch-size 64 --sentences 1200 --chunks 6 \\
        --ctx-variants ctx ctx-auto --same-head --out bench/results/pipelines-ner-1thread-batch64.json
"""
import os
from pathlib import Path

from spacy.util import load_config

from harness import CONFIGS, ROOT, TASKS, emit, machine, options, parse
from harness.peers import pipe
from harness.readers import sentences
from harness.timing import chunk_ratios, interleave
from harness.training import initialized, spacy_cnn_config
from spacy_ctx.models.hf_loading import resolve_model_dir

TRAIN = ROOT / "corpus" / "ner-train.spacy"
# name -> (precision, max_batch_items (0 = the config's), store_dtype)
CTX_VARIANTS = {
    "ctx": ("fp32", 0, "float32"), "ctx-int8": ("int8", 0, "float32"), "ctx-int8-b512": ("int8", 512, "float32"),
    "ctx-int8-b512-f16": ("int8", 512, "float16"), "ctx-auto": ("auto", 0, "float32"),
}
LISTENER_TOP = {"@architectures": "spacy_ctx.CtxListener.v1", "upstream": "ctx_encoder", "grad_factor": 0.0, "layers": [-1],
                "initial_weights": None, "gamma": 1.0, "layer_norm": False, "mix_dropout": 0.0, "projection": None}


def build(config):
    """A pipeline from a config, initialised on the NER sample in corpus/."""
    config["paths"]["train"] = config["paths"]["dev"] = str(TRAIN)
    return initialized(config, TRAIN)


def ctx_config(args, precision: str = "fp32", max_batch_items: int = 0, store_dtype: str = "float32"):
    """--ctx-config on --model at a precision, batch and storage."""
    config = load_config(args.ctx_config, overrides={"paths.encoder": args.model})
    encoder = config["components"]["ctx_encoder"]
    encoder["store_dtype"] = store_dtype
    encoder["model"].update(name=args.model, precision=precision)
    if max_batch_items:
        encoder["model"]["max_batch_items"] = max_batch_items
    return config


def trf_config(model: str):
    config = spacy_cnn_config(["ner"], gpu=True)
    config["components"]["transformer"]["model"]["name"] = str(resolve_model_dir(model))
    config["system"]["gpu_allocator"] = None
    return config


def main(argv=None):
    parser = options(__doc__, model=True)
    parser.add_argument("--ctx-config", type=Path, default=CONFIGS / "ner.cfg", help="the ctx pipeline's config")
    parser.add_argument("--sentences", type=int, default=0, help="first N valid sentences (0 = all)")
    parser.add_argument("--chunks", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64, help="nlp.pipe batch size for every pipeline")
    parser.add_argument("--ctx-variants", nargs="+", default=list(CTX_VARIANTS), choices=list(CTX_VARIANTS))
    parser.add_argument("--same-head", action="store_true", help="add ctx-samehead (see above)")
    args = parse(parser, argv)
    texts, words = sentences(args.data / TASKS["ner"]["dev"], args.sentences or None)
    pipelines = {name: build(ctx_config(args, *CTX_VARIANTS[name])) for name in args.ctx_variants}
    if args.same_head:
        config = ctx_config(args)
        config["components"]["ner"]["model"] = {**trf_config(args.model)["components"]["ner"]["model"], "tok2vec": LISTENER_TOP}
        pipelines["ctx-samehead"] = build(config)
    pipelines.update(trf=build(trf_config(args.model)), cnn=build(spacy_cnn_config(["ner"])))
    # doc.ents: the annotation is what is paid for.
    runners = {name: pipe(nlp, args.batch_size, lambda doc: doc.ents) for name, nlp in pipelines.items()}
    samples = {}
    seconds = interleave(runners, texts, args.chunks, samples=samples)
    words_per_s = {name: sum(words) / s for name, s in seconds.items()}
    ctx = [name for name in pipelines if name.startswith("ctx")]
    return emit({
        "machine": machine(f"load {os.getloadavg()[0]:.1f}"), "sentences": len(texts), "words": sum(words),
        "batch_size": args.batch_size, "torch_threads": args.threads or "default", "model": args.model,
        "ctx_model": f"{args.ctx_config}, initialised on corpus/",
        "words_per_s": {name: round(v, 1) for name, v in words_per_s.items()},
        "ratio_over_trf": {name: round(words_per_s[name] / words_per_s["trf"], 3) for name in ctx},
        "ratio_over_trf_per_chunk": {name: chunk_ratios(samples["trf"], samples[name]) for name in ctx},
        "ratio_over_cnn": {name: round(words_per_s[name] / words_per_s["cnn"], 3) for name in ctx},
    }, args.out)


if __name__ == "__main__":
    main()
