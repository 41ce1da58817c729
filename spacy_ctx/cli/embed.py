"""`python -m spacy_ctx embed INPUT OUTPUT`: the main job."""
from pathlib import Path
from typing import List, Optional

import typer
from tqdm import tqdm
from wasabi import msg

from ..io import count_records, doc_outputs, make_writer, read_texts
from ._app import app
from ._util import load_pipeline, parse_layers


@app.command("embed")
def embed_cli(
    input_path: Path = typer.Argument(..., help="Plain text (one doc per line) or JSONL with a 'text' field.", exists=True, dir_okay=False),
    output_path: Path = typer.Argument(..., help="OUTPUT.parquet (one row per token), or a .spacy directory of DocBin shards."),
    model: str = typer.Option("default", "--model", "-m", help="A pipeline directory with ctx_encoder, or 'default' for the bundled MiniLM."),
    layers: Optional[str] = typer.Option(None, "--layers", "-l", help="Comma-separated layers to write, e.g. '0,6' or '-1'; 'all' for every layer."),
    mix: bool = typer.Option(True, "--mix/--no-mix", help="Write the scalar mix (the contextual token.vector)."),
    dtype: str = typer.Option("float32", "--dtype", help="float32 or float16 for Parquet vectors."),
    batch_size: int = typer.Option(64, "--batch-size", "-b", help="Docs per nlp.pipe batch (and per Parquet row group)."),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU to use, -1 for CPU."),
):
    """Write every token of INPUT with its contextual vectors to OUTPUT.

    Streams: a batch of docs is read, encoded and written at a time, so the
    corpus may be larger than memory.
    """
    nlp = load_pipeline(model, gpu_id)
    encoder = nlp.get_pipe("ctx_encoder")
    selected: List[int] = parse_layers(layers, encoder.n_layers)
    if not selected and not mix:
        msg.fail("Nothing to write: give --layers or keep --mix.", exits=1)
    writer = make_writer(output_path, dtype)
    total = count_records(input_path)
    n_tokens = 0
    texts = ((r[1], r) for r in read_texts(input_path))
    try:
        with tqdm(total=total, unit="doc", desc="embed") as bar:
            batch_docs, batch_records = [], []
            for doc, record in nlp.pipe(texts, as_tuples=True, batch_size=batch_size):
                batch_docs.append(doc)
                batch_records.append(record)
                if len(batch_docs) >= batch_size:
                    n_tokens += _flush(writer, batch_records, batch_docs, selected, mix)
                    bar.update(len(batch_docs))
                    batch_docs, batch_records = [], []
            if batch_docs:
                n_tokens += _flush(writer, batch_records, batch_docs, selected, mix)
                bar.update(len(batch_docs))
    finally:
        writer.close()
    msg.good(f"Wrote {n_tokens} tokens from {total} docs to {output_path}")


def _flush(writer, records, docs, layers, mix) -> int:
    writer.write(records, docs, [doc_outputs(doc, layers, mix) for doc in docs])
    return sum(len(doc) for doc in docs)
