"""On a GPU: ctx_encoder against raw transformers in fp16/bf16 and against
spacy-transformers, all on the device, interleaved in one run.

    python bench/bench_gpu.py --sentences 2000 --chunks 6 --out bench/results/gpu.json

Words per second on UD EWT dev sentences (or, where ../shared/data is not on
the machine, the hand-written sentences of corpus/ repeated in shuffled
pairs): (a) raw transformers, sentences sorted by wordpiece count, batches
of 64, output_hidden_states, in fp32, fp16 (autocast) and bf16 (autocast);
(b) ctx_encoder storing every layer, in fp32 and with precision "bf16", at
batch 64 and spaCy's default 1,000; (c) spacy-transformers' transformer
component at batch 64 and at its default, when it is installed (a peer that
fails to build is reported with its error, not fatal). It also counts the
device-to-host copies of one ctx_encoder batch with torch.profiler, storing
all 7 layers and storing one: pooling and the mix stay on the device, so
the count should not grow with the number of layers. And it checks bf16
against fp32 on the device: per stored layer, the mean and 1st percentile
of token cosines over the first 64 docs (the fidelity bar: 0.999 / 0.99).
Needs a CUDA build of torch and cupy (spacy[cuda12x]); exits with code 2
and a message where no GPU is at hand.
"""
import argparse
import random
import sys
import time
from pathlib import Path

import torch

from _common import DATA, EWT, MODEL, ROOT, emit, hf_model, interleave, machine, sentences

BATCH_SIZE = 64


def texts_for(args):
    path = args.data / EWT.format(split="dev")
    if path.exists():
        return sentences(path, args.sentences)[0], str(path)
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    pool = [doc.text for f in sorted((ROOT / "corpus").glob("*.spacy")) for doc in DocBin().from_disk(f).get_docs(nlp.vocab)]
    rng = random.Random(0)
    return [f"{rng.choice(pool)} {rng.choice(pool)}" for _ in range(args.sentences)], "corpus/*.spacy, shuffled pairs"


def raw_runner(dtype):
    tokenizer, model = hf_model()
    model = model.cuda().eval()

    def run(texts):
        order = sorted(range(len(texts)), key=lambda i: len(tokenizer(texts[i])["input_ids"]))
        for k in range(0, len(order), BATCH_SIZE):
            enc = tokenizer([texts[i] for i in order[k : k + BATCH_SIZE]], padding=True, return_tensors="pt").to("cuda")
            with torch.no_grad(), torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
                model(**enc, output_hidden_states=True)
        torch.cuda.synchronize()

    return run


def ctx_runner(precision, batch_size, **settings):
    from spacy_ctx.pipeline.loading import load_pipeline

    overrides = {"components.ctx_encoder.model.precision": precision}
    overrides.update({f"components.ctx_encoder.{key}": value for key, value in settings.items()})
    nlp = load_pipeline("default", gpu_id=0, overrides=overrides)

    def run(texts):
        for doc in nlp.pipe(texts, batch_size=batch_size):
            pass
        torch.cuda.synchronize()

    return run, nlp


def spacy_transformers_runner(batch_size=None):
    import spacy
    import spacy_transformers  # noqa: F401

    from spacy_ctx.models.hf_loading import resolve_model_dir

    spacy.require_gpu(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("transformer", config={"model": {
        "@architectures": "spacy-transformers.TransformerModel.v3",
        "name": str(resolve_model_dir(MODEL)),
        "tokenizer_config": {"use_fast": True},
    }})
    nlp.initialize()

    def run(texts):
        for doc in nlp.pipe(texts, batch_size=batch_size):
            pass
        torch.cuda.synchronize()

    return run


def layer_fidelity(reference, other, texts):
    """Per stored layer, (mean, 1st percentile) of the token cosines of
    `other`'s layers against `reference`'s, computed on the device."""
    docs = [(a, b) for a, b in zip(reference.pipe(texts[:BATCH_SIZE]), other.pipe(texts[:BATCH_SIZE]))]
    left = torch.cat([torch.as_tensor(a._.ctx_layers, device="cuda").float() for a, _ in docs], dim=1)
    right = torch.cat([torch.as_tensor(b._.ctx_layers, device="cuda").float() for _, b in docs], dim=1)
    cosines = torch.nn.functional.cosine_similarity(left, right, dim=-1)  # [layers, tokens]
    return [[round(float(c.mean()), 5), round(float(torch.quantile(c, 0.01)), 5)] for c in cosines]


def host_copies(nlp, texts):
    """Device-to-host copies during one nlp.pipe batch of 64 docs."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]) as prof:
        for doc in nlp.pipe(texts[:BATCH_SIZE], batch_size=BATCH_SIZE):
            pass
        torch.cuda.synchronize()
    names = [e.name for e in prof.events()]
    return sum("DtoH" in n or "Device -> Host" in n for n in names)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--chunks", type=int, default=6)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("bench_gpu.py: no CUDA device here (torch.cuda.is_available() is False)", file=sys.stderr)
        sys.exit(2)
    texts, source = texts_for(args)
    runners = {f"raw_{name}": raw_runner(dtype) for name, dtype in
               (("fp32", None), ("fp16", torch.float16), ("bf16", torch.bfloat16))}
    ctx_fp32, nlp = ctx_runner("fp32", BATCH_SIZE)
    runners["ctx_fp32_batch64"] = ctx_fp32
    runners["ctx_fp32_batch1000"] = ctx_runner("fp32", 1000)[0]
    runners["ctx_bf16_batch64"], nlp_bf16 = ctx_runner("bf16", BATCH_SIZE)
    errors = {}
    for name, batch_size in (("spacy_transformers_batch64", BATCH_SIZE), ("spacy_transformers_default_batch", None)):
        try:
            runners[name] = spacy_transformers_runner(batch_size)
        except Exception as err:  # a missing or broken peer must not cost the GPU run
            errors[name] = f"{type(err).__name__}: {err}"
    seconds = interleave(runners, texts, args.chunks, warmup=64)
    top_only = ctx_runner("fp32", BATCH_SIZE, store_layers=[6])[1]  # the default mix reads layer 6 alone
    words = sum(len(doc) for doc in nlp.tokenizer.pipe(texts))
    reference = seconds["raw_fp16"]
    emit({
        "what": "words/s on the GPU, interleaved", "date": time.strftime("%Y-%m-%d"),
        "machine": machine(torch.cuda.get_device_name(0)), "texts": source, "sentences": len(texts), "words": words,
        "results": {name: {"words_per_s": round(words / s), "vs_raw_fp16": round(reference / s, 3)} for name, s in seconds.items()},
        "ctx_device_to_host_copies_per_batch_of_64": {"7_layers": host_copies(nlp, texts), "1_layer": host_copies(top_only, texts)},
        "bf16_vs_fp32_per_layer_mean_p1_cosine": layer_fidelity(nlp, nlp_bf16, texts),
        "errors": errors,
    }, args.out)


if __name__ == "__main__":
    main()
