"""Blocks of the input, and the output directory of a resumable embedding job.

The input (a list of texts, or the .txt/.jsonl/.parquet files a path, directory
or glob names) is cut into blocks of `block_size` lines (rows, texts). A
block's id comes from its file and line range, so the same input always gives
the same blocks, and a re-run writes only the blocks whose file is missing.

Output directory:
    part-<block>.parquet          one row per token, the schema of single-process
                                  `embed` (writers.token_schema)
    _errors/part-<block>.parquet  the records that failed: doc, block, source, reason
    _job.json                     what the job embeds; a re-run must match it

`pyarrow.parquet.read_table(OUTPUT)` reads the tokens in input order (pyarrow
skips the names starting with "_" or ".": the errors and temporary files).
"""
import glob
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

from ..corpora import LINE_FORMATS, OnError, Record, read_texts, sniff_format
from ..errors import Errors, SpacyCtxError
from ..pipeline.loading import find_encoder, load_pipeline
from .writers import Layers, output_names, select_layers

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

    def records(self, on_error: Optional[OnError]) -> Iterable[Record]:
        """The block's records, their ids prefixed (the doc ids). Unreadable
        ones go to on_error(BadRecord), their ids prefixed too; without
        on_error they raise."""
        if not self.source:
            return (Record(str(n), text, {}) for n, text in enumerate(self.texts, self.start))
        prefixed = None if on_error is None else lambda bad: on_error(bad._replace(id=self.prefix + bad.id))
        records = read_texts(self.source, start=self.start, stop=self.stop, offset=self.offset, on_error=prefixed)
        return (record._replace(id=self.prefix + record.id) for record in records)


@dataclass(frozen=True)
class JobSpec:
    """What a job writes: the pipeline, the outputs ("mix" and/or
    "layer<i>" columns of `width` values in `dtype`) and the block size.
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
        layers: Layers = None,
        mix: bool = True,
        dtype: str = "float32",
        block_size: int = 1024,
        batch_size: int = 64,
    ) -> "JobSpec":
        """Load the pipeline once to check the layers (negative ones count
        from the top, "all" for every one) and read the width."""
        check_at_least("block_size", block_size)
        check_at_least("batch_size", batch_size)
        encoder = find_encoder(load_pipeline(model))
        chosen = select_layers(layers, encoder.n_layers, mix)
        model = model if model == "default" else str(Path(model).resolve())
        return cls(model, tuple(chosen), mix, dtype, encoder.width, block_size, batch_size)

    @property
    def widths(self) -> Dict[str, int]:
        """The vector columns, in the order single-process `embed` writes them."""
        return {name: self.width for name in output_names(self.layers, self.mix)}


def check_at_least(setting: str, value: float, minimum: float = 1) -> None:
    """E205 unless `value` >= `minimum`, naming the setting."""
    if value < minimum:
        raise SpacyCtxError(Errors.E205.format(setting=setting, min=minimum, value=value))


# Planning


def plan_blocks(source: Source, block_size: int) -> List[Block]:
    """Cut the input into blocks, in input order. `source` is a file, a
    directory (its .txt/.jsonl/.parquet files) or a glob pattern, or a list
    of texts. The same input and block size always give the same blocks."""
    check_at_least("block_size", block_size)
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
