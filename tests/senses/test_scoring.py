"""spacy_ctx.senses.scoring: the framework's P/R/F of key files, and spans matched by characters."""
import pytest
import spacy
from spacy.training import Example

from spacy_ctx.senses import read_raganato, sentence_to_doc
from spacy_ctx.senses.scoring import score_keys, score_wsd


def test_spans_survive_example_alignment(raganato_sample):
    nlp = spacy.blank("en")
    ref = sentence_to_doc(nlp.vocab, next(read_raganato(*raganato_sample)))
    # A differently tokenised prediction: the scorer matches by characters.
    pred = nlp.make_doc(ref.text.replace("New York", "New York"))
    pred.spans["wsd"] = [
        pred.char_span(s.start_char, s.end_char, label=s.label_, span_id=s.id_)
        for s in ref.spans["wsd"]
    ]
    scores = score_wsd([Example(pred, ref)])
    assert scores["wsd_f"] == 1.0 and scores["spans_wsd_f"] == 1.0


def test_score_keys_framework_definitions():
    gold = {"a": ["k1"], "b": ["k2", "k3"], "c": ["k4"], "d": ["k5"]}
    scores = score_keys(gold, {"a": "k1", "b": "k3", "c": "wrong", "x": "k9"})
    # 3 answered of 4, 2 correct: P = 2/3, R = 2/4.
    assert scores["p"] == pytest.approx(2 / 3)
    assert scores["r"] == pytest.approx(0.5)
    assert scores["f"] == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))


def test_score_keys_splits_first_and_other_senses():
    gold = {"a": ["bank%1:14:00::"], "b": ["bank%1:17:01::"], "c": ["bank%1:17:01::", "bank%1:14:00::"], "d": ["x%1"]}
    first = {"bank%1:14:00::", "x%1"}.__contains__
    predicted = {"a": "bank%1:14:00::", "b": "bank%1:14:00::", "c": "bank%1:17:01::", "d": "x%2"}
    scores = score_keys(gold, predicted, first_sense=first)
    # MFS: a (right), c (a gold key is the first sense; right), d (wrong); LFS: b (wrong).
    assert (scores["mfs_total"], scores["lfs_total"]) == (3, 1)
    assert scores["mfs_f"] == pytest.approx(2 / 3)
    assert scores["lfs_f"] == 0.0
    assert scores["f"] == pytest.approx(0.5)
    assert "mfs_f" not in score_keys(gold, predicted)


def test_score_wsd_splits_by_the_inventorys_first_sense(raganato_sample):
    nlp = spacy.blank("en")
    ref = sentence_to_doc(nlp.vocab, next(read_raganato(*raganato_sample)))
    pred = nlp.make_doc(ref.text)
    pred.spans["wsd"] = [pred.char_span(s.start_char, s.end_char, label=s.label_) for s in ref.spans["wsd"]]
    labels = {s.label_ for s in ref.spans["wsd"]}
    first = sorted(labels)[0]
    scores = score_wsd([Example(pred, ref)], first_sense=first.__eq__)
    assert scores["wsd_mfs_f"] == scores["wsd_lfs_f"] == scores["wsd_f"] == 1.0
    pred.spans["wsd"] = [pred.char_span(s.start_char, s.end_char, label="wrong") if s.label_ == first else
                         pred.char_span(s.start_char, s.end_char, label=s.label_) for s in ref.spans["wsd"]]
    scores = score_wsd([Example(pred, ref)], first_sense=first.__eq__)
    assert scores["wsd_mfs_f"] == 0.0 and scores["wsd_lfs_f"] == 1.0
