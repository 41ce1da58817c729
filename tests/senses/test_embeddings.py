"""spacy_ctx.senses.embeddings: gloss embeddings in the sense table, against the pipeline's own encoding."""
import numpy
import pytest

from spacy_ctx.senses.embeddings import gloss_table
from spacy_ctx.senses.wordnet import get_inventory

pytestmark = pytest.mark.data


def test_gloss_embeddings_enter_the_sense_table(trained_wsd, wsd_corpus, wordnet_path):
    nlp, _ = trained_wsd
    wsd = nlp.get_pipe("ctx_wsd")
    inventory = get_inventory(wordnet_path)
    tok2vec = wsd.model.get_ref("tok2vec")
    G = gloss_table(tok2vec, nlp.get_pipe("ctx_encoder"), nlp.make_doc, wsd.senses, inventory)
    keys = wsd.senses
    assert G.shape == (len(keys), 384)
    # Unit rows; a key nltk cannot resolve has no gloss and a zero row.
    no_gloss = numpy.asarray([inventory.gloss_text(k) == "" for k in keys])
    numpy.testing.assert_allclose(numpy.linalg.norm(G, axis=1), numpy.where(no_gloss, 0.0, 1.0), atol=1e-5)
    assert no_gloss.mean() < 0.01
    # Independent computation for one sense: encode its gloss text with the
    # pipeline and average the listener's mix (uniform over the last 4 layers).
    key = keys[0]
    text = inventory.gloss_text(key)
    assert text.startswith(inventory.synset(key).lemmas()[0].name().replace("_", " "))
    assert inventory.synset(key).definition() in text
    layers = nlp.get_pipe("ctx_encoder")(nlp.make_doc(text))._.ctx_layers
    mix = tok2vec.get_ref("mix")
    weights = numpy.exp(mix.get_param("weights")) / numpy.exp(mix.get_param("weights")).sum()
    expected = (layers[-4:] * weights[:, None, None]).sum(axis=0).mean(axis=0) * mix.get_param("gamma")[0]
    numpy.testing.assert_allclose(G[0], expected / numpy.linalg.norm(expected), atol=1e-4)
    # Two keys of one synset (car / auto) share one gloss embedding.
    car, auto = "car%1:06:00::", "auto%1:06:00::"
    assert inventory.gloss_text(car) == inventory.gloss_text(auto)
