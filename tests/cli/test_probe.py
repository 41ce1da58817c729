"""The probe command end to end with the real MiniLM on template data."""
import srsly
from typer.testing import CliRunner

from spacy_ctx.cli import app


def test_probe_cli(analysis_data, tmp_path):
    out = tmp_path / "probe"
    result = CliRunner().invoke(app, ["probe", "default", str(analysis_data / "sample.spacy"), str(out), "--test-fraction", "0.3"])
    assert result.exit_code == 0, result.output
    report = srsly.read_json(out / "probe.json")
    assert set(report["properties"]) == {"upos", "xpos", "ner", "dep", "sense"}
    upos = report["properties"]["upos"]
    assert list(upos["accuracy"]) == [f"layer{i}" for i in range(7)] + ["mix"]
    # Template data: a linear probe on the mix gets nearly every tag right.
    assert upos["accuracy"]["mix"] > 0.9 > upos["baseline"]
    assert "| upos |" in (out / "probe.md").read_text()
    assert (out / "probe.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
