"""The senses style: ctx_wsd's answers, scores and runners-up (needs WordNet)."""
import pytest
import spacy

from spacy_ctx import displacy
from spacy_ctx.senses.corpus import create_wsd_corpus_reader

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def wsd_nlp(shared_data, root):
    """The default encoder and a ctx_wsd initialised on corpus/wsd-train (LMMS-style, no updates)."""
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder")
    nlp.add_pipe("ctx_wsd", config={"wordnet_path": str(shared_data / "wordnet30" / "dict")})
    train = list(create_wsd_corpus_reader(root / "corpus" / "wsd-train.spacy")(nlp))
    nlp.initialize(lambda: train)
    return nlp


def test_senses_show_the_stored_answer_its_score_and_the_runner_up(wsd_nlp):
    docs = list(wsd_nlp.pipe(["She paid the cheque in at the bank.", "The boat drifted toward the river bank."]))
    view = displacy.compute(docs, "senses", {"nlp": wsd_nlp})
    (panel,) = view.panels
    rows = {row: values for row, values in zip(panel.rows, panel.values)}
    ranked = wsd_nlp.get_pipe("ctx_wsd").rank(docs)
    assert len(rows) == sum(len(r) for r in ranked) > 0
    for d, doc in enumerate(docs):
        for span in doc.spans["wsd"]:
            label = displacy.views.token_label(doc, span.start, d)
            sense, gloss, score, second, _, second_score = rows[label]
            assert sense == span.label_ == doc[span.start]._.sense
            assert score == doc[span.start]._.sense_score
            if second:
                assert second_score <= score and second != sense
    bank = rows[displacy.views.token_label(docs[0], 7, 0)]
    assert bank[1]  # a gloss from WordNet
    html = displacy.render(docs, "senses", {"nlp": wsd_nlp}, jupyter=False)
    assert f'data-value="{bank[2]!r}"' in html
