"""The Raganato reader/writer, the WSD scores and the WordNet inventory."""
import io

import pytest
import spacy
from spacy.tokens import DocBin
from spacy.training import Example
from typer.testing import CliRunner

from spacy_ctx.senses import (
    doc_to_instances,
    read_gold_keys,
    read_raganato,
    sentence_to_doc,
    write_keys,
)
from spacy_ctx.senses.scoring import score_keys, score_wsd

SAMPLE_XML = """<?xml version="1.0" encoding="UTF-8" ?>
<corpus lang="en" source="test">
<text id="d000">
<sentence id="d000.s000">
<wf lemma="she" pos="PRON">She</wf>
<instance id="d000.s000.t000" lemma="deposit" pos="VERB">deposited</instance>
<wf lemma="the" pos="DET">the</wf>
<instance id="d000.s000.t001" lemma="money" pos="NOUN">money</instance>
<wf lemma="in" pos="ADP">in</wf>
<instance id="d000.s000.t002" lemma="new_york" pos="NOUN">New York</instance>
<wf lemma="." pos=".">.</wf>
</sentence>
<sentence id="d000.s001">
<wf lemma="price" pos="NOUN">Prices</wf>
<instance id="d000.s001.t000" lemma="rise" pos="VERB">rose</instance>
<instance id="d000.s001.t001" lemma="quickly" pos="ADV">quickly</instance>
</sentence>
</text>
</corpus>
"""
SAMPLE_KEYS = """d000.s000.t000 deposit%2:40:00::
d000.s000.t001 money%1:21:00::
d000.s000.t002 new_york%1:15:01::
d000.s001.t000 rise%2:30:00::
d000.s001.t001 quickly%4:02:00:: quickly%4:02:02::
"""


@pytest.fixture
def sample(tmp_path):
    data, gold = tmp_path / "s.data.xml", tmp_path / "s.gold.key.txt"
    data.write_text(SAMPLE_XML, encoding="utf8")
    gold.write_text(SAMPLE_KEYS, encoding="utf8")
    return data, gold


def test_reader_tokens_lemmas_instances(sample):
    sentences = list(read_raganato(*sample))
    assert [s.id for s in sentences] == ["d000.s000", "d000.s001"]
    first = sentences[0]
    assert first.words == ["She", "deposited", "the", "money", "in", "New", "York", "."]
    assert first.lemmas[5:7] == ["new_york", "new_york"]
    york = first.instances[2]
    assert (york.id, york.start, york.end, york.keys) == ("d000.s000.t002", 5, 7, ["new_york%1:15:01::"])
    assert sentences[1].instances[1].keys == ["quickly%4:02:00::", "quickly%4:02:02::"]


def test_docbin_round_trip_gives_back_the_key_file(sample):
    nlp = spacy.blank("en")
    docs = [sentence_to_doc(nlp.vocab, s) for s in read_raganato(*sample)]
    data = DocBin(docs=docs, store_user_data=True).to_bytes()
    loaded = list(DocBin().from_bytes(data).get_docs(spacy.blank("en").vocab))
    doc = loaded[0]
    assert [t.lemma_ for t in doc][:2] == ["she", "deposit"]
    assert [t.pos_ for t in doc][:2] == ["PRON", "VERB"]
    york = [s for s in doc.spans["wsd"] if s.id_ == "d000.s000.t002"]
    assert len(york) == 1 and york[0].text == "New York" and len(york[0]) == 2
    # Two gold keys: two spans with the same id and tokens.
    quickly = [s for s in loaded[1].spans["wsd"] if s.id_ == "d000.s001.t001"]
    assert sorted(s.label_ for s in quickly) == ["quickly%4:02:00::", "quickly%4:02:02::"]
    out = io.StringIO()
    n = write_keys(((iid, keys) for d in loaded for iid, keys, _ in doc_to_instances(d)), out)
    assert n == 5
    assert out.getvalue() == SAMPLE_KEYS


def test_spans_survive_example_alignment(sample):
    nlp = spacy.blank("en")
    ref = sentence_to_doc(nlp.vocab, next(read_raganato(*sample)))
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


def test_write_keys_skips_unanswered(tmp_path):
    path = tmp_path / "k.txt"
    assert write_keys([("a", "k1"), ("b", None), ("c", [])], path) == 1
    assert read_gold_keys(path) == {"a": ["k1"]}


def test_convert_wsd_cli(sample, tmp_path):
    from spacy_ctx.cli import app

    out = tmp_path / "out.spacy"
    result = CliRunner().invoke(app, ["convert-wsd", str(sample[0]), str(sample[1]), str(out)])
    assert result.exit_code == 0, result.output
    docs = list(DocBin().from_disk(out).get_docs(spacy.blank("en").vocab))
    assert len(docs) == 2
    assert {s.id_ for s in docs[0].spans["wsd"]} == {"d000.s000.t000", "d000.s000.t001", "d000.s000.t002"}


# The WordNet inventory (needs ../shared/data/wordnet30)


@pytest.fixture(scope="module")
def inventory(shared_data):
    from spacy_ctx.senses.wordnet import get_inventory

    return get_inventory(shared_data / "wordnet30" / "dict")


@pytest.mark.data
def test_candidates_in_frequency_order(inventory):
    keys = inventory.candidates("bank", "NOUN")
    assert keys[:2] == ("bank%1:17:01::", "bank%1:14:00::")
    assert len(keys) == 10
    counts = [inventory.count(k) for k in keys]
    assert counts[0] >= counts[1] >= counts[-1]
    # Adjectives include satellites; an unknown POS has no candidates.
    assert "good%5:00:00:ample:00" in inventory.candidates("good", "ADJ")
    assert inventory.candidates("the", "DET") == ()
    assert inventory.candidates("", "NOUN") == ()


@pytest.mark.data
def test_candidates_morphy_and_multiword(inventory):
    assert inventory.candidates("primary election", "NOUN") == ("primary_election%1:04:00::",)
    assert inventory.candidates("geese", "NOUN")[0].startswith("goose%1:")


@pytest.mark.data
def test_glosses_and_relations(inventory):
    assert inventory.gloss("bank%1:14:00::").startswith("a financial institution")
    hypernyms = {s.name() for s in inventory.related("bank%1:14:00::")}
    assert "financial_institution.n.01" in hypernyms
    assert inventory.lexname("bank%1:14:00::") == "noun.group"
    assert inventory.key_lemma_pos("good%5:00:00:ample:00") == ("good", "s")
    # Capitalised WordNet lemmas (nltk's lemma_from_key misses them) resolve too.
    sun = inventory.lemma("sun%1:17:02::")
    assert sun is not None and sun.name() == "Sun" and sun.synset().name() == "sun.n.01"
    assert inventory.gloss_text("sun%1:17:02::").startswith("sun, Sun - the star that is the source of light")


def test_bad_wordnet_path_is_a_clear_error(tmp_path):
    from spacy_ctx.senses.wordnet import WordNetInventory

    with pytest.raises(ValueError, match="E101"):
        WordNetInventory(tmp_path / "nowhere")
