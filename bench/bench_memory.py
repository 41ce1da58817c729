"""Memory of one long doc (200,000 characters of EWT train): peak RSS above the
loaded pipeline and its transient part (not stored on the doc), per
store_dtype, max_batch_items and path (pipe, or predict+set), each in a
process of its own, on --model. An earlier version: put its checkout first on
PYTHONPATH and name an architecture it has (--arch).

    python bench/bench_memory.py --batch-items 2048 512 --out bench/results/memory.json
"""
import argparse
import os
import sys
import time

from harness import EWT, child_result, emit, in_child, log, machine, options, parse, peak_rss_mib
from harness.readers import sentences

N_CHARS = 200_000


def child(text: str, dtype: str, path: str, batch_items: int, arch: str, model: str) -> dict:
    import spacy

    def rss_mb() -> float:
        with open("/proc/self/statm") as file_:
            return int(file_.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6

    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config={"store_dtype": dtype, "model": {"@architectures": arch, "name": model,
                                                                        "max_batch_items": batch_items}})
    nlp.initialize()
    nlp("A short sentence to load everything.")
    encoder, doc = nlp.get_pipe("ctx_encoder"), nlp.make_doc(text)
    loaded = max(rss_mb(), peak_rss_mib() * 1.048576)
    start = time.perf_counter()
    if path == "pipe":
        doc = encoder(doc)
    else:
        encoder.set_annotations([doc], encoder.predict([doc]))
    seconds, peak = time.perf_counter() - start, peak_rss_mib() * 1.048576
    stored = (doc._.ctx_layers.nbytes + doc.tensor.nbytes) / 1e6
    return {"store_dtype": dtype, "path": path, "max_batch_items": batch_items, "tokens": len(doc), "loaded_mb": round(loaded),
            "peak_above_loaded_mb": round(peak - loaded), "stored_mb": round(stored),
            "transient_mb": round(peak - loaded - stored), "seconds": round(seconds, 1)}


def main() -> None:
    parser = options(__doc__, threads=None, model=True)
    parser.add_argument("--batch-items", type=int, nargs="+", default=[2048, 512])
    parser.add_argument("--paths", nargs="+", default=["pipe", "predict+set"], choices=["pipe", "predict+set"])
    parser.add_argument("--arch", default="spacy_ctx.TransformerEncoder.v1")
    parser.add_argument("--child", nargs=3, metavar=("DTYPE", "PATH", "BATCH_ITEMS"), help=argparse.SUPPRESS)
    args = parse(parser)
    if args.child:
        dtype, path, items = args.child
        return child_result(child(sys.stdin.read(), dtype, path, int(items), args.arch, args.model))
    text = " ".join(sentences(args.data / EWT.format(split="train"), limit=3000)[0])[:N_CHARS]
    rows = []
    for items in args.batch_items:
        for dtype in ("float32", "float16"):
            for path in args.paths:
                rows.append(in_child(__file__, ["--arch", args.arch, "--model", args.model, "--child", dtype, path, str(items)], text))
                log(str(rows[-1]))
    emit({"machine": machine(f"load {os.getloadavg()[0]:.1f}"), "chars": N_CHARS, "arch": args.arch, "model": args.model,
          "spacy_ctx": __import__("spacy_ctx").__file__, "rows": rows,
          "goal_transient_below_150_mb": {f"{r['store_dtype']} {r['path']} {r['max_batch_items']}": r["transient_mb"] < 150
                                          for r in rows if r["path"] == "pipe"}}, args.out)


if __name__ == "__main__":
    main()
