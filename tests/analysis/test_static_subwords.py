"""Wordpiece tables against raw transformers hidden states, the PCA by hand, and a table that covers every word."""
import numpy
import pytest
import spacy
import torch
from numpy.testing import assert_allclose

from spacy_ctx.analysis import static_subwords
from spacy_ctx.analysis.static import distill_static, write_static_vectors
from spacy_ctx.analysis.static_pipeline import static_pipeline
from spacy_ctx.analysis.static_subwords import fit_pca, isolated_wordpieces, project, wordpiece_sums
from spacy_ctx.errors import SpacyCtxError
from spacy_ctx.models.transformer import find_hf_shim
from spacy_ctx.pipeline.loading import find_encoder

TEXTS = ["The dog barks at the mailman.", "A dog and a cat sleep."]


@pytest.fixture(scope="module")
def hf(nlp):
    encoder = find_encoder(nlp)
    encoder.load_model()
    shim = find_hf_shim(encoder.model)
    return encoder, shim.tokenizer, shim.encoder.transformer


def hidden_states(transformer, ids):
    # Eval mode: thinc's shim leaves the module in train mode after each
    # prediction, so a pipeline call before this one would turn dropout on.
    transformer.eval()
    with torch.no_grad():
        t = torch.as_tensor([ids])
        return [h[0].numpy() for h in transformer(input_ids=t, attention_mask=torch.ones_like(t), output_hidden_states=True).hidden_states]


def test_wordpiece_sums_equal_raw_hidden_states(hf):
    encoder, tokenizer, transformer = hf
    sums, counts = wordpiece_sums(encoder, TEXTS, ["layer6", "layer0"], batch_size=2)
    expected_sum = numpy.zeros(384)
    n = 0
    dog = tokenizer.convert_tokens_to_ids("dog")
    for text in TEXTS:
        ids = tokenizer(text)["input_ids"]
        H = hidden_states(transformer, ids)[6]
        for pos, i in enumerate(ids):
            if i == dog:
                expected_sum += H[pos]
                n += 1
    assert counts[dog] == n == 2
    assert_allclose(sums["layer6"][dog], expected_sum, atol=1e-4)
    # Special tokens are left out; every other wordpiece is counted once.
    assert counts[tokenizer.cls_token_id] == 0 and counts[tokenizer.sep_token_id] == 0
    assert counts.sum() == sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in TEXTS)


def test_isolated_wordpieces_equal_raw_hidden_states(hf):
    encoder, tokenizer, transformer = hf
    ids = tokenizer.convert_tokens_to_ids(["bank", "##ing", "zebra"])
    mean = isolated_wordpieces(encoder, ["layer6", "mix"], ids=ids, batch_size=2)
    piece = isolated_wordpieces(encoder, ["layer3"], ids=ids, pooling="piece")
    for row, i in enumerate(ids):
        H = hidden_states(transformer, [tokenizer.cls_token_id, i, tokenizer.sep_token_id])
        assert_allclose(mean["layer6"][row], H[6].mean(axis=0), atol=1e-5)
        assert_allclose(piece["layer3"][row], H[3][1], atol=1e-5)
        # The default inference mix: the top layer alone.
        assert_allclose(mean["mix"][row], H[6].mean(axis=0), atol=1e-4)
    with pytest.raises(SpacyCtxError, match="E004"):
        isolated_wordpieces(encoder, ["layer6"], ids=ids, pooling="max")


def test_fit_pca_by_hand():
    rng = numpy.random.default_rng(0)
    A, B = rng.normal(size=(50, 6)).astype("float32"), rng.normal(size=(30, 6)).astype("float32") + 2
    mean, components = fit_pca([A, B], 3)
    X = numpy.concatenate([A, B])
    assert_allclose(mean, X.mean(axis=0), rtol=1e-5)
    _, s, Vt = numpy.linalg.svd(X - X.mean(axis=0), full_matrices=False)
    # The same directions as the SVD, up to sign.
    assert_allclose(numpy.abs(components @ Vt[:3].T), numpy.eye(3), atol=1e-4)
    P = project(X, mean, components)
    assert P.shape == (80, 3)
    assert_allclose(P.var(axis=0), (s[:3] ** 2) / 80, rtol=1e-3)
    with pytest.raises(SpacyCtxError, match="E313"):
        fit_pca([A], 7)


@pytest.fixture(scope="module")
def subword_tables(nlp, tmp_path_factory, monkeypatch_module):
    """Tables with wordpieces from two sentences; the unseen pieces are encoded
    alone only for the first 200 ids (zeros beyond, to keep the test fast)."""
    real = static_subwords.isolated_wordpieces

    def first_ids_only(encoder, keys, *, pooling, ids, batch_size, normalizer):
        out = {key: numpy.zeros((len(ids), encoder.width), dtype="float32") for key in keys}
        some = real(encoder, keys, pooling=pooling, ids=ids[ids < 200], batch_size=batch_size, normalizer=normalizer)
        for key in keys:
            out[key][: len(some[key])] = some[key]
        return out

    monkeypatch_module.setattr(static_subwords, "isolated_wordpieces", first_ids_only)
    path = tmp_path_factory.mktemp("subwords") / "texts.txt"
    path.write_text("\n".join(TEXTS) + "\n", encoding="utf8")
    return distill_static(nlp, [path], keys=[-1, "token", 2], methods=["mean"], subwords=True)


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_subword_table_rows(hf, subword_tables):
    encoder, tokenizer, _ = hf
    table = subword_tables[("layer6", "mean")]
    pieces = table.subwords
    sums, counts = wordpiece_sums(encoder, TEXTS, ["layer6"])
    seen = counts > 0
    assert_allclose(pieces.vectors[seen], sums["layer6"][seen] / counts[seen][:, None], atol=1e-5)
    unseen = numpy.flatnonzero(~seen)[:5]
    alone = isolated_wordpieces(encoder, ["layer6"], ids=unseen)["layer6"]
    assert_allclose(pieces.vectors[unseen], alone, atol=1e-5)
    assert pieces.settings["n_pieces_in_context"] == int(seen.sum())


def test_token_key_distils_the_token_mix(nlp, subword_tables):
    """"token" is what token.vector reads, the plain mean of layers 2 and 6
    on MiniLM; a mean over occurrences is linear, so its word and wordpiece
    rows are the means of those layers' rows."""
    from spacy_ctx.pipeline.loading import find_encoder

    assert find_encoder(nlp).token_layers == [2, 6]
    token, low, top = (subword_tables[(key, "mean")] for key in ("token_mix", "layer2", "layer6"))
    assert token.words == top.words
    assert_allclose(token.vectors, (low.vectors + top.vectors) / 2, atol=1e-5)
    assert_allclose(token.subwords.vectors, (low.subwords.vectors + top.subwords.vectors) / 2, atol=1e-5)
    assert not numpy.allclose(token.vectors, top.vectors, atol=1e-3)


def test_written_table_covers_every_word(subword_tables, tmp_path):
    table = subword_tables[("layer6", "mean")]
    write_static_vectors(table, tmp_path / "t", weighting="sif", pca_dims=16)
    nlp = spacy.load(tmp_path / "t")
    assert nlp.pipe_names == ["ctx_static_vectors"] and nlp.vocab.vectors.shape == (len(table.words), 16)
    pca = numpy.load(tmp_path / "t" / "pca.npz")
    # A word of the table keeps its distilled vector (projected).
    assert_allclose(nlp("dog")[0].vector, project(table.vectors[table.words.index("dog")][None], pca["mean"], pca["components"])[0], atol=1e-5)
    doc = nlp("The mailman barks.")
    assert all(t.vector.any() for t in doc)
    assert nlp("an aardvark").similarity(nlp("a dog")) != 0.0
    # Without PCA, a table word is exactly the word table's row, as before.
    plain, _ = static_pipeline(table)
    assert_allclose(plain("dog")[0].vector, table.vectors[table.words.index("dog")])

