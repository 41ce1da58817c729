"""The embed command: text and JSONL to Parquet and DocBin, bad formats, and the --ray shell (what needs no cluster)."""
import json
import sys

import numpy
import pyarrow.parquet as pq
import pytest
import spacy
from numpy.testing import assert_allclose
from spacy.tokens import DocBin
from typer.testing import CliRunner

from spacy_ctx.cli import app
from spacy_ctx.embed.blocks import JobSpec, plan_blocks, prepare_output
from spacy_ctx.embed.ray import embed_block


runner = CliRunner()


def _output(result) -> str:
    """The printed message, without the line breaks wasabi wraps it with."""
    return " ".join(result.output.split())


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


def test_ray_without_ray_installed_says_what_to_install(tmp_path, monkeypatch):
    source = tmp_path / "in.txt"
    source.write_text("A doc.\n", encoding="utf8")
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    result = runner.invoke(app, ["embed", str(source), str(tmp_path / "out"), "--ray"])
    assert result.exit_code == 1
    assert "E070" in _output(result) and "pip install 'spacy-ctx[ray]'" in _output(result)


def test_missing_input_fails_cleanly(tmp_path):
    result = runner.invoke(app, ["embed", str(tmp_path / "nothing.txt"), str(tmp_path / "o.parquet")])
    assert result.exit_code == 1 and "E202" in _output(result)


def test_ray_rerun_of_a_finished_job_writes_nothing(nlp, tmp_path):
    """The blocks are done (written here in-process, as an actor would):
    the CLI finds nothing to do and starts no cluster."""
    pytest.importorskip("ray")
    source = tmp_path / "in.txt"
    source.write_text("One doc.\nTwo docs here.\nThree.\n", encoding="utf8")
    out = tmp_path / "out"
    spec = JobSpec.from_model("default", [-1], block_size=2)
    for block in prepare_output(out, plan_blocks(source, 2), spec):
        embed_block(nlp, block, out, spec)
    before = {p: p.stat().st_mtime_ns for p in out.iterdir()}
    result = runner.invoke(app, ["embed", str(source), str(out), "--ray", "--layers", "-1", "--block-size", "2"])
    assert result.exit_code == 0, result.output
    assert "in 0 blocks" in _output(result) and "(2 blocks were done already)" in _output(result)
    assert {p: p.stat().st_mtime_ns for p in out.iterdir()} == before
    assert pq.read_table(out).column("text").to_pylist()[:3] == ["One", "doc", "."]
    # Another block size is another job: a clean error, not mixed output.
    result = runner.invoke(app, ["embed", str(source), str(out), "--ray", "--layers", "-1", "--block-size", "3"])
    assert result.exit_code == 1 and "E201" in _output(result) and "block_size" in _output(result)
