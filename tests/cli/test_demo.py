"""The demo command: "bank" gets a different vector in each sense."""
import re
import shlex

import pytest

from typer.testing import CliRunner

from spacy_ctx.analysis.polysemy import DEMO_SENTENCES, sense_demo
from spacy_ctx.cli import app


runner = CliRunner()


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


def test_demo_layers_match_the_pipeline(nlp):
    result = sense_demo(nlp)
    top = result["layers"][-1]
    # The default inference mix is the top layer: the matrix's means are that row's.
    assert top["same_sense"] == pytest.approx(result["same_sense"], abs=1e-5)
    assert top["cross_sense"] == pytest.approx(result["cross_sense"], abs=1e-5)
    for row in result["layers"]:
        b = row["baseline"]
        assert row["same_adjusted"] == pytest.approx((row["same_sense"] - b) / (1 - b))
        assert 0 < b < row["cross_sense"]
