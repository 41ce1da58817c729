"""The anisotropy command end to end: raw and corrected measures, the polysemy AUC change, its errors."""
import pytest
import srsly
from typer.testing import CliRunner

from spacy_ctx.cli import app


def test_anisotropy_cli(analysis_data, tmp_path):
    out = tmp_path / "aniso"
    args = ["anisotropy", "default", str(analysis_data / "sample.spacy"), str(out), "-c", "none,center,abtt", "--min-count", "3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = srsly.read_json(out / "anisotropy.json")
    assert set(data["anisotropy"]) == {"none", "center", "abtt"}
    raw, centered = data["anisotropy"]["none"]["layer3"], data["anisotropy"]["center"]["layer3"]
    assert raw["random_pair_cosine"] > 0.1  # MiniLM is anisotropic...
    assert abs(centered["random_pair_cosine"]) < 0.05  # ...centering fixes it
    assert data["polysemy"]["none"]["mix"]["n_lemmas"] == 1
    change = data["polysemy"]["abtt"]["mix"]
    assert change["auc_change"] == pytest.approx(change["auc"] - data["polysemy"]["none"]["mix"]["auc"])
    assert change["auc_change_lo"] <= change["auc_change_hi"]
    md = (out / "anisotropy.md").read_text()
    assert "### Anisotropy: abtt" in md and "auc change [95% CI]" in md
    assert (out / "anisotropy.png").read_bytes()[:4] == b"\x89PNG"


def test_anisotropy_cli_rejects_unknown_correction(analysis_data, tmp_path):
    args = ["anisotropy", "default", str(analysis_data / "sample.txt"), str(tmp_path), "-c", "pca"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "A011" in result.output
