"""spacy_ctx.senses.gloss_cache: the gloss embeddings of ctx_wsd's sense table,
encoded once by the real MiniLM and read back by later initialisations."""
import numpy
import pytest
import spacy

from spacy_ctx.models.transformer import find_hf_shim
from spacy_ctx.senses.gloss_cache import GlossCache, gloss_digest
from spacy_ctx.senses.wordnet import get_inventory

pytestmark = pytest.mark.data


def pipeline(wordnet_path, layers=(-4, -3, -2, -1)):
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder")
    nlp.add_pipe("ctx_wsd", config={"wordnet_path": wordnet_path, "model": {"tok2vec": {"layers": list(layers)}}})
    return nlp


def count_encoded(encoder):
    """Wrap the real encoder's pipe (the way glosses are encoded) to count
    the docs it encodes; they still go through the real model."""
    seen = []
    pipe = encoder.pipe

    def counting_pipe(stream, **kwargs):
        for doc in pipe(stream, **kwargs):
            seen.append(doc.text)
            yield doc

    encoder.pipe = counting_pipe
    return seen


def initialized(nlp, train, cache):
    nlp.get_pipe("ctx_encoder").initialize(lambda: train, nlp=nlp)
    seen = count_encoded(nlp.get_pipe("ctx_encoder"))
    wsd = nlp.get_pipe("ctx_wsd")
    wsd.initialize(lambda: train, nlp=nlp, gloss_cache=cache)
    return wsd, seen


def test_a_second_initialize_reads_the_glosses_and_gives_the_same_table(wordnet_path, wsd_corpus, tmp_path):
    nlp = pipeline(wordnet_path)
    train = list(wsd_corpus["train"](nlp))[:3]
    first, seen = initialized(nlp, train, tmp_path)
    wordnet = get_inventory(wordnet_path)
    glosses = {wordnet.gloss_text(key) for key in first.senses} - {""}
    assert len(seen) == len(glosses) > 20  # every distinct gloss text once
    E1 = first.model.ops.to_numpy(first.model.get_param("E")).copy()
    cross1 = first._cross_rows.copy()

    nlp2 = pipeline(wordnet_path)
    second, seen2 = initialized(nlp2, list(wsd_corpus["train"](nlp2))[:3], tmp_path)
    assert seen2 == []  # no gloss went through the encoder
    assert second.senses == first.senses
    numpy.testing.assert_array_equal(second.model.ops.to_numpy(second.model.get_param("E")), E1)
    numpy.testing.assert_array_equal(second._cross_rows, cross1)
    # The rows on disk are the unit gloss embeddings in float16.
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    rows = numpy.load(folder / "rows.npy")
    assert rows.dtype == numpy.float16 and len(rows) == len(glosses)
    numpy.testing.assert_allclose(numpy.linalg.norm(rows.astype("f"), axis=1), 1.0, atol=1e-2)


def test_other_layers_or_weights_do_not_reuse_the_glosses(wordnet_path, wsd_corpus, tmp_path):
    nlp = pipeline(wordnet_path)
    train = list(wsd_corpus["train"](nlp))[:2]
    wsd, seen = initialized(nlp, train, tmp_path)
    assert seen
    # Another layer request: its own folder, every gloss encoded again.
    nlp_last = pipeline(wordnet_path, layers=(-1,))
    _, seen_last = initialized(nlp_last, list(wsd_corpus["train"](nlp_last))[:2], tmp_path)
    assert sorted(seen_last) == sorted(seen)
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2
    # Other weights of the same encoder (one weight moved): another digest.
    encoder, tok2vec = nlp.get_pipe("ctx_encoder"), wsd.model.get_ref("tok2vec")
    before = gloss_digest(nlp, encoder, tok2vec)
    assert gloss_digest(nlp, encoder, tok2vec) == before
    weight = next(find_hf_shim(encoder.model).encoder.parameters())
    with_grad = weight.requires_grad
    weight.requires_grad_(False)
    weight[0] += 1e-3
    weight.requires_grad_(with_grad)
    assert gloss_digest(nlp, encoder, tok2vec) != before
    # And other mix weights of the listener.
    mix = tok2vec.get_ref("mix")
    mix.set_param("weights", mix.get_param("weights") + 0.5 * numpy.arange(len(mix.get_param("weights")), dtype="f"))
    assert gloss_digest(nlp, encoder, tok2vec) != before


def test_rows_are_added_to_what_the_cache_holds(tmp_path):
    cache = GlossCache(tmp_path, "abc")
    assert cache.read(["a gloss"]) == {}
    cache.add({"a gloss": numpy.asarray([0.6, 0.8], dtype="f")})
    cache.add({"another": numpy.asarray([1.0, 0.0], dtype="f")})
    rows = GlossCache(tmp_path, "abc").read(["a gloss", "another", "missing"])
    assert set(rows) == {"a gloss", "another"}
    assert rows["a gloss"].dtype == numpy.float16
    numpy.testing.assert_array_equal(rows["a gloss"], numpy.asarray([0.6, 0.8], dtype="float16"))
    assert GlossCache(tmp_path, "other").read(["a gloss"]) == {}

