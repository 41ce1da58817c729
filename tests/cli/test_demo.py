"""The embed and demo commands, end to end."""
import json
import re

import numpy
import pyarrow.parquet as pq
import spacy
from numpy.testing import assert_allclose
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_ctx.cli import app

runner = CliRunner()


def test_embed_text_to_parquet(tmp_path, nlp):
    source = tmp_path / "in.txt"
    source.write_text("The river bank.\n\nMoney in the bank.\n", encoding="utf8")
    out = tmp_path / "out.parquet"
    result = runner.invoke(app, ["embed", str(source), str(out), "--layers", "0,-1", "--batch-size", "1"])
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.column_names == ["doc", "i", "text", "idx", "mix", "layer0", "layer6"]
    assert table.num_rows == 4 + 5
    assert table.column("text").to_pylist()[:4] == ["The", "river", "bank", "."]
    # Two row groups: the output was streamed batch by batch.
    assert pq.ParquetFile(out).num_row_groups == 2
    mix = numpy.asarray(table.column("mix").to_pylist(), dtype="f")
    top = numpy.asarray(table.column("layer6").to_pylist(), dtype="f")
    doc = nlp("The river bank.")
    assert_allclose(mix[:4], doc.tensor, atol=1e-6)
    assert_allclose(top[:4], doc._.ctx_layers[6], atol=1e-6)


def test_embed_jsonl_to_docbin(tmp_path):
    source = tmp_path / "in.jsonl"
    records = [{"id": "a", "text": "One doc."}, {"id": "b", "text": "Another doc here."}]
    source.write_text("\n".join(json.dumps(r) for r in records), encoding="utf8")
    out = tmp_path / "out.spacy"
    result = runner.invoke(app, ["embed", str(source), str(out)])
    assert result.exit_code == 0, result.output
    docs = [d for part in sorted(out.glob("*.spacy")) for d in DocBin().from_disk(part).get_docs(spacy.blank("en").vocab)]
    assert [d.text for d in docs] == ["One doc.", "Another doc here."]
    assert docs[1]._.ctx_layers.shape == (7, 4, 384)


def test_embed_rejects_bad_formats(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("x", encoding="utf8")
    result = runner.invoke(app, ["embed", str(source), str(tmp_path / "o.parquet")])
    assert result.exit_code == 1
    assert "E010" in result.output


def test_demo_shows_polysemy():
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    line = next(l for l in result.output.splitlines() if "same-sense" in l)
    same, cross = [float(x) for x in re.findall(r"\d\.\d{3}", line)]
    assert same > cross
