"""spacy_ctx.senses.corpus: the corpus reader gives gold input without the senses."""
import pytest

from spacy_ctx.senses.corpus import with_gold_input

pytestmark = pytest.mark.data


def test_corpus_reader_gives_gold_input_without_senses(trained_wsd, wsd_corpus):
    nlp, _ = trained_wsd
    eg = next(iter(wsd_corpus["train"](nlp)))
    assert [t.lemma_ for t in eg.predicted] == [t.lemma_ for t in eg.reference]
    assert all(s.label_ == "" and s.id_ for s in eg.predicted.spans["wsd"])
    assert {s.id_ for s in eg.predicted.spans["wsd"]} == {s.id_ for s in eg.reference.spans["wsd"]}
    assert with_gold_input(eg.reference).text == eg.reference.text
