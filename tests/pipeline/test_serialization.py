"""Saving pipelines and docs: nothing lost, nothing recomputed differently."""
import os
import pickle

import pytest
import spacy
from numpy.testing import assert_allclose, assert_array_equal
from spacy.tokens import DocBin

TEXTS = ["The boat drifted toward the river bank.", "She paid cash at the bank.", ""]


def test_to_disk_and_load_give_identical_vectors(tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe(
        "ctx_encoder",
        config={
            "store_layers": [0, 3, -1],
            "mix": {"layers": None, "initial_weights": [0.5, 0.1, -0.2, 0.0, 0.3, 0.9, 1.2], "gamma": 0.7},
        },
    )
    docs = list(nlp.pipe(TEXTS))
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    encoder = loaded.get_pipe("ctx_encoder")
    assert encoder.store_layers == [0, 3, 6]
    for doc, again in zip(docs, loaded.pipe(TEXTS)):
        assert_array_equal(doc._.ctx_layers, again._.ctx_layers)
        assert_array_equal(doc.tensor, again.tensor)
        assert again._.ctx_layer_ids == [0, 3, 6]


def test_to_bytes_round_trip():
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config={"mix": {"gamma": 3.0}})
    data = nlp.get_pipe("ctx_encoder").to_bytes()
    other = spacy.blank("en")
    other.add_pipe("ctx_encoder").from_bytes(data)
    assert_array_equal(nlp(TEXTS[0]).tensor, other(TEXTS[0]).tensor)


def test_doc_pickles_with_its_layers(nlp):
    doc = nlp(TEXTS[0])
    again = pickle.loads(pickle.dumps(doc))
    assert_array_equal(again._.ctx_layers, doc._.ctx_layers)
    assert_array_equal(again[6].vector, doc[6].vector)
    assert again[6].similarity(doc[6]) == pytest.approx(1.0, abs=1e-6)
    assert again._.ctx_layer_ids == doc._.ctx_layer_ids


def test_plain_docbin_keeps_layers(nlp):
    docs = list(nlp.pipe(TEXTS))
    data = DocBin(docs=docs, store_user_data=True).to_bytes()
    loaded = list(DocBin().from_bytes(data).get_docs(nlp.vocab))
    for doc, again in zip(docs, loaded):
        assert_array_equal(doc._.ctx_layers, again._.ctx_layers)


@pytest.mark.skipif(
    os.environ.get("SPACY_CTX_TEST_GPU") == "1",
    reason="spaCy does not support n_process > 1 on a GPU (W114)",
)
def test_pipe_with_two_processes_is_quiet_and_identical(nlp, capfd):
    texts = TEXTS * 3
    # A batch in this process first: the tokenizer's thread pool is then in
    # use when spaCy forks its workers, which is what made them warn.
    single = list(nlp.pipe(texts, batch_size=len(texts)))
    capfd.readouterr()
    multi = list(nlp.pipe(texts, n_process=2, batch_size=2))
    captured = capfd.readouterr()
    assert "tokenizers" not in captured.err + captured.out
    assert captured.err.strip() == ""
    for a, b in zip(single, multi):
        assert_allclose(a._.ctx_layers, b._.ctx_layers, atol=1e-5)
        assert_allclose(a.tensor, b.tensor, atol=1e-5)
