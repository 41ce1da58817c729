"""Memory of one long doc: peak RSS above the loaded pipeline, and how much of
it is transient (not the stored outputs), per storage dtype and path.

The doc: the first 200,000 characters of UD English EWT train's sentences
joined by spaces (about 38k spaCy tokens). Each row runs in a child process
of its own (peak RSS is per process): build the default ctx_encoder pipeline
with the given `store_dtype` (and `max_batch_items`), encode one short
sentence, read the RSS, then encode the long doc and read the peak.

  pipe          nlp(text): the encoder computes only the stored and mixed
                layers and pools each window batch straight into arrays of
                store_dtype (every layer here, as by default);
  predict+set   encoder.predict (float32, every layer) then set_annotations:
                what listeners and tools read, kept for comparison.

transient = peak - RSS of the loaded pipeline - bytes of doc._.ctx_layers and
doc.tensor. Prints one JSON object.

    python bench/bench_memory.py [--data ../shared/data] [--out bench/results/memory.json]

To measure an earlier version of spacy-ctx the same way, put its checkout
first on the path and name an architecture it has:

    PYTHONPATH=/path/to/old/checkout python bench/bench_memory.py --paths pipe \
        --arch spacy_ctx.TransformerEncoder.v1 --batch-items 2048 --out bench/results/memory-before.json
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from _report import emit  # noqa: E402  (bench/ is on sys.path when run as a script)

ROOT = Path(__file__).resolve().parent.parent
N_CHARS = 200_000


def long_text(data: Path) -> str:
    path = data / "ud_english_ewt" / "en_ewt-ud-train.conllu"
    sentences = []
    n = 0
    with path.open(encoding="utf8") as file_:
        for line in file_:
            if line.startswith("# text = "):
                sentences.append(line[len("# text = "):].rstrip("\n"))
                n += len(sentences[-1]) + 1
                if n > N_CHARS:
                    break
    return " ".join(sentences)[:N_CHARS]


def rss_mb() -> float:
    with open("/proc/self/statm") as file_:
        return int(file_.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def child(data: Path, dtype: str, path: str, batch_items: int, arch: str) -> dict:
    import spacy

    text = long_text(data)
    nlp = spacy.blank("en")
    model = {"@architectures": arch, "max_batch_items": batch_items}
    nlp.add_pipe("ctx_encoder", config={"store_dtype": dtype, "model": model})
    nlp.initialize()
    nlp("A short sentence to load everything.")
    encoder = nlp.get_pipe("ctx_encoder")
    doc = nlp.make_doc(text)
    loaded = max(rss_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6)
    start = time.perf_counter()
    if path == "pipe":
        doc = encoder(doc)
    else:
        encoder.set_annotations([doc], encoder.predict([doc]))
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6
    stored = (doc._.ctx_layers.nbytes + doc.tensor.nbytes) / 1e6
    return {
        "store_dtype": dtype,
        "path": path,
        "max_batch_items": batch_items,
        "tokens": len(doc),
        "loaded_mb": round(loaded),
        "peak_above_loaded_mb": round(peak - loaded),
        "stored_mb": round(stored),
        "transient_mb": round(peak - loaded - stored),
        "seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--batch-items", type=int, nargs="+", default=[2048, 512])
    parser.add_argument("--paths", nargs="+", default=["pipe", "predict+set"], choices=["pipe", "predict+set"])
    parser.add_argument("--arch", default="spacy_ctx.TransformerEncoder.v3")
    parser.add_argument("--child", nargs=3, metavar=("DTYPE", "PATH", "BATCH_ITEMS"))
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    if args.child:
        dtype, path, items = args.child
        print("RESULT " + json.dumps(child(args.data, dtype, path, int(items), args.arch)))
        return
    rows = []
    for items in args.batch_items:
        for dtype in ("float32", "float16"):
            for path in args.paths:
                out = subprocess.run(
                    [sys.executable, __file__, "--data", str(args.data), "--arch", args.arch, "--child", dtype, path, str(items)],
                    capture_output=True, text=True, check=True,
                ).stdout
                rows.append(json.loads(next(l for l in out.splitlines() if l.startswith("RESULT "))[7:]))
                print(rows[-1], file=sys.stderr, flush=True)
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{os.cpu_count()}-core shared CPU, load {os.getloadavg()[0]:.1f}",
        "chars": N_CHARS,
        "arch": args.arch,
        "spacy_ctx": __import__("spacy_ctx").__file__,
        "rows": rows,
        "goal_transient_below_150_mb": {
            f"{r['store_dtype']} {r['path']} {r['max_batch_items']}": r["transient_mb"] < 150 for r in rows if r["path"] == "pipe"
        },
    }
    emit(report, args.out)


if __name__ == "__main__":
    main()
