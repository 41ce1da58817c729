"""spacy_ctx.senses.raganato: the Raganato XML/key reader and writer, and the DocBin round trip."""
import io

import spacy
from spacy.tokens import DocBin

from spacy_ctx.senses import (
    doc_to_instances,
    read_gold_keys,
    read_raganato,
    sentence_to_doc,
    write_keys,
)

from ..util import RAGANATO_KEYS


def test_reader_tokens_lemmas_instances(raganato_sample):
    sentences = list(read_raganato(*raganato_sample))
    assert [s.id for s in sentences] == ["d000.s000", "d000.s001"]
    first = sentences[0]
    assert first.words == ["She", "deposited", "the", "money", "in", "New", "York", "."]
    assert first.lemmas[5:7] == ["new_york", "new_york"]
    york = first.instances[2]
    assert (york.id, york.start, york.end, york.keys) == ("d000.s000.t002", 5, 7, ["new_york%1:15:01::"])
    assert sentences[1].instances[1].keys == ["quickly%4:02:00::", "quickly%4:02:02::"]


def test_docbin_round_trip_gives_back_the_key_file(raganato_sample):
    nlp = spacy.blank("en")
    docs = [sentence_to_doc(nlp.vocab, s) for s in read_raganato(*raganato_sample)]
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
    assert out.getvalue() == RAGANATO_KEYS


def test_write_keys_skips_unanswered(tmp_path):
    path = tmp_path / "k.txt"
    assert write_keys([("a", "k1"), ("b", None), ("c", [])], path) == 1
    assert read_gold_keys(path) == {"a": ["k1"]}
