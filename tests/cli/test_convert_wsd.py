"""The convert-wsd command: Raganato XML and keys to a DocBin with the senses in doc.spans["wsd"]."""
import spacy
from spacy.tokens import DocBin
from typer.testing import CliRunner


def test_convert_wsd_cli(raganato_sample, tmp_path):
    from spacy_ctx.cli import app

    out = tmp_path / "out.spacy"
    result = CliRunner().invoke(app, ["convert-wsd", str(raganato_sample[0]), str(raganato_sample[1]), str(out)])
    assert result.exit_code == 0, result.output
    docs = list(DocBin().from_disk(out).get_docs(spacy.blank("en").vocab))
    assert len(docs) == 2
    assert {s.id_ for s in docs[0].spans["wsd"]} == {"d000.s000.t000", "d000.s000.t001", "d000.s000.t002"}
