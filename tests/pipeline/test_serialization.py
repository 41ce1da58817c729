"""Saving pipelines and docs: nothing lost, nothing recomputed differently."""
import os
import pickle

import numpy
import pytest
import spacy
import srsly
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
    config = {"mix": {"gamma": 3.0}}
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config=config)
    data = nlp.get_pipe("ctx_encoder").to_bytes()
    other = spacy.blank("en")
    other.add_pipe("ctx_encoder", config=config).from_bytes(data)
    assert_array_equal(nlp(TEXTS[0]).tensor, other(TEXTS[0]).tensor)
    assert_array_equal(nlp(TEXTS[0])._.ctx_token_mix, other(TEXTS[0])._.ctx_token_mix)


def test_trained_mix_weights_come_back_when_the_config_keeps_its_layers(tmp_path):
    """The saved mix's parameters (here set by hand, as training would) load
    when the config's mix settings are the ones it was saved with."""
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config={"mix": {"layers": [2, -1]}})
    mix = nlp.get_pipe("ctx_encoder").mix
    nlp.get_pipe("ctx_encoder").load_model()
    mix.set_param("weights", numpy.asarray([0.0, numpy.log(3.0)], dtype="f"))  # softmax: 1/4, 3/4
    nlp.to_disk(tmp_path / "pipeline")
    doc = spacy.load(tmp_path / "pipeline")(TEXTS[0])
    layers = doc._.ctx_layers
    assert_allclose(doc.tensor, 0.25 * layers[2] + 0.75 * layers[6], atol=1e-5)


@pytest.mark.parametrize("load", ["disk", "bytes"])
def test_mix_layers_override_of_a_saved_pipeline_takes_effect(tmp_path, load):
    """spacy.load(path, config=...) changes the layers doc.tensor mixes: the
    config, not the saved mix, says which layers it reads."""
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder")
    nlp.to_disk(tmp_path / "pipeline")
    overrides = {"components": {"ctx_encoder": {"mix": {"layers": [4]}}}}
    loaded = spacy.load(tmp_path / "pipeline", config=overrides)
    if load == "bytes":
        loaded.get_pipe("ctx_encoder").from_bytes(nlp.get_pipe("ctx_encoder").to_bytes())
    doc = loaded(TEXTS[0])
    layers = doc._.ctx_layers
    assert loaded.get_pipe("ctx_encoder").mix.attrs["layers"] == [4]
    assert_allclose(doc.tensor, layers[4], atol=1e-6)
    assert_allclose(doc.vector, layers[4].mean(axis=0), atol=1e-6)
    # Saved again and loaded without overrides, it keeps them.
    loaded.to_disk(tmp_path / "again")
    assert_allclose(spacy.load(tmp_path / "again")(TEXTS[0]).tensor, layers[4], atol=1e-5)


def test_token_layers_override_of_a_saved_pipeline_takes_effect(tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder")
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline", config={"components": {"ctx_encoder": {"token_layers": [1, 3]}}})
    doc = loaded(TEXTS[0])
    layers = doc._.ctx_layers
    assert_allclose(doc[6].vector, (layers[1, 6] + layers[3, 6]) / 2, atol=1e-6)
    assert_allclose(doc.tensor, layers[6], atol=1e-6)
    loaded.to_disk(tmp_path / "again")
    again = spacy.load(tmp_path / "again")
    assert again.get_pipe("ctx_encoder").cfg["token_layers"] == [1, 3]
    assert_allclose(again(TEXTS[0])[6].vector, doc[6].vector, atol=1e-5)


def test_a_pipeline_saved_without_token_layers_loads_with_the_depth_rule(tmp_path):
    """A pipeline saved before token_layers existed (no such key in its
    config.cfg nor in the component's cfg) loads with token_layers = null:
    its tokens read the mean of layers round(6 / 3) = 2 and 6, its docs the
    mix it was saved with."""
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config={"mix": {"layers": [3]}})
    nlp.to_disk(tmp_path / "pipeline")
    config_path = tmp_path / "pipeline" / "config.cfg"
    lines = config_path.read_text().splitlines()
    config_path.write_text("\n".join(line for line in lines if not line.startswith("token_layers")) + "\n")
    cfg_path = tmp_path / "pipeline" / "ctx_encoder" / "cfg"
    cfg = srsly.read_json(cfg_path)
    del cfg["token_layers"]
    srsly.write_json(cfg_path, cfg)
    assert "token_layers" not in config_path.read_text()

    loaded = spacy.load(tmp_path / "pipeline")
    encoder = loaded.get_pipe("ctx_encoder")
    assert loaded.config["components"]["ctx_encoder"]["token_layers"] is None
    assert encoder.token_layers == [2, 6]
    doc = loaded(TEXTS[0])
    layers = doc._.ctx_layers
    assert_allclose(doc.tensor, layers[3], atol=1e-6)
    assert_allclose(doc[6].vector, (layers[2, 6] + layers[6, 6]) / 2, atol=1e-6)


def test_doc_pickles_with_its_layers(nlp):
    doc = nlp(TEXTS[0])
    again = pickle.loads(pickle.dumps(doc))
    assert_array_equal(again._.ctx_layers, doc._.ctx_layers)
    assert_array_equal(again[6].vector, doc[6].vector)
    assert_array_equal(again._.ctx_token_mix, doc._.ctx_token_mix)
    assert again[6].similarity(doc[6]) == pytest.approx(1.0, abs=1e-6)
    assert again._.ctx_layer_ids == doc._.ctx_layer_ids


def test_plain_docbin_keeps_layers(nlp):
    docs = list(nlp.pipe(TEXTS))
    data = DocBin(docs=docs, store_user_data=True).to_bytes()
    loaded = list(DocBin().from_bytes(data).get_docs(nlp.vocab))
    for doc, again in zip(docs, loaded):
        assert_array_equal(doc._.ctx_layers, again._.ctx_layers)
        assert_array_equal(doc._.ctx_token_mix, again._.ctx_token_mix)


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
