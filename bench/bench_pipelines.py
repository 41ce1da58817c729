"""Inference speed of whole NER pipelines, side by side in one run, on the
same CoNLL-2003 valid sentences: configs/ner.cfg (ctx; and with an int8
encoder, 512-wordpiece batches, float16 storage), spacy-transformers on the
same MiniLM (`spacy init config -G`: trf) and spaCy's CNN pipeline (cnn),
each built from its config and initialised on corpus/ner-train.spacy (the
cost of a forward pass does not depend on the weights), or --ctx-model, a
trained one. --same-head adds ctx-samehead: the ctx_encoder of ner.cfg with
the very NER head of the trf pipeline (spaCy's transition-based parser on
the listener's top layer: no hash embeddings, no BiLSTM), so the encoders'
difference is seen apart from the heads'. Interleaved chunk by chunk, so the
ratios hold.

    python bench/bench_pipelines.py --threads 1 --batch-size 256 --sentences 1200 --chunks 6 \
        --out bench/results/pipelines-ner-1thread.json
    python bench/bench_pipelines.py --threads 2 --batch-size 256 --sentences 1200 --chunks 6 \
        --out bench/results/pipelines-ner-2threads.json
"""
import argparse
import os
import time
from pathlib import Path
from typing import Dict

import spacy
from spacy.cli.init_config import init_config
from spacy.training import Corpus
from spacy.util import load_config, load_model_from_config

from spacy_ctx.models.hf_loading import resolve_model_dir

from _common import CONFIGS, DATA, MODEL, ROOT, TASKS, chunk_ratios, emit, interleave, pipe_runner, sentences

TRAIN = ROOT / "corpus" / "ner-train.spacy"
# The ctx variants: name -> (precision, max_batch_items (0 = the config's), store_dtype).
CTX_VARIANTS = {
    "ctx": ("fp32", 0, "float32"),
    "ctx-int8": ("int8", 0, "float32"),
    "ctx-int8-b512": ("int8", 512, "float32"),
    "ctx-int8-b512-f16": ("int8", 512, "float16"),
    "ctx-auto": ("auto", 0, "float32"),
}


def build(config) -> spacy.Language:
    """A pipeline from a config, initialised on the NER sample in corpus/."""
    config["paths"]["train"] = str(TRAIN)
    config["paths"]["dev"] = str(TRAIN)
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    examples = list(Corpus(str(TRAIN))(nlp))
    nlp.initialize(lambda: examples)
    return nlp


def ctx_pipeline(precision: str, max_batch_items: int, store_dtype: str) -> spacy.Language:
    config = load_config(CONFIGS / "ner.cfg")
    config["components"]["ctx_encoder"]["store_dtype"] = store_dtype
    model = config["components"]["ctx_encoder"]["model"]
    model["precision"] = precision
    if max_batch_items:
        model["max_batch_items"] = max_batch_items
    return build(config)


def trf_config():
    config = init_config(lang="en", pipeline=["ner"], optimize="efficiency", gpu=True)
    config["components"]["transformer"]["model"]["name"] = str(resolve_model_dir(MODEL))
    config["system"]["gpu_allocator"] = None
    return config


def trf_pipeline() -> spacy.Language:
    return build(trf_config())


def ctx_same_head_pipeline() -> spacy.Language:
    """ner.cfg's ctx_encoder under the trf pipeline's NER head, reading the
    top layer as spacy-transformers' listener does."""
    config = load_config(CONFIGS / "ner.cfg")
    head = dict(trf_config()["components"]["ner"]["model"])
    head["tok2vec"] = {
        "@architectures": "spacy_ctx.CtxListener.v1", "upstream": "ctx_encoder", "grad_factor": 0.0,
        "layers": [-1], "initial_weights": None, "gamma": 1.0, "layer_norm": False, "mix_dropout": 0.0,
        "projection": None,
    }
    config["components"]["ner"]["model"] = head
    return build(config)


def cnn_pipeline() -> spacy.Language:
    return build(init_config(lang="en", pipeline=["ner"], optimize="efficiency", gpu=False))


def main(argv=None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--sentences", type=int, default=0, help="first N valid sentences (0 = all)")
    parser.add_argument("--chunks", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64, help="nlp.pipe batch size for every pipeline")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--ctx-model", type=Path, default=None, help="a trained ctx NER pipeline to time instead")
    parser.add_argument("--ctx-variants", nargs="+", default=list(CTX_VARIANTS), choices=list(CTX_VARIANTS))
    parser.add_argument("--same-head", action="store_true", help="add ctx-samehead (see the docstring)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    texts, words = sentences(args.data / TASKS["ner"]["dev"], args.sentences or None)
    if args.ctx_model:
        pipelines = {"ctx": spacy.load(args.ctx_model)}
    else:
        pipelines = {name: ctx_pipeline(*CTX_VARIANTS[name]) for name in args.ctx_variants}
    if args.same_head:
        pipelines["ctx-samehead"] = ctx_same_head_pipeline()
    pipelines.update(trf=trf_pipeline(), cnn=cnn_pipeline())
    # doc.ents: the annotation is what is paid for.
    runners = {name: pipe_runner(nlp, args.batch_size, lambda doc: doc.ents) for name, nlp in pipelines.items()}
    samples = {}
    seconds = interleave(runners, texts, args.chunks, samples=samples)
    n_words = sum(words)
    words_per_s = {name: n_words / s for name, s in seconds.items()}
    report = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "load_average": round(os.getloadavg()[0], 1),
        "sentences": len(texts),
        "words": n_words,
        "batch_size": args.batch_size,
        "torch_threads": args.threads or "default",
        "ctx_model": str(args.ctx_model) if args.ctx_model else "configs/ner.cfg, initialised on corpus/",
        "words_per_s": {name: round(v, 1) for name, v in words_per_s.items()},
        "ratio_over_trf": {
            name: round(v / words_per_s["trf"], 3) for name, v in words_per_s.items() if name.startswith("ctx")
        },
        # trf's time over each ctx pipeline's, chunk by chunk.
        "ratio_over_trf_per_chunk": {
            name: chunk_ratios(samples["trf"], samples[name]) for name in pipelines if name.startswith("ctx")
        },
        "ratio_over_cnn": {
            name: round(v / words_per_s["cnn"], 3) for name, v in words_per_s.items() if name.startswith("ctx")
        },
    }
    return emit(report, args.out)


if __name__ == "__main__":
    main()
