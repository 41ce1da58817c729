"""spacy_ctx.embed.writers: the Parquet schema both executors share, whole-or-absent files, DocBin shards."""
import numpy
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import spacy
from numpy.testing import assert_array_equal

from spacy_ctx.corpora import Record
from spacy_ctx.embed.writers import (
    DocBinWriter,
    ParquetWriter,
    read_docbin,
    token_schema,
    token_table,
    write_table_atomic,
)

TEXTS = ["The boat drifted toward the river bank.", "She paid cash at the bank.", ""]


@pytest.fixture(scope="module")
def docs():
    nlp = spacy.blank("en")
    return [nlp("Two words"), nlp(""), nlp("And three more")]


def _outputs(docs, width=3):
    rng = numpy.random.default_rng(0)
    return [{"mix": rng.normal(size=(len(d), width)), "layer2": rng.normal(size=(len(d), width))} for d in docs]


@pytest.mark.parametrize("dtype,arrow", [("float32", pa.float32()), ("float16", pa.float16())])
def test_token_schema_is_explicit(dtype, arrow):
    schema = token_schema({"mix": 384, "layer6": 384}, dtype)
    assert schema.names == ["doc", "i", "text", "idx", "mix", "layer6"]
    assert schema.field("i").type == pa.int32() and schema.field("doc").type == pa.string()
    assert schema.field("mix").type == pa.list_(arrow, 384)


def test_token_table_has_one_row_per_token(docs):
    outputs = _outputs(docs)
    table = token_table(["a", "b", "c"], docs, outputs, token_schema({"mix": 3, "layer2": 3}, "float16"))
    assert table.column("doc").to_pylist() == ["a", "a", "c", "c", "c"]
    assert table.column("i").to_pylist() == [0, 1, 0, 1, 2]
    assert table.column("idx").to_pylist() == [0, 4, 0, 4, 10]
    mix = numpy.asarray(table.column("mix").to_pylist())
    expected = numpy.concatenate([o["mix"] for o in outputs]).astype("float16")
    numpy.testing.assert_array_equal(mix, expected)
    # No docs at all: an empty table, still with the schema.
    assert token_table([], [], [], token_schema({"mix": 3})).num_rows == 0


def test_parquet_writer_is_whole_or_absent(tmp_path, docs):
    path = tmp_path / "out.parquet"
    writer = ParquetWriter(path)
    records = [Record(str(k), d.text, {}) for k, d in enumerate(docs)]
    writer.write(records[:2], docs[:2], _outputs(docs[:2]))
    assert not path.exists()  # written under a temporary name until close()
    writer.write(records[2:], docs[2:], _outputs(docs[2:]))
    writer.close()
    writer.close()  # idempotent: the finished file stays
    assert pq.ParquetFile(path).num_row_groups == 2 and pq.read_table(path).num_rows == 5
    assert list(tmp_path.iterdir()) == [path]
    # A discarded writer leaves nothing behind.
    broken = ParquetWriter(tmp_path / "broken.parquet")
    broken.write(records[:1], docs[:1], _outputs(docs[:1]))
    broken.discard()
    assert list(tmp_path.iterdir()) == [path]


def test_parquet_writer_with_a_schema_writes_an_empty_table(tmp_path):
    path = tmp_path / "empty.parquet"
    schema = token_schema({"mix": 4}, "float16")
    writer = ParquetWriter(path, "float16", schema=schema)
    writer.close()
    table = pq.read_table(path)
    assert table.num_rows == 0 and table.schema.equals(schema)


def test_write_table_atomic(tmp_path):
    path = tmp_path / "t.parquet"
    write_table_atomic(pa.table({"x": [1, 2]}), path)
    write_table_atomic(pa.table({"x": [3]}), path)
    assert pq.read_table(path).column("x").to_pylist() == [3]
    assert list(tmp_path.iterdir()) == [path]


def test_docbin_writer_keeps_layers_and_mix(nlp, tmp_path):
    docs = list(nlp.pipe(TEXTS))
    writer = DocBinWriter(tmp_path / "out.spacy", docs_per_shard=2)
    writer.write([], docs, [])
    writer.close()
    assert len(list((tmp_path / "out.spacy").glob("*.spacy"))) == 2
    loaded = list(read_docbin(tmp_path / "out.spacy", nlp.vocab))
    for doc, again in zip(docs, loaded):
        assert_array_equal(doc._.ctx_layers, again._.ctx_layers)
        assert_array_equal(doc.tensor, again.tensor)
        for a, b in zip(doc, again):
            assert_array_equal(a.vector, b.vector)
            assert_array_equal(a._.ctx_vector, b._.ctx_vector)
