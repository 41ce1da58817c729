"""The similarity and distill-static commands end to end, on tiny files
written here, and the recommended sentence-similarity recipe: mix of the
top layer + an abtt normalizer, saved, reloaded and scored."""
import json

import numpy
import pytest
import spacy
from scipy.stats import spearmanr
from typer.testing import CliRunner

from spacy_ctx.cli import app

runner = CliRunner()
STS = [
    ("A man is playing a guitar.", "A man plays the guitar.", 4.8),
    ("A cat sleeps on the sofa.", "The stock market fell sharply.", 0.2),
    ("A woman is cooking dinner.", "A woman is slicing an onion.", 2.6),
    ("The river bank flooded.", "She put money in the bank.", 0.8),
    ("Two dogs run in a field.", "Two dogs are running through grass.", 4.2),
    ("A child rides a horse.", "A kid is riding a pony.", 4.0),
]
FIT = [
    "The weather is nice today.", "Nobody came to the party.", "A dog barks at the mailman.",
    "Prices rose again this year.", "He reads a book on the train.", "The band played all night.",
]
WORDS = [("bank", "money", 5.0), ("river", "bank", 6.0), ("guitar", "river", 0.5), ("dog", "cat", 7.0), ("money", "dog", 1.0)]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("similarity")
    sts = root / "sts.csv"
    sts.write_text("".join(f"g\tf\t2012\t{i}\t{g}\t{a}\t{b}\n" for i, (a, b, g) in enumerate(STS)), encoding="utf8")
    fit = root / "fit.txt"
    fit.write_text("\n".join(FIT) + "\n", encoding="utf8")
    wordsim = root / "wordsim"
    wordsim.mkdir()
    (wordsim / "EN-SIMLEX-999.txt").write_text("".join(f"{a}\t{b}\t{g}\n" for a, b, g in WORDS), encoding="utf8")
    texts = root / "texts.txt"
    texts.write_text("\n".join(a + " " + b for a, b, _ in STS) + "\nA dog and a cat.\n", encoding="utf8")
    return {"root": root, "sts": sts, "fit": fit, "wordsim": wordsim, "texts": texts}


def test_distill_static_then_similarity(files):
    table = files["root"] / "table"
    result = runner.invoke(
        app, ["distill-static", "default", str(files["texts"]), str(table), "--layer", "-1", "--method", "pca"]
    )
    assert result.exit_code == 0, result.output
    vectors = spacy.load(table).vocab.vectors
    assert vectors.shape[1] == 384 and json.loads((table / "distill.json").read_text())["key"] == "layer6"
    out = files["root"] / "out"
    result = runner.invoke(app, [
        "similarity", "default", "--stsb", str(files["sts"]), "--fit-data", str(files["fit"]),
        "--corrections", "center", "--wordsim", str(files["wordsim"]),
        "--vectors", f"top={table}", "-o", str(out),
    ])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "similarity.json").read_text())
    assert (out / "similarity.png").stat().st_size > 0 and "STS-B" in (out / "similarity.md").read_text()
    assert set(report["sts"]["rows"]) == {"mean", "first wordpiece", "center"}
    # The pipeline row is doc.similarity of the default pipeline.
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder")
    sims = [nlp(a).similarity(nlp(b)) for a, b, _ in STS]
    expected = 100 * spearmanr([g for _, _, g in STS], sims)[0]
    assert report["sts"]["pipeline"]["score"] == pytest.approx(expected, abs=0.01)
    words = report["words"]["rows"]
    assert words["top"]["SimLex-999"]["coverage"] == 1.0  # every word occurs in texts.txt
    assert words["isolation layer0"]["SimLex-999"]["n"] == len(WORDS)


def test_recommended_sentence_similarity_recipe(files):
    """`fit-normalizer default ... --method abtt -D 1 --mix-only
    --components.ctx_encoder.mix.layers [-1]`: the saved pipeline's
    doc.similarity is the abtt row of the top layer."""
    fitted = files["root"] / "top_abtt"
    result = runner.invoke(app, [
        "fit-normalizer", "default", str(files["fit"]), str(fitted), "--method", "abtt", "-D", "1", "--mix-only",
        "--components.ctx_encoder.mix.layers", "[-1]",
    ])
    assert result.exit_code == 0, result.output
    out = files["root"] / "out_abtt"
    result = runner.invoke(app, [
        "similarity", str(fitted), "--stsb", str(files["sts"]), "--fit-data", str(files["fit"]),
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



def test_fit_normalizer_overrides_of_the_default_pipeline_are_checked(files):
    result = runner.invoke(app, [
        "fit-normalizer", "default", str(files["fit"]), str(files["root"] / "x"), "--nlp.batch_size", "8",
    ])
    assert result.exit_code == 1
    assert "E071" in result.output and "nlp.batch_size" in result.output

def test_similarity_needs_a_benchmark():
    result = runner.invoke(app, ["similarity", "default"])
    assert result.exit_code == 1
    assert "E300" in result.output
