"""spacy_ctx.embed.ray: a block in one process equals single-process embed, and the job on a local Ray cluster.

A block is embedded in this process as each Ray actor does: it equals single-process `embed`, leaves no file when
interrupted and sends failed records to the errors table. The slow tests run the whole job on a real local cluster."""
import os
import signal
import subprocess
import sys
import time

import numpy
import pyarrow.parquet as pq
import pytest
import spacy
from spacy.language import Language
from typer.testing import CliRunner

from spacy_ctx.cli import app
from spacy_ctx.embed.blocks import block_path, errors_path, plan_blocks, prepare_output
from spacy_ctx.embed.ray import embed_block

from ..util import EMBED_TEXTS, job_spec


@Language.component("test_scale_boom")
def _boom(doc):
    """Fails on some documents, as a real component might."""
    if "BOOM" in doc.text:
        raise ValueError("cannot parse this one")
    if "HALT" in doc.text:
        raise KeyboardInterrupt  # a killed process: not an error of one document
    return doc


def _single_process_embed(source, out, batch_size=3):
    result = CliRunner().invoke(app, ["embed", str(source), str(out), "--layers", "0,-1", "--batch-size", str(batch_size)])
    assert result.exit_code == 0, result.output
    return pq.read_table(out)


def test_blocks_equal_single_process_embed(nlp, model_dir, corpus, tmp_path):
    spec = job_spec(model_dir)
    out = tmp_path / "blocks"
    blocks = plan_blocks(corpus, spec.block_size)
    for block in prepare_output(out, blocks, spec):
        embed_block(nlp, block, out, spec)
    table = pq.read_table(out)
    single = _single_process_embed(corpus, tmp_path / "single.parquet")
    assert table.schema.equals(single.schema)
    assert table.select(["doc", "i", "text", "idx"]).equals(single.select(["doc", "i", "text", "idx"]))
    for column in ("mix", "layer0", "layer6"):
        numpy.testing.assert_allclose(
            numpy.asarray(table.column(column).to_pylist()), numpy.asarray(single.column(column).to_pylist()), atol=1e-5
        )
    # And against the pipeline itself, doc by doc.
    doc = nlp(EMBED_TEXTS[5])
    rows = table.filter(numpy.asarray(table.column("doc").to_pylist()) == "6")
    numpy.testing.assert_allclose(numpy.asarray(rows.column("layer6").to_pylist()), doc._.ctx_layers[6], atol=1e-5)
    assert not (out / "_errors").exists()


def test_an_interrupted_block_leaves_no_file(model_dir, tmp_path):
    nlp = spacy.load(model_dir)
    nlp.add_pipe("test_scale_boom")
    spec = job_spec(model_dir)
    (block,) = plan_blocks(["One.", "HALT now.", "Three."], 3)
    prepare_output(tmp_path, [block], spec)
    with pytest.raises(KeyboardInterrupt):
        embed_block(nlp, block, tmp_path, spec)
    assert not block_path(tmp_path, block).exists()
    assert [p.name for p in tmp_path.iterdir()] == ["_job.json"]


def test_failed_records_go_to_the_errors_table(model_dir, tmp_path):
    nlp = spacy.load(model_dir)
    nlp.add_pipe("test_scale_boom")
    source = tmp_path / "in.jsonl"
    lines = [b'{"id": "a", "text": "Fine."}', b'{"id": "b", "text": "bad \xff"}', b'{"id": "c"}',
             b'{"id": "d", "text": "It goes BOOM."}', b'{"id": "e", "text": "Fine too."}']
    source.write_bytes(b"\n".join(lines) + b"\n")
    spec = job_spec(model_dir, block_size=5)
    out = tmp_path / "out"
    (block,) = prepare_output(out, plan_blocks(source, 5), spec)
    result = embed_block(nlp, block, out, spec)
    assert (result.docs, result.errors) == (2, 3)
    assert sorted(set(pq.read_table(out).column("doc").to_pylist())) == ["a", "e"]
    errors = pq.read_table(out / "_errors").to_pylist()
    # An unreadable line has no id of its own: its line number stands in.
    assert [(e["doc"], e["block"]) for e in errors] == [("1", block.id), ("c", block.id), ("d", block.id)]
    assert "UTF-8" in errors[0]["reason"] and errors[1]["reason"] == "no text"
    assert errors[2]["reason"] == "ValueError: cannot parse this one"
    assert errors_path(out, block).exists() and errors[0]["source"] == str(source.resolve())


# On a real local Ray cluster


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def ray_run(ray_cluster, model_dir, corpus, tmp_path_factory):
    """An uninterrupted 2-actor job over in.txt and a jsonl with bad records."""
    from spacy_ctx.embed.ray import embed_with_ray

    folder = tmp_path_factory.mktemp("ray_input")
    (folder / "in.txt").write_bytes(corpus.read_bytes())
    (folder / "more.jsonl").write_bytes(b'{"text": "Fine."}\n{"text": "bad \xff"}\n{"id": "x"}\n')
    out = tmp_path_factory.mktemp("ray") / "out"
    summary = embed_with_ray(str(folder / "*"), out, model=str(model_dir), layers=[0, -1], block_size=3, batch_size=3, actors=2)
    return summary, out


@pytest.mark.slow
def test_two_ray_actors_equal_single_process_embed(ray_run, corpus, tmp_path):
    summary, out = ray_run
    assert (summary.blocks, summary.skipped, summary.docs, summary.errors) == (5, 0, 11, 2)
    assert len({r.block for r in summary.results}) == 5
    table = pq.read_table(out)
    mine = table.filter(numpy.char.startswith(numpy.asarray(table.column("doc").to_pylist()), "in.txt:"))
    single = _single_process_embed(corpus, tmp_path / "single.parquet")
    assert mine.column("doc").to_pylist() == ["in.txt:" + d for d in single.column("doc").to_pylist()]
    assert mine.drop(["doc"]).schema.equals(single.drop(["doc"]).schema)
    for column in ("text", "idx", "mix", "layer0", "layer6"):
        left, right = numpy.asarray(mine.column(column).to_pylist()), numpy.asarray(single.column(column).to_pylist())
        if left.dtype.kind == "f":
            numpy.testing.assert_allclose(left, right, atol=1e-5)
        else:
            numpy.testing.assert_array_equal(left, right)
    errors = pq.read_table(out / "_errors").to_pylist()
    assert sorted((e["doc"], e["reason"]) for e in errors) == [("more.jsonl:1", "invalid UTF-8 (invalid start byte at byte 14)"), ("more.jsonl:x", "no text")]


@pytest.mark.slow
def test_a_killed_ray_job_resumes_to_the_same_output(ray_cluster, model_dir, tmp_path):
    from spacy_ctx.embed.ray import embed_with_ray

    source = tmp_path / "in.txt"
    source.write_text("\n".join(EMBED_TEXTS * 3) + "\n", encoding="utf8")
    out = tmp_path / "out"
    args = [str(source), str(out), "--model", str(model_dir), "--layers", "0,-1", "--batch-size", "2", "--block-size", "2"]
    # The CLI in its own process, joined to this cluster, killed after its first block.
    address = ray_cluster.get_runtime_context().gcs_address
    proc = subprocess.Popen([sys.executable, "-m", "spacy_ctx", "embed", *args, "--ray", "--address", address],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not list(out.glob("part-*.parquet")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    n_done = len(list(out.glob("part-*.parquet")))
    assert 0 < n_done < 15, n_done
    summary = embed_with_ray(str(source), out, model=str(model_dir), layers=[0, -1], block_size=2, batch_size=2, actors=2)
    assert summary.blocks == 15 and summary.skipped >= n_done and summary.skipped < 15
    uninterrupted = tmp_path / "uninterrupted"
    embed_with_ray(str(source), uninterrupted, model=str(model_dir), layers=[0, -1], block_size=2, batch_size=2, actors=2)
    assert pq.read_table(out).equals(pq.read_table(uninterrupted))
    assert not list(out.glob(".*.tmp"))
