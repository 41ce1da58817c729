"""Streaming writers of embedded docs, their reader, and the Parquet schema.

Writers take one batch of docs at a time (the readers, in `corpora`, yield one
record at a time), so a corpus larger than memory streams through. Both
executors, local and Ray, write the same table: `token_schema` /
`token_table`, one vector column per output named by `output_names`.
"""
import os
import uuid
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Union

import numpy
from spacy.tokens import Doc, DocBin

from ..compat import require
from ..corpora import Record
from ..errors import Errors, SpacyCtxError
from ..extensions import restore_doc
from ..util import MIX_KEY, layer_key, normalize_layers

Layers = Union[Sequence[int], str, None]


def select_layers(layers: Layers, n_layers: int, mix: bool) -> List[int]:
    """The layers to write, as positive indices: "all", indices (negative ones
    count from the top), or None / [] for none. E207 when that leaves
    nothing to write (no layers and no mix)."""
    if layers == "all":
        chosen = list(range(n_layers))
    else:
        chosen = normalize_layers(layers, n_layers, "layers") if layers else []
    if not chosen and not mix:
        raise SpacyCtxError(Errors.E207)
    return chosen


def output_names(layers: Sequence[int], mix: bool) -> List[str]:
    """The vector columns written, in order: "mix" first, then each layer's
    key ("layer0", "layer6")."""
    return ([MIX_KEY] if mix else []) + [layer_key(layer) for layer in layers]


def doc_outputs(doc: Doc, layers: Optional[Sequence[int]], mix: bool) -> Dict[str, numpy.ndarray]:
    """The arrays to write for a doc, by `output_names`: [n_tokens, width] each."""
    outputs = {}
    if mix:
        outputs[MIX_KEY] = doc.tensor
    if layers:
        ids = list(doc._.ctx_layer_ids)
        for layer in layers:
            if layer not in ids:
                raise SpacyCtxError(Errors.E006.format(layer=layer, stored=ids))
            outputs[layer_key(layer)] = doc._.ctx_layers[ids.index(layer)]
    return outputs


TOKEN_COLUMNS = ("doc", "i", "text", "idx")


def token_schema(widths: Dict[str, int], dtype: str = "float32"):
    """The Arrow schema of an embedding table: one row per token with its doc
    id, index, text and character offset, then one fixed-size list column of
    `dtype` per output ("mix", "layer<i>", in the order of `widths`)."""
    pa = require("pyarrow", "embed", "Parquet output")
    fields = [
        pa.field("doc", pa.string()),
        pa.field("i", pa.int32()),
        pa.field("text", pa.string()),
        pa.field("idx", pa.int32()),
    ]
    value_type = pa.from_numpy_dtype(numpy.dtype(dtype))
    fields += [pa.field(name, pa.list_(value_type, width)) for name, width in widths.items()]
    return pa.schema(fields)


def token_table(doc_ids: Sequence[str], docs: Sequence[Doc], outputs: Sequence[Dict], schema):
    """The embedding table (`token_schema`) of docs: outputs[k] holds doc k's
    arrays by column name, each [n_tokens, width]."""
    pa = require("pyarrow", "embed", "Parquet output")
    columns = [
        pa.array([doc_id for doc_id, doc in zip(doc_ids, docs) for _ in doc], pa.string()),
        pa.array([t.i for d in docs for t in d], pa.int32()),
        pa.array([t.text for d in docs for t in d], pa.string()),
        pa.array([t.idx for d in docs for t in d], pa.int32()),
    ]
    for field in list(schema)[len(TOKEN_COLUMNS):]:
        dtype = field.type.value_type.to_pandas_dtype()
        width = field.type.list_size
        flat = [numpy.asarray(o[field.name], dtype=dtype).reshape(-1) for o in outputs]
        values = numpy.concatenate(flat) if flat else numpy.zeros(0, dtype)
        columns.append(pa.FixedSizeListArray.from_arrays(pa.array(values), width))
    return pa.Table.from_arrays(columns, schema=schema)


def temp_path(path: Path) -> Path:
    """A unique temporary name beside `path`, for writing it whole or not at
    all. It starts with "." and ends with ".tmp", so that a dataset read of
    the directory skips it and a resumed job can find it to clear it."""
    path = Path(path)
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")


def write_table_atomic(table, path: Path) -> None:
    """Write a Parquet file under a temporary name, then rename it to `path`:
    a reader (or a resumed job) sees the whole file or none."""
    pq = require("pyarrow.parquet", "embed", "Parquet output")
    tmp = temp_path(path)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class ParquetWriter:
    """One row per token (`token_schema`): doc, i, text, idx, then one
    fixed-size list column per output ("mix", "layer<i>"). Each batch of
    docs is one row group.

    The file is written under a temporary name and renamed to `path` by
    close(), so that `path` holds a whole file or none; discard() drops an
    unfinished one. schema: the table's schema, when known before the first
    batch (then a writer closed without docs leaves an empty table); by
    default it comes from the first batch's arrays.
    """

    def __init__(self, path: Path, dtype: str = "float32", schema=None):
        self.path = Path(path)
        self.dtype = dtype
        self._schema = schema
        self._tmp = temp_path(self.path)
        self._writer = None
        self._closed = False

    def write(self, records: Sequence[Record], docs: Sequence[Doc], outputs: List[Dict]) -> None:
        if self._schema is None:
            widths = {name: array.shape[-1] for name, array in outputs[0].items()} if outputs else {}
            self._schema = token_schema(widths, self.dtype)
        self._open().write_table(token_table([r[0] for r in records], docs, outputs, self._schema))

    def _open(self):
        if self._writer is None:
            pq = require("pyarrow.parquet", "embed", "Parquet output")
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self._tmp, self._schema)
        return self._writer

    def close(self) -> None:
        """Finish the file and move it to `path`."""
        if self._closed:
            return
        self._closed = True
        if self._writer is None and self._schema is not None:
            self._open()
        if self._writer is not None:
            self._writer.close()
            os.replace(self._tmp, self.path)

    def discard(self) -> None:
        """Drop the file if close() has not moved it into place."""
        if not self._closed and self._writer is not None:
            self._writer.close()
        self._closed = True
        self._tmp.unlink(missing_ok=True)


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

    def discard(self) -> None:
        """Drop the docs not yet in a shard (the shards written stay)."""
        self._bin = DocBin(store_user_data=True)


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
