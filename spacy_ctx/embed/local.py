"""The local executor: embed one text or JSONL file in this process."""
from pathlib import Path
from typing import Union

from tqdm import tqdm

from ..corpora import count_records, read_texts
from ..errors import Errors, SpacyCtxError
from ..pipeline.loading import find_encoder, load_pipeline
from .loop import EmbedCounts, embed_records
from .writers import Layers, make_writer, select_layers


def embed_corpus(
    input_path: Union[str, Path],
    output_path: Union[str, Path],
    *,
    model: str = "default",
    layers: Layers = None,
    mix: bool = True,
    dtype: str = "float32",
    batch_size: int = 64,
    gpu_id: int = -1,
    progress: bool = False,
) -> EmbedCounts:
    """Write every token of a .txt (one doc per line) or .jsonl ("text",
    optional "id") file with its contextual vectors to `output_path`: a
    .parquet file (one row per token, `writers.token_schema`) or a directory
    of DocBin shards (a path ending in .spacy, or without a suffix).

    Streams: a batch of records is read, encoded and written at a time, so
    the corpus may be larger than memory. A record that cannot be read or
    encoded stops the run, and an unfinished Parquet file never appears at
    `output_path`.

    model: a pipeline directory with a ctx_encoder, or "default".
    layers: layer indices to write (negative ones count from the top), "all",
        or None for none; mix: write the scalar mix (the contextual
        token.vector). dtype: float32 or float16 (Parquet).
    batch_size: docs per nlp.pipe batch and per Parquet row group.
    """
    input_path = Path(input_path)
    if not input_path.is_file():
        raise SpacyCtxError(Errors.E202.format(pattern=input_path))
    nlp = load_pipeline(model, gpu_id)
    selected = select_layers(layers, find_encoder(nlp).n_layers, mix)
    writer = make_writer(Path(output_path), dtype)
    try:
        total = count_records(input_path) if progress else None
        with tqdm(total=total, unit="doc", desc="embed", disable=not progress) as bar:
            counts = embed_records(
                nlp, read_texts(input_path), writer, selected, mix, batch_size=batch_size, on_batch=bar.update
            )
    except BaseException:
        writer.discard()
        raise
    writer.close()
    return counts
