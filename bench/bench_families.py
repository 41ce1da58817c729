"""One row per tokenizer/architecture family of spacy_ctx.testing (its tiny
random-weight model), plus the bundled MiniLM: wordpieces per UD word on all
of EWT dev, ctx_encoder words/s on the first --n dev sentences (interleaved
chunk by chunk, so `speed_vs_bert_cased` holds), and stored bytes per token.

    python bench/bench_families.py --n 2001 --chunks 20     # bench/results/families.json
"""
import argparse
import datetime
import sys
import tempfile
from pathlib import Path

import torch
from transformers import AutoTokenizer

from spacy_ctx.models.hf_loading import resolve_model_dir
from spacy_ctx.pipeline.loading import load_pipeline
from spacy_ctx.testing import FAMILIES, build_family, sentences as training_sentences

from _common import DATA, EWT, MODEL, RESULTS, emit, interleave, machine, pipe_runner, sentences


def wordpieces_per_word(model_dir, texts, words) -> float:
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    ids = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
    return sum(map(len, ids)) / sum(words)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--n", type=int, default=2001, help="dev sentences timed (2001: all)")
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--out", type=Path, default=RESULTS / "families.json")
    args = parser.parse_args()
    # Width-32 models: one intra-op thread each, as on a shared 2-core machine.
    torch.set_num_threads(1)
    texts, words = sentences(args.data / EWT.format(split="dev"))
    rows = {"minilm (bundled)": {"covers": "the bundled MiniLM-L6-H384: WordPiece, uncased, width 384, 6 layers"}}
    names = {"minilm (bundled)": MODEL}
    with tempfile.TemporaryDirectory() as tmp:
        training = training_sentences()
        for family in FAMILIES:
            names[family.name] = str(build_family(family, Path(tmp) / family.name, training))
            rows[family.name] = {"covers": family.covers}
        stats = {key: {"bytes": 0, "tokens": 0} for key in names}
        runners = {}
        for key, name in names.items():
            rows[key]["wordpieces_per_word"] = round(wordpieces_per_word(resolve_model_dir(name), texts, words), 3)
            nlp = load_pipeline("default", overrides={"components.ctx_encoder.model.name": name, "components.ctx_encoder.store_dtype": "float32"})
            nlp.initialize()
            runners[key] = pipe_runner(nlp, stored=stats[key])
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
            "machine": machine("torch threads 1"),
            "sentences": {"wordpieces_per_word": len(texts), "timed": len(timed)},
            "timed_words": timed_words,
            "rows": rows,
        },
        args.out,
    )


if __name__ == "__main__":
    main()
