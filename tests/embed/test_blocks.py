"""spacy_ctx.embed.blocks: deterministic blocks that cover the input, the job spec, resume, and another job rejected."""
import json

import pyarrow.parquet as pq
import pytest

from spacy_ctx.corpora import read_texts
from spacy_ctx.embed.blocks import JobSpec, block_path, plan_blocks, prepare_output
from spacy_ctx.embed.ray import embed_block
from spacy_ctx.errors import SpacyCtxError

from ..util import EMBED_TEXTS, job_spec


def test_plan_blocks_are_deterministic_and_cover_the_input(corpus, tmp_path):
    blocks = plan_blocks(str(corpus), 3)
    assert blocks == plan_blocks(corpus, 3)
    assert [(b.start, b.stop) for b in blocks] == [(0, 3), (3, 6), (6, 9), (9, 11)]
    assert len({b.id for b in blocks}) == 4 and all(b.id.startswith("in.txt-") for b in blocks)
    # Each block's records (read from its byte offset) are a slice of the whole.
    assert [r for b in blocks for r in b.records(None)] == list(read_texts(corpus))
    # Several files: ids and doc-id prefixes name the file.
    (tmp_path / "a.jsonl").write_text(json.dumps({"text": "x"}) + "\n", encoding="utf8")
    (tmp_path / "b.txt").write_text("y\n", encoding="utf8")
    assert [b.prefix for b in plan_blocks(str(tmp_path / "*"), 3)] == ["a.jsonl:", "b.txt:"]
    assert plan_blocks(tmp_path, 3) == plan_blocks(str(tmp_path / "*"), 3)
    texts = plan_blocks(EMBED_TEXTS, 4)
    assert [b.texts for b in texts] == [tuple(EMBED_TEXTS[:4]), tuple(EMBED_TEXTS[4:8]), tuple(EMBED_TEXTS[8:])]
    with pytest.raises(SpacyCtxError, match="E202"):
        plan_blocks(str(tmp_path / "*.nothing"), 3)
    (tmp_path / "c.csv").write_text("z\n", encoding="utf8")
    with pytest.raises(SpacyCtxError, match="E204"):
        plan_blocks(str(tmp_path / "*"), 3)


def test_job_spec_from_model(model_dir):
    spec = JobSpec.from_model(str(model_dir), [0, -1], dtype="float16", block_size=8)
    assert spec.layers == (0, 6) and spec.width == 384 and spec.block_size == 8
    assert list(spec.widths) == ["mix", "layer0", "layer6"]
    with pytest.raises(SpacyCtxError, match="E207"):
        JobSpec.from_model(str(model_dir), None, mix=False)
    with pytest.raises(SpacyCtxError, match="E205"):
        JobSpec.from_model(str(model_dir), block_size=0)


def test_resume_writes_only_the_missing_blocks(nlp, model_dir, corpus, tmp_path):
    spec = job_spec(model_dir)
    blocks = plan_blocks(corpus, spec.block_size)
    full = tmp_path / "full"
    for block in prepare_output(full, blocks, spec):
        embed_block(nlp, block, full, spec)
    out = tmp_path / "resumed"
    for block in prepare_output(out, blocks, spec)[:2]:
        embed_block(nlp, block, out, spec)
    # A killed writer left a temporary file: it is hidden, then cleared.
    stale = out / f".{block_path(out, blocks[2]).name}.123-abc.tmp"
    stale.write_bytes(b"half a file")
    done = {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet")}
    pending = prepare_output(out, blocks, spec)
    assert pending == blocks[2:] and not stale.exists()
    for block in pending:
        embed_block(nlp, block, out, spec)
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("part-*.parquet") if p.name in done} == done
    assert pq.read_table(out).equals(pq.read_table(full))
    assert prepare_output(out, blocks, spec) == []


def test_prepare_output_rejects_another_job(model_dir, corpus, tmp_path):
    spec = job_spec(model_dir)
    blocks = plan_blocks(corpus, 3)
    prepare_output(tmp_path / "out", blocks, spec)
    with pytest.raises(SpacyCtxError, match=r"E201.*block_size"):
        prepare_output(tmp_path / "out", plan_blocks(corpus, 4), job_spec(model_dir, block_size=4))
    with pytest.raises(SpacyCtxError, match=r"E201.*layers"):
        prepare_output(tmp_path / "out", blocks, job_spec(model_dir, layers=(6,)))
    with pytest.raises(SpacyCtxError, match=r"E201.*blocks"):
        prepare_output(tmp_path / "out", plan_blocks(EMBED_TEXTS, 3), spec)
    (tmp_path / "file").write_text("x", encoding="utf8")
    with pytest.raises(SpacyCtxError, match="E203"):
        prepare_output(tmp_path / "file", blocks, spec)
