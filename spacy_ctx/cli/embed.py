"""`python -m spacy_ctx embed INPUT OUTPUT [--ray]`: the main job."""
from pathlib import Path
from typing import Optional

import typer
from wasabi import msg

from ..embed.local import embed_corpus
from ..embed.ray import embed_with_ray
from ..errors import Warnings
from ._app import app
from ._util import parse_layers, user_errors


@app.command("embed")
def embed_cli(
    input_path: Path = typer.Argument(..., help="Plain text (one doc per line) or JSONL with a 'text' field. With --ray also .parquet (a 'text' column), a directory or a quoted glob of such files."),
    output_path: Path = typer.Argument(..., help="OUTPUT.parquet (one row per token), or a .spacy directory of DocBin shards. With --ray a directory of Parquet files, one per block."),
    model: str = typer.Option("default", "--model", "-m", help="A pipeline directory with ctx_encoder, or 'default' for the bundled MiniLM."),
    layers: Optional[str] = typer.Option(None, "--layers", "-l", help="Comma-separated layers to write, e.g. '0,6' or '-1'; 'all' for every layer."),
    mix: bool = typer.Option(True, "--mix/--no-mix", help="Write the scalar mix (doc.tensor, what doc.vector reads)."),
    dtype: str = typer.Option("float32", "--dtype", help="float32 or float16 for Parquet vectors."),
    batch_size: int = typer.Option(64, "--batch-size", "-b", help="Docs per nlp.pipe batch (and per Parquet row group)."),
    gpu_id: int = typer.Option(-1, "--gpu-id", "-g", help="GPU to use, -1 for CPU."),
    ray: bool = typer.Option(False, "--ray", help="Run on a Ray cluster (pip install 'spacy-ctx[ray]'): resumable, one Parquet file per block."),
    address: Optional[str] = typer.Option(None, "--address", help="With --ray: the cluster to join ('auto', 'ray://HOST:PORT'); default: start a local one."),
    actors: int = typer.Option(1, "--actors", help="With --ray: actors (pipeline copies) in the pool."),
    cpus_per_actor: int = typer.Option(1, "--cpus-per-actor", help="With --ray: CPUs (torch threads) per actor."),
    gpus_per_actor: float = typer.Option(0, "--gpus-per-actor", help="With --ray: GPUs per actor (0: CPU)."),
    block_size: int = typer.Option(1024, "--block-size", help="With --ray: input lines (rows) per block, the unit of output files and of resuming."),
):
    """Write every token of INPUT with its contextual vectors to OUTPUT.

    Streams: a batch of docs is read, encoded and written at a time, so the
    corpus may be larger than memory. With --ray, a pool of actors embeds
    blocks of the input, each into its own Parquet file; re-running the same
    command after a crash writes only the missing blocks, and records that
    cannot be read go to OUTPUT/_errors.
    """
    chosen = parse_layers(layers)
    if not ray:
        with user_errors():
            counts = embed_corpus(
                input_path, output_path, model=model, layers=chosen, mix=mix, dtype=dtype,
                batch_size=batch_size, gpu_id=gpu_id, progress=True,
            )
        msg.good(f"Wrote {counts.tokens} tokens from {counts.docs} docs to {output_path}")
        return
    with user_errors():
        summary = embed_with_ray(
            str(input_path), output_path, model=model, layers=chosen, mix=mix, dtype=dtype,
            block_size=block_size, batch_size=batch_size, actors=actors, cpus_per_actor=cpus_per_actor,
            gpus_per_actor=gpus_per_actor, address=address, progress=True,
        )
    msg.good(
        f"Wrote {summary.tokens} tokens from {summary.docs} docs in {summary.blocks - summary.skipped} blocks "
        f"to {output_path} ({summary.skipped} blocks were done already)"
    )
    if summary.errors:
        msg.warn(Warnings.W200.format(n=summary.errors, path=output_path / "_errors"))
