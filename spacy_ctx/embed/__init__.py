"""Embedding a corpus: every token with its contextual vectors, written to disk.

One loop (`loop.embed_records`) encodes records in batches and hands each
batch to a writer (`writers`: Parquet or DocBin shards). Two executors run it:

    local   `embed_corpus`: one process, one output file, streamed
    ray     `embed_with_ray`: a pool of Ray actors, one Parquet file per
            block of the input, resumable (`blocks` plans the blocks and
            keeps the output directory)

Both write the same Parquet table (`writers.token_schema`).
"""
