"""`embed --ray`: the CLI shell over spacy_ctx.embed.ray (what needs no cluster)."""
import sys

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from spacy_ctx.cli import app
from spacy_ctx.embed.blocks import JobSpec, plan_blocks, prepare_output
from spacy_ctx.embed.ray import embed_block

runner = CliRunner()


def _output(result) -> str:
    """The printed message, without the line breaks wasabi wraps it with."""
    return " ".join(result.output.split())


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
