"""Embed a corpus on a Ray cluster, in blocks that a killed job does not lose.

The input (a list of texts, or the .txt/.jsonl/.parquet files a path, directory
or glob names) is cut into blocks of `block_size` lines (rows, texts). A
block's id comes from its file and line range, so the same input always gives
the same blocks, and a re-run writes only the blocks whose file is missing.

Ray Data maps the blocks through a fixed pool of actors (`map_batches` with a
callable class, one block per call). Each actor loads the pipeline once, reads
its block's records, encodes them with `nlp.pipe` and writes the block's
Parquet file itself, under a temporary name that it then renames: a block file
is whole or absent. Through Ray pass only block descriptions (and the texts of
an in-memory corpus) and small per-block summaries; Docs never leave the actor
that made them (a pickled Doc drags its whole vocab along), and the vectors go
straight to the file.

Output directory:
    part-<block>.parquet          one row per token, the schema of single-process
                                  `embed` (io.token_schema)
    _errors/part-<block>.parquet  the records that failed: doc, block, source, reason
    _job.json                     what the job embeds; a re-run must match it

`pyarrow.parquet.read_table(OUTPUT)` reads the tokens in input order (pyarrow
skips the names starting with "_" or ".": the errors and temporary files).
"""
import glob
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from .compat import require
from .corpora import LINE_FORMATS, BadRecord, Record, read_texts, sniff_format
from .errors import Errors, SpacyCtxError
from .io import ParquetWriter, doc_outputs, token_schema, write_table_atomic
from .util import load_pipeline, normalize_layers

INPUT_FORMATS = ("text", "jsonl", "parquet")
JOB_FILE = "_job.json"
ERRORS_DIR = "_errors"

Source = Union[str, Path, Sequence[str]]


@dataclass(frozen=True)
class Block:
    """A slice of the input: lines (rows, texts) start <= n < stop of `source`.

    source: an input file, or "" for in-memory texts (then in `texts`).
    offset: the byte offset of line `start` (text and jsonl files).
    prefix: put before record ids to make doc ids: "<file>:" when the
        input has several files, else "".
    """

    id: str
    source: str
    start: int
    stop: int
    offset: int = 0
    prefix: str = ""
    texts: Tuple[str, ...] = ()

    def records(self, on_error) -> Iterable[Record]:
        """The block's records; unreadable ones go to on_error(BadRecord)."""
        if not self.source:
            return (Record(str(n), text, {}) for n, text in enumerate(self.texts, self.start))
        return read_texts(self.source, start=self.start, stop=self.stop, offset=self.offset, on_error=on_error)


@dataclass(frozen=True)
class JobSpec:
    """What a job writes: the pipeline, the outputs ("mix" and/or
    "layer_<i>" columns of `width` values in `dtype`) and the block size.
    Everything but batch_size must stay the same when a job is resumed."""

    model: str
    layers: Tuple[int, ...]
    mix: bool
    dtype: str
    width: int
    block_size: int = 1024
    batch_size: int = 64

    @classmethod
    def from_model(
        cls,
        model: str,
        layers: Union[Sequence[int], str, None] = None,
        mix: bool = True,
        dtype: str = "float32",
        block_size: int = 1024,
        batch_size: int = 64,
    ) -> "JobSpec":
        """Load the pipeline once to check the layers (negative ones count
        from the top) and read the width."""
        _check_at_least("block_size", block_size)
        _check_at_least("batch_size", batch_size)
        encoder = load_pipeline(model).get_pipe("ctx_encoder")
        if layers == "all":
            layers = list(range(encoder.n_layers))
        chosen = normalize_layers(layers, encoder.n_layers, "layers") if layers else []
        if not chosen and not mix:
            raise SpacyCtxError(Errors.E207)
        model = model if model == "default" else str(Path(model).resolve())
        return cls(model, tuple(chosen), mix, dtype, encoder.width, block_size, batch_size)

    @property
    def widths(self) -> Dict[str, int]:
        """The vector columns, in the order single-process `embed` writes them."""
        names = (["mix"] if self.mix else []) + [f"layer_{i}" for i in self.layers]
        return {name: self.width for name in names}


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


# Planning


def plan_blocks(source: Source, block_size: int) -> List[Block]:
    """Cut the input into blocks, in input order. `source` is a file, a
    directory (its .txt/.jsonl/.parquet files) or a glob pattern, or a list
    of texts. The same input and block size always give the same blocks."""
    _check_at_least("block_size", block_size)
    if not isinstance(source, (str, Path)):
        texts = [str(text) for text in source]
        digest = _digest("\0".join(texts))
        return [
            Block(_block_id("texts", digest, start, stop), "", start, stop, texts=tuple(texts[start:stop]))
            for start, stop in _spans(len(texts), block_size)
        ]
    files = input_files(source)
    root = os.path.commonpath([str(f.parent) for f in files])
    blocks = []
    for path in files:
        prefix = f"{os.path.relpath(path, root)}:" if len(files) > 1 else ""
        name = "".join(c if c.isalnum() or c in "._-" else "_" for c in path.name)
        digest = _digest(f"{path}\0{path.stat().st_size}")
        for (start, stop), offset in _ranges(path, block_size):
            blocks.append(Block(_block_id(name, digest, start, stop), str(path), start, stop, offset, prefix))
    return blocks


def input_files(source: Union[str, Path]) -> List[Path]:
    """The input files of a path, directory or glob pattern, sorted; each must
    be text, jsonl or parquet."""
    path = Path(source)
    if path.is_dir():
        files = [p for p in sorted(path.iterdir()) if sniff_format(p) in INPUT_FORMATS]
    elif path.is_file():
        files = [path]
    else:
        files = [Path(p) for p in sorted(glob.glob(str(source), recursive=True)) if Path(p).is_file()]
    if not files:
        raise SpacyCtxError(Errors.E202.format(pattern=source))
    for file in files:
        if sniff_format(file) not in INPUT_FORMATS:
            raise SpacyCtxError(Errors.E204.format(path=file, fmt=sniff_format(file)))
    return [file.resolve() for file in files]


def _ranges(path: Path, block_size: int) -> List[Tuple[Tuple[int, int], int]]:
    """((start, stop), byte offset of line start) of each block of a file."""
    if sniff_format(path) not in LINE_FORMATS:
        import pyarrow.parquet as pq

        return [(span, 0) for span in _spans(pq.ParquetFile(path).metadata.num_rows, block_size)]
    offsets, position = [], 0
    with path.open("rb") as file_:
        for n, line in enumerate(file_):
            if n % block_size == 0:
                offsets.append(position)
            position += len(line)
    n_lines = n + 1 if offsets else 0
    return list(zip(_spans(n_lines, block_size), offsets))


def _spans(n: int, block_size: int) -> List[Tuple[int, int]]:
    return [(start, min(start + block_size, n)) for start in range(0, n, block_size)]


def _block_id(name: str, digest: str, start: int, stop: int) -> str:
    # Zero-padded, so that file names sort in input order.
    return f"{name}-{digest}-{start:09d}-{stop:09d}"


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf8")).hexdigest()[:8]


def _check_at_least(setting: str, value: float, minimum: float = 1) -> None:
    if value < minimum:
        raise SpacyCtxError(Errors.E205.format(setting=setting, min=minimum, value=value))


# The output directory


def block_path(output: Path, block: Block) -> Path:
    """Where a block's tokens go; the block is done when this file exists."""
    return Path(output) / f"part-{block.id}.parquet"


def errors_path(output: Path, block: Block) -> Path:
    """Where a block's failed records go (written only when there are some)."""
    return Path(output) / ERRORS_DIR / f"part-{block.id}.parquet"


def prepare_output(output: Union[str, Path], blocks: Sequence[Block], spec: JobSpec) -> List[Block]:
    """Check that `output` is new or holds this same job (E201 otherwise),
    record the job in it, clear the temporary files a killed run left, and
    return the blocks still to write."""
    output = Path(output)
    if output.is_file():
        raise SpacyCtxError(Errors.E203.format(path=output))
    job = {**asdict(spec), "blocks": [block.id for block in blocks]}
    job.pop("batch_size")
    job_file = output / JOB_FILE
    if job_file.exists():
        old = json.loads(job_file.read_text(encoding="utf8"))
        for key, value in json.loads(json.dumps(job)).items():
            if old.get(key) != value:
                old_value, new_value = old.get(key), value
                if key == "blocks":  # say where they part, not all the ids
                    old_value, new_value = _blocks_note(old_value or []), _blocks_note(value)
                raise SpacyCtxError(Errors.E201.format(path=output, what=key, old=old_value, new=new_value))
    else:
        output.mkdir(parents=True, exist_ok=True)
        job_file.write_text(json.dumps(job, indent=1), encoding="utf8")
    for stale in list(output.glob(".*.tmp")) + list(output.glob(f"{ERRORS_DIR}/.*.tmp")):
        stale.unlink(missing_ok=True)
    return [block for block in blocks if not block_path(output, block).exists()]


def _blocks_note(ids: Sequence[str]) -> str:
    return f"{len(ids)} blocks, the first '{ids[0]}'" if ids else "no blocks"


# Embedding blocks (what each actor runs)


def embed_block(nlp, block: Block, output: Union[str, Path], spec: JobSpec) -> BlockResult:
    """Encode one block and write its Parquet file (and its errors file, when
    records failed), each whole or not at all. A record that cannot be read
    or encoded is an error row; the others are written."""
    from spacy.util import minibatch

    begin = time.perf_counter()
    failures: List[BadRecord] = []
    writer = ParquetWriter(block_path(output, block), spec.dtype, schema=token_schema(spec.widths, spec.dtype))
    n_docs = n_tokens = 0
    try:
        for batch in minibatch(block.records(failures.append), spec.batch_size):
            pairs = _encode(nlp, batch, spec.batch_size, failures)
            records = [record._replace(id=block.prefix + record.id) for record, _ in pairs]
            docs = [doc for _, doc in pairs]
            writer.write(records, docs, [doc_outputs(doc, spec.layers, spec.mix) for doc in docs])
            n_docs += len(docs)
            n_tokens += sum(len(doc) for doc in docs)
        if failures:
            errors_path(output, block).parent.mkdir(exist_ok=True)
            write_table_atomic(_errors_table(block, failures), errors_path(output, block))
        writer.close()
    finally:
        writer.discard()
    return BlockResult(block.id, n_docs, n_tokens, len(failures), time.perf_counter() - begin)


def _encode(nlp, records: List[Record], batch_size: int, failures: List[BadRecord]):
    """(record, doc) pairs. If the batch fails, encode its docs one at a time,
    so that one bad document becomes one error row and not a lost block."""
    try:
        return list(zip(records, nlp.pipe([r.text for r in records], batch_size=batch_size)))
    except Exception:  # noqa: BLE001 (anything a document can raise)
        pairs = []
        for record in records:
            try:
                pairs.append((record, nlp(record.text)))
            except Exception as err:  # noqa: BLE001
                failures.append(BadRecord(record.id, f"{type(err).__name__}: {err}"))
        return pairs


def _errors_table(block: Block, failures: Sequence[BadRecord]):
    pa = require("pyarrow", "embed", "Parquet output")
    return pa.table(
        {
            "doc": pa.array([block.prefix + bad.id for bad in failures], pa.string()),
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


# The job


def embed_with_ray(
    source: Source,
    output: Union[str, Path],
    *,
    model: str = "default",
    layers: Union[Sequence[int], str, None] = None,
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
    files (see the module docstring), resuming where an earlier run of the
    same job stopped.

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
    _check_at_least("actors", actors)
    _check_at_least("cpus_per_actor", cpus_per_actor)
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
