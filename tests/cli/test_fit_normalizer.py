"""The fit-normalizer command: a fitted correction saved with the pipeline, reloaded, and its override checks."""
import numpy
import pytest
import spacy
from numpy.testing import assert_allclose
from typer.testing import CliRunner

from spacy_ctx.cli import app

runner = CliRunner()


def test_fit_normalizer_cli_and_round_trip(analysis_data, tmp_path):
    out = tmp_path / "pipeline"
    args = ["fit-normalizer", "default", str(analysis_data / "sample.txt"), str(out), "--method", "abtt", "-D", "2"]
    # A threshold no layer is under: nothing is left raw; the saved pipeline
    # keeps the setting.
    result = CliRunner().invoke(app, args + ["--skip-below", "-1"])
    assert result.exit_code == 0, result.output
    assert "left as they are" not in result.output
    nlp = spacy.load(out)
    assert nlp.get_pipe("ctx_encoder").normalizer.skip_below == -1.0
    assert nlp.config["components"]["ctx_encoder"]["normalize"] is True
    encoder = nlp.get_pipe("ctx_encoder")
    norm = encoder.normalizer
    assert norm.method == "abtt" and "mix" in norm.keys and "layer6" in norm.keys
    doc = nlp("She sat on the bank of the river.")
    raw = encoder.mix.predict(encoder.predict([doc]))[0]
    corrected = norm.transform(raw, "mix")
    # The normalizer corrects the mix, which docs and spans read.
    assert_allclose(doc.tensor, corrected, atol=1e-5)
    assert_allclose(doc.vector, corrected.mean(axis=0), atol=1e-5)
    assert_allclose(doc[3:5]._.ctx_vector, corrected[3:5].mean(axis=0), atol=1e-5)
    span, other = corrected[3:5].mean(axis=0), corrected[6:8].mean(axis=0)
    cos = span @ other / numpy.linalg.norm(span) / numpy.linalg.norm(other)
    assert doc[3:5].similarity(doc[6:8]) == pytest.approx(float(cos), abs=1e-5)
    assert not numpy.allclose(doc.tensor, raw, atol=1e-3)
    # Token vectors read the token mix (layers 2 and 6), which it corrects with a fit of its own.
    assert "token_mix" in norm.keys
    raw_tokens = doc._.ctx_layers[[2, 6]].mean(axis=0)
    assert_allclose(doc[4].vector, norm.transform(raw_tokens, "token_mix")[4], atol=1e-5)
    assert not numpy.allclose(doc[4].vector, raw_tokens[4], atol=1e-3)
    # A normalizer fitted before the token mix existed leaves token vectors raw.
    del norm.params["token_mix"]
    assert_allclose(nlp(doc.text)[4].vector, raw_tokens[4], atol=1e-5)
    # Save again and reload: the same normalizer, the same vectors.
    nlp.to_disk(tmp_path / "again")
    nlp2 = spacy.load(tmp_path / "again")
    assert_allclose(nlp2.get_pipe("ctx_encoder").normalizer.params["mix"]["components"], norm.params["mix"]["components"])
    assert_allclose(nlp2(doc.text).tensor, doc.tensor, atol=1e-5)


def test_fit_normalizer_overrides_of_the_default_pipeline_are_checked(similarity_files):
    result = runner.invoke(app, [
        "fit-normalizer", "default", str(similarity_files["fit"]), str(similarity_files["root"] / "x"), "--nlp.batch_size", "8",
    ])
    assert result.exit_code == 1
    assert "E071" in result.output and "nlp.batch_size" in result.output
