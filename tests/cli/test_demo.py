"""The demo command: "bank" gets a different vector in each sense."""
import re

from typer.testing import CliRunner

from spacy_ctx.cli import app


runner = CliRunner()


def test_demo_shows_polysemy():
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    line = next(l for l in result.output.splitlines() if "same-sense" in l)
    same, cross = [float(x) for x in re.findall(r"\d\.\d{3}", line)]
    assert same > cross
