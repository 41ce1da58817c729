"""Streaming readers and writers for the `embed` command.

Readers yield (doc_id, text, meta) one record at a time, and writers take one
batch of docs at a time, so a corpus larger than memory streams through.
"""
import json
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy
from spacy.tokens import Doc, DocBin

from .errors import Errors, SpacyCtxError
from .extensions import restore_doc

Record = Tuple[str, str, Dict]


def read_texts(path: Path) -> Iterator[Record]:
    """Plain text (one document per non-empty line) or JSONL (one object per
    line with a "text" field and an optional "id"; other fields are kept)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".txt", ".text", ".jsonl"):
        raise SpacyCtxError(Errors.E010.format(path=path))
    with path.open(encoding="utf8") as file_:
        for n, line in enumerate(file_):
            if suffix == ".jsonl":
                if not line.strip():
                    continue
                record = json.loads(line)
                text = record.pop("text")
                yield str(record.pop("id", n)), text, record
            else:
                line = line.rstrip("\n")
                if line.strip():
                    yield str(n), line, {}


def count_records(path: Path) -> int:
    """Count input records, for the progress bar (one cheap pass)."""
    with Path(path).open(encoding="utf8") as file_:
        return sum(1 for line in file_ if line.strip())


def doc_outputs(doc: Doc, layers: Optional[Sequence[int]], mix: bool) -> Dict[str, numpy.ndarray]:
    """The arrays to write for a doc: "mix" and/or "layer_<i>", [n_tokens, width]."""
    outputs = {}
    if mix:
        outputs["mix"] = doc.tensor
    if layers:
        ids = list(doc._.ctx_layer_ids)
        for layer in layers:
            if layer not in ids:
                raise SpacyCtxError(Errors.E006.format(layer=layer, stored=ids))
            outputs[f"layer_{layer}"] = doc._.ctx_layers[ids.index(layer)]
    return outputs


class ParquetWriter:
    """One row per token: doc, i, text, idx, then one fixed-size list column per
    output ("mix", "layer_<i>"). Each batch of docs is one row group."""

    def __init__(self, path: Path, dtype: str = "float32"):
        self.path = Path(path)
        self.dtype = dtype
        self._writer = None

    def write(self, records: Sequence[Record], docs: Sequence[Doc], outputs: List[Dict]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = {
            "doc": pa.array([r[0] for r, d in zip(records, docs) for _ in d], pa.string()),
            "i": pa.array([t.i for d in docs for t in d], pa.int32()),
            "text": pa.array([t.text for d in docs for t in d], pa.string()),
            "idx": pa.array([t.idx for d in docs for t in d], pa.int32()),
        }
        for name in outputs[0] if outputs else []:
            values = [o[name] for o in outputs]
            width = values[0].shape[-1]
            flat = numpy.concatenate(values).astype(self.dtype).reshape(-1)
            columns[name] = pa.FixedSizeListArray.from_arrays(pa.array(flat), width)
        table = pa.table(columns)
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self.path, table.schema)
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


class DocBinWriter:
    """A directory of DocBin shards (readable by spacy.Corpus.v1 as it is).
    Docs keep their ctx_layers (user data) and the mix, which DocBin would
    drop with doc.tensor, in doc._.ctx_mix. Read back with `read_docbin`."""

    def __init__(self, path: Path, docs_per_shard: int = 1000):
        self.path = Path(path)
        self.docs_per_shard = docs_per_shard
        self._bin = DocBin(store_user_data=True)
        self._n_shards = 0

    def write(self, records: Sequence[Record], docs: Sequence[Doc], outputs: List[Dict]) -> None:
        for doc in docs:
            doc._.ctx_mix = doc.tensor
            self._bin.add(doc)
            doc._.ctx_mix = None
            if len(self._bin) >= self.docs_per_shard:
                self._flush()

    def _flush(self) -> None:
        if len(self._bin):
            self.path.mkdir(parents=True, exist_ok=True)
            self._bin.to_disk(self.path / f"part-{self._n_shards:05d}.spacy")
            self._n_shards += 1
            self._bin = DocBin(store_user_data=True)

    def close(self) -> None:
        self._flush()


def read_docbin(path: Path, vocab) -> Iterator[Doc]:
    """Docs from a .spacy file or a directory of shards, with their mix
    restored to doc.tensor (so token.vector and ctx_vector work)."""
    path = Path(path)
    parts = sorted(path.glob("*.spacy")) if path.is_dir() else [path]
    for part in parts:
        for doc in DocBin().from_disk(part).get_docs(vocab):
            yield restore_doc(doc)


def make_writer(path: Path, dtype: str):
    """.parquet -> ParquetWriter; a path ending in .spacy or a directory ->
    DocBin shards."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        return ParquetWriter(path, dtype=dtype)
    if path.suffix.lower() == ".spacy" or path.suffix == "":
        return DocBinWriter(path)
    raise SpacyCtxError(Errors.E011.format(path=path))
