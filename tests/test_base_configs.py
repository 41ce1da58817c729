"""configs/ner_base.cfg and configs/tagger_base.cfg: the encoder is a
variable, the listeners read the lower two thirds of a 12-layer network, and
the frozen cache holds those layers alone, in float16."""
import pytest
from spacy.tokens import DocBin
from spacy.training import Example
from spacy.util import load_config, load_model_from_config
from thinc.api import fix_random_seed

from .util import ROOT

BASE_CONFIGS = [("ner_base.cfg", "ner-train.spacy"), ("tagger_base.cfg", "tagger-train.spacy")]


@pytest.mark.parametrize("config_name,train", BASE_CONFIGS)
def test_base_config_names_no_encoder_path(config_name, train):
    text = (ROOT / "configs" / config_name).read_text()
    assert "shared" not in text and "name = ${paths.encoder}" in text
    config = load_config(ROOT / "configs" / config_name)
    assert config["paths"]["encoder"] is None


@pytest.mark.parametrize("config_name,train", BASE_CONFIGS)
def test_base_config_caches_nine_layers_in_float16(real_mpnet, config_name, train):
    """On the real 12-layer MPNet, an update caches layers 0-8 of each doc
    as float16 (9 x 768 x 2 bytes a token), and the Doc still stores all
    13 layers for the inference mix."""
    config = load_config(ROOT / "configs" / config_name, overrides={"paths.encoder": str(real_mpnet)})
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    fix_random_seed(0)
    docs = list(DocBin().from_disk(ROOT / "corpus" / train).get_docs(nlp.vocab))[:4]
    examples = [Example(nlp.make_doc(doc.text), doc) for doc in docs]
    nlp.initialize(lambda: examples)
    nlp.update(examples)
    info = nlp.get_pipe("ctx_encoder").frozen_cache.info()
    n_tokens = sum(len(eg.predicted) for eg in examples)
    assert info["docs"] == len(docs) and info["dtype"] == "float16" and info["layers"] == list(range(9))
    assert info["nbytes"] == n_tokens * 9 * 768 * 2
    assert nlp(docs[0].text)._.ctx_layers.shape == (13, len(docs[0]), 768)
