"""Per tokenizer/architecture family of spacy_ctx.testing (tiny random-weight
models) and the bundled MiniLM: wordpieces per EWT dev word, ctx_encoder
words/s (interleaved) and stored bytes per token.

    python bench/bench_families.py --n 2001 --chunks 20     # bench/results/families.json
"""
import tempfile
from pathlib import Path

from transformers import AutoTokenizer

from harness import EWT, MODEL, RESULTS, emit, machine, options, parse
from harness.peers import ctx_pipeline, pipe
from harness.readers import sentences
from harness.timing import interleave
from spacy_ctx.models.hf_loading import resolve_model_dir
from spacy_ctx.testing import FAMILIES, build_family, sentences as training_sentences


def main():
    parser = options(__doc__, RESULTS / "families.json", threads=1)  # width-32 models: one thread, as on a shared machine
    parser.add_argument("--n", type=int, default=2001, help="dev sentences timed (2001: all)")
    parser.add_argument("--chunks", type=int, default=20)
    args = parse(parser)
    texts, words = sentences(args.data / EWT.format(split="dev"))
    rows = {"minilm (bundled)": {"covers": "the bundled MiniLM-L6-H384: WordPiece, uncased, width 384, 6 layers"}}
    names, runners = {"minilm (bundled)": MODEL}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for family in FAMILIES:
            names[family.name] = str(build_family(family, Path(tmp) / family.name, training_sentences()))
            rows[family.name] = {"covers": family.covers}
        stats = {key: {"bytes": 0, "tokens": 0} for key in names}
        for key, name in names.items():
            tokenizer = AutoTokenizer.from_pretrained(resolve_model_dir(name), local_files_only=True)
            pieces = sum(map(len, tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]))
            rows[key]["wordpieces_per_word"] = round(pieces / sum(words), 3)
            nlp = ctx_pipeline(settings={"model.name": name, "store_dtype": "float32"})
            nlp.initialize()
            runners[key] = pipe(nlp, stored=stats[key])
        seconds = interleave(runners, texts[: args.n], args.chunks, warmup=20)
    # `seconds` times the chunks only; bytes per token count the warm-up docs too (same per token).
    for key, row in rows.items():
        row.update(words_per_s=round(sum(words[: args.n]) / seconds[key], 1), speed_vs_bert_cased=round(seconds["bert-cased"] / seconds[key], 3),
                   bytes_per_token=round(stats[key]["bytes"] / stats[key]["tokens"], 1))
    emit({"machine": machine("torch threads 1"), "sentences": {"wordpieces_per_word": len(texts), "timed": min(args.n, len(texts))},
          "timed_words": sum(words[: args.n]), "rows": rows}, args.out)


if __name__ == "__main__":
    main()
