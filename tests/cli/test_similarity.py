"""The similarity command: the recommended sentence-similarity recipe (top layer + abtt) scored, and its errors."""
import json

import numpy
import pytest
import spacy
from typer.testing import CliRunner

from spacy_ctx.cli import app


runner = CliRunner()


def test_recommended_sentence_similarity_recipe(similarity_files):
    """`fit-normalizer default ... --method abtt -D 1 --mix-only
    --components.ctx_encoder.mix.layers [-1]`: the saved pipeline's
    doc.similarity is the abtt row of the top layer."""
    fitted = similarity_files["root"] / "top_abtt"
    result = runner.invoke(app, [
        "fit-normalizer", "default", str(similarity_files["fit"]), str(fitted), "--method", "abtt", "-D", "1", "--mix-only",
        "--components.ctx_encoder.mix.layers", "[-1]",
    ])
    assert result.exit_code == 0, result.output
    out = similarity_files["root"] / "out_abtt"
    result = runner.invoke(app, [
        "similarity", str(fitted), "--stsb", str(similarity_files["sts"]), "--fit-data", str(similarity_files["fit"]),
        "--corrections", "abtt", "-D", "1", "-o", str(out),
    ])
    assert result.exit_code == 0, result.output
    sts = json.loads((out / "similarity.json").read_text())["sts"]
    assert sts["pipeline"]["normalizer"] == "abtt, n_components=1" and sts["pipeline"]["mix_layers"] == [6]
    assert sts["pipeline"]["score"] == pytest.approx(sts["rows"]["abtt"]["layer6"], abs=0.01)
    assert sts["pipeline"]["score"] == pytest.approx(sts["rows"]["abtt"]["mix"], abs=0.01)
    # And the normalizer really acts: the corrected space differs from the raw one.
    loaded = spacy.load(fitted)
    doc = loaded("A man plays the guitar.")
    assert not numpy.allclose(doc.vector, doc._.ctx_layers[6].mean(axis=0))


def test_similarity_needs_a_benchmark():
    result = runner.invoke(app, ["similarity", "default"])
    assert result.exit_code == 1
    assert "E300" in result.output
