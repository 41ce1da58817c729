"""The demo command: "bank" gets a different vector in each sense."""
import os
import re
import shlex
from pathlib import Path

import numpy
import pytest

from typer.testing import CliRunner

from spacy_ctx.analysis.polysemy import DEMO_SENTENCES, sense_demo
from spacy_ctx.cli import app
from spacy_ctx.pipeline.loading import load_pipeline


runner = CliRunner()
# `bash ../shared/models/all-mpnet-base-v2.sh` assembles it there.
MPNET = Path(os.environ.get("SPACY_CTX_MPNET", "/root/.cache/spacy-ctx-models/all-mpnet-base-v2"))


def test_demo_shows_polysemy():
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    line = next(l for l in result.output.splitlines() if "same-sense" in l)
    same, cross = [float(x) for x in re.findall(r"\d\.\d{3}", line)]
    assert same > cross + 0.05
    # One row per layer: layer, same, cross, gap, baseline, adjusted same and cross.
    rows = [l.split() for l in result.output.splitlines() if re.match(r"^\s+\d\s+\d\.\d{3}", l)]
    assert [int(r[0]) for r in rows] == list(range(7))
    gaps = [float(r[3]) for r in rows]
    # The input embedding gives "bank" one vector; context separates the senses above it.
    assert abs(gaps[0]) < 0.01 and min(gaps[2:]) > 0.05
    # Last, the one command that opens the sense map of the same sentences.
    args = shlex.split(result.output.strip().splitlines()[-1])
    assert args[:4] == ["python", "-m", "spacy_ctx", "explore"]
    assert args[args.index("--word") + 1] == "bank"
    assert [args[k + 1] for k, arg in enumerate(args) if arg == "--text"] == [text for _, text, _ in DEMO_SENTENCES]
    # explore takes those options (it stops before serving: 0.0.0.0 needs --allow-host).
    stopped = runner.invoke(app, args[3:] + ["--host", "0.0.0.0"])
    assert stopped.exit_code == 1 and "E526" in stopped.output


def test_demo_matrix_is_token_similarity_of_the_token_mix(nlp):
    """The matrix is token.similarity, which reads the token mix: on MiniLM
    the mean of layers 2 and 6, computed here from the stored layers."""
    result = sense_demo(nlp)
    vectors = []
    for _, text, word in DEMO_SENTENCES:
        doc = nlp(text)
        i = next(t.i for t in doc if t.lower_ == word)
        vectors.append((doc._.ctx_layers[2, i] + doc._.ctx_layers[6, i]) / 2)
    U = numpy.stack(vectors) / numpy.linalg.norm(vectors, axis=1, keepdims=True)
    numpy.testing.assert_allclose(result["similarity"], U @ U.T, atol=1e-5)
    for row in result["layers"]:
        b = row["baseline"]
        assert row["same_adjusted"] == pytest.approx((row["same_sense"] - b) / (1 - b))
        assert 0 < b < row["cross_sense"]


def _layer_rows(output: str):
    return [l.split() for l in output.splitlines() if re.match(r"^\s+\d+\s+-?\d\.\d{3}", l)]


def test_demo_hf_model_runs_that_encoder(tiny_model):
    """--hf-model puts the encoder in a blank pipeline: one table row per
    layer of that encoder (hidden layers + the input embedding)."""
    from spacy_ctx.testing import N_LAYERS

    directory = tiny_model("mpnet")
    result = runner.invoke(app, ["demo", "--hf-model", str(directory)])
    assert result.exit_code == 0, result.output
    assert f"Encoder: {directory}" in result.output
    assert [int(r[0]) for r in _layer_rows(result.output)] == list(range(N_LAYERS + 1))
    # The matrix is the pipeline's own: the same figures as sense_demo on it.
    expected = sense_demo(load_pipeline("default", overrides={"components.ctx_encoder.model.name": str(directory)}))
    line = next(l for l in result.output.splitlines() if "same-sense" in l)
    assert f"{expected['same_sense']:.3f} vs cross-sense {expected['cross_sense']:.3f}" in line
    assert f"explore DIR --word bank" in result.output


def test_demo_hf_model_refuses_a_saved_pipeline(tiny_model, tmp_path):
    result = runner.invoke(app, ["demo", "--model", str(tmp_path), "--hf-model", str(tiny_model("mpnet"))])
    assert result.exit_code == 1 and "E072" in result.output


@pytest.mark.skipif(not MPNET.exists(), reason=f"the real all-mpnet-base-v2 is not at {MPNET}")
def test_demo_on_the_real_mpnet():
    """On a 12-layer base-size encoder: 13 rows, the input embedding gives
    "bank" one vector, and the senses part in the layers above."""
    result = runner.invoke(app, ["demo", "--hf-model", str(MPNET)])
    assert result.exit_code == 0, result.output
    rows = _layer_rows(result.output)
    assert [int(r[0]) for r in rows] == list(range(13))
    gaps = [float(r[3]) for r in rows]
    assert abs(gaps[0]) < 0.01 and max(gaps[1:]) > 0.05
    line = next(l for l in result.output.splitlines() if "same-sense" in l)
    same, cross = [float(x) for x in re.findall(r"\d\.\d{3}", line)]
    assert same > cross
