"""The distill-static command end to end: a word table from the top layer, scored by similarity --vectors; the default (--subwords) covering every word."""
import json

import pytest
import spacy
from scipy.stats import spearmanr
from typer.testing import CliRunner

from spacy_ctx.cli import app

from ..util import STS_SAMPLE, WORDSIM_SAMPLE


runner = CliRunner()


def test_distill_static_then_similarity(similarity_files):
    table = similarity_files["root"] / "table"
    result = runner.invoke(
        app, ["distill-static", "default", str(similarity_files["texts"]), str(table), "--layer", "-1", "--method", "pca", "--no-subwords"]
    )
    assert result.exit_code == 0, result.output
    vectors = spacy.load(table).vocab.vectors
    assert vectors.shape[1] == 384 and json.loads((table / "distill.json").read_text())["key"] == "layer6"
    out = similarity_files["root"] / "out"
    result = runner.invoke(app, [
        "similarity", "default", "--stsb", str(similarity_files["sts"]), "--fit-data", str(similarity_files["fit"]),
        "--corrections", "center", "--wordsim", str(similarity_files["wordsim"]),
        "--vectors", f"top={table}", "-o", str(out),
    ])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "similarity.json").read_text())
    assert (out / "similarity.png").stat().st_size > 0 and "STS-B" in (out / "similarity.md").read_text()
    assert set(report["sts"]["rows"]) == {"mean", "first wordpiece", "center"}
    # The pipeline row is doc.similarity of the default pipeline.
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder")
    sims = [nlp(a).similarity(nlp(b)) for a, b, _ in STS_SAMPLE]
    expected = 100 * spearmanr([g for _, _, g in STS_SAMPLE], sims)[0]
    assert report["sts"]["pipeline"]["score"] == pytest.approx(expected, abs=0.01)
    words = report["words"]["rows"]
    assert words["top"]["SimLex-999"]["coverage"] == 1.0  # every word occurs in texts.txt
    assert words["isolation layer0"]["SimLex-999"]["n"] == len(WORDSIM_SAMPLE)


@pytest.mark.slow
@pytest.mark.data
def test_distill_subwords_cover_every_wordsim_word(similarity_files, shared_data):
    """The default (--subwords) end to end, every wordpiece encoded: each word
    of every word-similarity set has a non-zero vector on the loaded blank
    pipeline."""
    from spacy_ctx.evaluation_sets import find_wordsim_sets, read_word_pairs

    table = similarity_files["root"] / "subwords"
    result = runner.invoke(
        app, ["distill-static", "default", str(similarity_files["texts"]), str(table), "--layer", "-1"]
    )
    assert result.exit_code == 0, result.output
    nlp = spacy.load(table)
    assert nlp.pipe_names == ["ctx_static_vectors"] and nlp.get_pipe("ctx_static_vectors").cfg["weighting"] == "zipf"
    words = {w for path in find_wordsim_sets(shared_data / "wordsim").values() for p in read_word_pairs(path) for w in p[:2]}
    assert all(nlp(w).vector.any() for w in words)
