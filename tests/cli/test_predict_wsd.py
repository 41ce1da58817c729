"""The predict-wsd command: framework key files that score as the pipeline's scorer does, and its errors."""
import pytest
import spacy
from spacy.training import Example

from spacy_ctx.senses.scoring import score_wsd

from ..util import dev_docs

pytestmark = pytest.mark.data


def test_predict_wsd_cli_writes_framework_keys(trained_wsd, wsd_corpus, root, tmp_path):
    from typer.testing import CliRunner

    from spacy_ctx.cli import app
    from spacy_ctx.senses.raganato import read_gold_keys
    from spacy_ctx.senses.scoring import score_keys

    nlp, _ = trained_wsd
    nlp.to_disk(tmp_path / "wsd")
    data = root / "corpus" / "wsd-dev.data.xml"
    result = CliRunner().invoke(app, ["predict-wsd", str(tmp_path / "wsd"), str(data)])
    assert result.exit_code == 0, result.output
    lines = [line.split() for line in result.stdout.strip().splitlines()]
    assert lines and all(len(parts) == 2 for parts in lines)
    predicted = dict(lines)
    gold = read_gold_keys(root / "corpus" / "wsd-dev.gold.key.txt")
    assert set(predicted) <= set(gold)
    # Each key is a candidate of its instance's lemma and POS.
    wsd = nlp.get_pipe("ctx_wsd")
    assert all(key in wsd.candidates(lemma, pos) for lemma, pos, key in _lemma_keys(data, predicted))
    # The key file scores as the in-pipeline scorer does on the same data.
    docs, examples = dev_docs(nlp, wsd_corpus)
    in_pipeline = score_wsd([Example(d, eg.reference) for d, eg in zip(docs, examples)])
    assert score_keys(gold, predicted)["f"] == pytest.approx(in_pipeline["wsd_f"], abs=1e-6)


def _lemma_keys(data, predicted):
    from spacy_ctx.senses.raganato import read_raganato

    for sent in read_raganato(data):
        for inst in sent.instances:
            if inst.id in predicted:
                yield inst.lemma, inst.pos, predicted[inst.id]


def test_predict_wsd_cli_without_ctx_wsd_is_a_clear_error(root, tmp_path):
    from typer.testing import CliRunner

    from spacy_ctx.cli import app

    spacy.blank("en").to_disk(tmp_path / "blank")
    data = root / "corpus" / "wsd-dev.data.xml"
    result = CliRunner().invoke(app, ["predict-wsd", str(tmp_path / "blank"), str(data)])
    assert result.exit_code == 1
    assert "E104" in result.output and "Traceback" not in result.output
