"""`explore`: the CLI shell over spacy_ctx.displacy.server (what needs no running server)."""
from typer.testing import CliRunner

from spacy_ctx.cli import app

runner = CliRunner()


def test_help_lists_explore_beside_the_other_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "embed", "similarity", "probe", "explore"):
        assert command in result.output


def test_explore_help_names_its_options_and_defaults():
    result = runner.invoke(app, ["explore", "--help"])
    assert result.exit_code == 0
    for option in ("--corpus", "--port", "--host", "--allow-host", "--max-chars", "127.0.0.1", "5000"):
        assert option in result.output


def test_a_bad_corpus_fails_cleanly_before_serving(tmp_path):
    bad = tmp_path / "corpus.parquet"
    bad.write_text("not parquet", encoding="utf8")
    result = runner.invoke(app, ["explore", "default", "--corpus", str(bad)])
    assert result.exit_code == 1
    assert "E513" in " ".join(result.output.split())


def test_binding_every_interface_without_allowed_names_fails_before_serving():
    result = runner.invoke(app, ["explore", "default", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 1
    assert "E526" in " ".join(result.output.split()) and "--allow-host" in result.output
