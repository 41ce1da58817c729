"""The Ray executor: embed a corpus with a pool of actors, in blocks that a
killed job does not lose (`blocks` plans them and keeps the output directory).

Ray Data maps the blocks through a fixed pool of actors (`map_batches` with a
callable class, one block per call). Each actor loads the pipeline once, reads
its block's records, runs the embedding loop on them and writes the block's
Parquet file itself, under a temporary name that it then renames: a block file
is whole or absent. Through Ray pass only block descriptions (and the texts of
an in-memory corpus) and small per-block summaries; Docs never leave the actor
that made them (a pickled Doc drags its whole vocab along), and the vectors go
straight to the file.
"""
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

from ..compat import require
from ..corpora import BadRecord
from ..pipeline.loading import load_pipeline
from .blocks import Block, JobSpec, Source, block_path, check_at_least, errors_path, plan_blocks, prepare_output
from .loop import embed_records
from .writers import Layers, ParquetWriter, token_schema, write_table_atomic


@dataclass
class BlockResult:
    """What embedding one block did."""

    block: str
    docs: int
    tokens: int
    errors: int
    seconds: float


@dataclass
class JobSummary:
    """What a job did: blocks written now, blocks found done, and totals."""

    output: Path
    blocks: int
    skipped: int
    docs: int = 0
    tokens: int = 0
    errors: int = 0
    seconds: float = 0.0
    results: List[BlockResult] = field(default_factory=list)


def embed_block(nlp, block: Block, output: Union[str, Path], spec: JobSpec) -> BlockResult:
    """Encode one block and write its Parquet file (and its errors file, when
    records failed), each whole or not at all. A record that cannot be read
    or encoded is an error row; the others are written. This is what each
    actor runs."""
    begin = time.perf_counter()
    failures: List[BadRecord] = []
    writer = ParquetWriter(block_path(output, block), spec.dtype, schema=token_schema(spec.widths, spec.dtype))
    try:
        counts = embed_records(
            nlp, block.records(failures.append), writer, spec.layers, spec.mix,
            batch_size=spec.batch_size, on_error=failures.append,
        )
        if failures:
            errors_path(output, block).parent.mkdir(exist_ok=True)
            write_table_atomic(_errors_table(block, failures), errors_path(output, block))
        writer.close()
    finally:
        writer.discard()
    return BlockResult(block.id, counts.docs, counts.tokens, len(failures), time.perf_counter() - begin)


def _errors_table(block: Block, failures: Sequence[BadRecord]):
    pa = require("pyarrow", "embed", "Parquet output")
    return pa.table(
        {
            "doc": pa.array([bad.id for bad in failures], pa.string()),
            "block": pa.array([block.id] * len(failures), pa.string()),
            "source": pa.array([block.source] * len(failures), pa.string()),
            "reason": pa.array([bad.reason for bad in failures], pa.string()),
        }
    )


class BlockEmbedder:
    """The Ray actor: loads the pipeline once, then embeds the blocks of each
    batch it is given and returns one summary row per block."""

    def __init__(self, spec: Dict, output: str, threads: int, gpu: bool):
        import torch

        # Ray sets OMP_NUM_THREADS from the actor's num_cpus, but torch may
        # have sized its pool before: set it explicitly.
        torch.set_num_threads(max(1, threads))
        if gpu:
            import spacy

            # Ray sets CUDA_VISIBLE_DEVICES to the actor's GPU: it is device 0.
            spacy.require_gpu(0)
        self.spec = JobSpec(**{**spec, "layers": tuple(spec["layers"])})
        self.output = output
        self.nlp = load_pipeline(self.spec.model)

    def __call__(self, batch) -> Dict[str, list]:
        results = []
        for row in batch.to_pylist():
            data = json.loads(row["block"])
            block = Block(**{**data, "texts": tuple(data["texts"])})
            results.append(asdict(embed_block(self.nlp, block, self.output, self.spec)))
        return {key: [result[key] for result in results] for key in results[0]}


def embed_with_ray(
    source: Source,
    output: Union[str, Path],
    *,
    model: str = "default",
    layers: Layers = None,
    mix: bool = True,
    dtype: str = "float32",
    block_size: int = 1024,
    batch_size: int = 64,
    actors: int = 1,
    cpus_per_actor: int = 1,
    gpus_per_actor: float = 0,
    address: Optional[str] = None,
    progress: bool = False,
) -> JobSummary:
    """Embed a corpus with a pool of Ray actors into a directory of Parquet
    files (see `blocks`), resuming where an earlier run of the same job
    stopped.

    source: a list of texts, or a file, directory or glob pattern of .txt
        (one doc per line), .jsonl ("text", optional "id") or .parquet
        ("text", optional "id") files. Doc ids: the record ids, prefixed by
        the file name ("a.txt:12") when there are several files.
    model: a pipeline directory (nlp.to_disk) with a ctx_encoder, or "default".
    layers, mix, dtype: what to write, as for single-process `embed`:
        layer indices (negative ones count from the top) or "all", the mix.
    block_size: lines (rows, texts) per block: the unit of output files, of
        scheduling and of the work a killed job loses.
    batch_size: docs per nlp.pipe batch inside an actor.
    actors: the size of the actor pool; each loads the pipeline once and
        uses cpus_per_actor torch threads (and gpus_per_actor GPUs, if > 0).
    address: the cluster to join ("auto", "ray://HOST:PORT"); None starts a
        local one. A Ray session this process already opened is used as is.
    """
    ray = require("ray", "ray", "--ray")
    require("pyarrow.parquet", "embed", "--ray")
    check_at_least("actors", actors)
    check_at_least("cpus_per_actor", cpus_per_actor)
    begin = time.perf_counter()
    spec = JobSpec.from_model(model, layers, mix, dtype, block_size, batch_size)
    blocks = plan_blocks(source, block_size)
    pending = prepare_output(output, blocks, spec)
    summary = JobSummary(Path(output), blocks=len(blocks), skipped=len(blocks) - len(pending))
    if not pending:
        summary.seconds = time.perf_counter() - begin
        return summary
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, log_to_driver=False, include_dashboard=False)
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        rows = [{"block": json.dumps(asdict(block))} for block in pending]
        dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
            BlockEmbedder,
            batch_size=1,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=min(actors, len(pending))),
            num_cpus=cpus_per_actor,
            num_gpus=gpus_per_actor or None,
            fn_constructor_kwargs={
                "spec": asdict(spec),
                "output": str(Path(output).resolve()),
                "threads": int(cpus_per_actor),
                "gpu": gpus_per_actor > 0,
            },
        )
        from tqdm import tqdm

        with tqdm(total=len(pending), unit="block", desc="embed", disable=not progress) as bar:
            for row in dataset.iter_rows():
                result = BlockResult(**{key: row[key] for key in BlockResult.__dataclass_fields__})
                summary.results.append(result)
                summary.docs += result.docs
                summary.tokens += result.tokens
                summary.errors += result.errors
                bar.update(1)
    finally:
        if started:
            ray.shutdown()
    summary.seconds = time.perf_counter() - begin
    return summary
