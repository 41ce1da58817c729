"""ctx_static_vectors on hand-made tables: exact token, span and doc vectors, the SIF/Zipf weights, serialisation."""
import numpy
import pytest
import spacy
from numpy.testing import assert_allclose
from spacy.vectors import Vectors

from spacy_ctx.errors import SpacyCtxError
from spacy_ctx.pipeline.static_vectors import StaticSubwordVectors, sif_weights

PIECES = ["[PAD]", "[UNK]", "dog", "cat", "bark", "##s", "##ed", "un", "##bark"]
# Row i of the wordpiece table is piece i: [i, 1 - i / 10, 0].
PIECE_VECTORS = numpy.asarray([[i, 1 - i / 10, 0.0] for i in range(len(PIECES))], dtype="float32")
WORDS = ["dog", "cat", "the"]
WORD_VECTORS = numpy.asarray([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype="float32")
COUNTS = numpy.asarray([3, 1, 6])


def tokenizer_json(padding: bool = False) -> str:
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import WordPiece

    tok = Tokenizer(WordPiece({p: i for i, p in enumerate(PIECES)}, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    if padding:
        tok.enable_padding(pad_id=0, pad_token="[PAD]")
    return tok.to_str()


def make_nlp(weighting="none", sif_a=1e-3):
    nlp = spacy.blank("en")
    nlp.vocab.vectors = Vectors(strings=nlp.vocab.strings, data=WORD_VECTORS.copy(), keys=WORDS)
    pipe = nlp.add_pipe("ctx_static_vectors", config={"weighting": weighting, "sif_a": sif_a})
    pipe.set_tables(PIECE_VECTORS, tokenizer_json(), COUNTS)
    return nlp


def test_sif_weights_by_hand():
    w, oov = sif_weights(COUNTS, "sif", 0.1)
    assert_allclose(w, [0.1 / (0.1 + 0.3), 0.1 / (0.1 + 0.1), 0.1 / (0.1 + 0.6)], rtol=1e-6)
    assert oov == 1.0
    # Zipf: ranks by count ("the" 1, "dog" 2, "cat" 3), p = 1 / (rank * H_4).
    w, oov = sif_weights(COUNTS, "zipf", 0.1)
    H = 1 + 1 / 2 + 1 / 3 + 1 / 4
    assert_allclose(w, [0.1 / (0.1 + 1 / (2 * H)), 0.1 / (0.1 + 1 / (3 * H)), 0.1 / (0.1 + 1 / H)], rtol=1e-6)
    assert oov == pytest.approx(0.1 / (0.1 + 1 / (4 * H)))
    w, oov = sif_weights(COUNTS, "none", 0.1)
    assert w.tolist() == [1, 1, 1] and oov == 1.0
    with pytest.raises(SpacyCtxError, match="E312"):
        sif_weights(COUNTS, "idf", 0.1)


def test_token_vectors_table_then_wordpieces():
    nlp = make_nlp()
    doc = nlp("Dog barks  unbarked")
    assert [t.text for t in doc] == ["Dog", "barks", " ", "unbarked"]
    # "Dog" is not a key, its LOWER is: the table's row.
    assert_allclose(doc[0].vector, WORD_VECTORS[0])
    # Outside the table: the mean of the pieces' rows (bark ##s; un ##bark ##ed).
    assert_allclose(doc[1].vector, PIECE_VECTORS[[4, 5]].mean(axis=0), rtol=1e-6)
    assert_allclose(doc[3].vector, PIECE_VECTORS[[7, 8, 6]].mean(axis=0), rtol=1e-6)
    assert not doc[2].vector.any() and not doc[2].has_vector
    assert all(t.has_vector for t in doc if not t.is_space)


def test_doc_and_span_vectors_are_weighted_means():
    nlp = make_nlp("sif", 0.1)
    doc = nlp("the dog barks")
    w_table, w_oov = sif_weights(COUNTS, "sif", 0.1)
    w = numpy.asarray([w_table[2], w_table[0], w_oov])
    T = numpy.stack([WORD_VECTORS[2], WORD_VECTORS[0], PIECE_VECTORS[[4, 5]].mean(axis=0)])
    assert_allclose(doc.vector, w @ T / w.sum(), rtol=1e-6)
    assert_allclose(doc[1:].vector, w[1:] @ T[1:] / w[1:].sum(), rtol=1e-6)
    other = nlp("cat")
    expected = float(doc.vector @ WORD_VECTORS[1] / numpy.linalg.norm(doc.vector))
    assert doc.similarity(other) == pytest.approx(expected, rel=1e-5)
    assert doc[1].similarity(other[0]) == pytest.approx(0.0, abs=1e-6)


def test_pipe_batches_match_one_doc_at_a_time():
    """nlp.pipe annotates a batch at once: empty, whitespace-only and
    out-of-table docs in one batch get what each gets alone."""
    nlp = make_nlp("zipf", 0.1)
    texts = ["the dog barks", "", "  ", "unbarked cats", "Cat", "dog  the"] * 3
    batched = list(nlp.pipe(texts, batch_size=4))
    for text, doc in zip(texts, batched):
        alone = nlp(text)
        assert_allclose(doc.vector, alone.vector, rtol=1e-6, atol=1e-7)
        assert doc.has_vector == alone.has_vector
        for token, single in zip(doc, alone):
            assert_allclose(token.vector, single.vector, rtol=1e-6)
    assert not batched[2].vector.any() and not batched[2].has_vector
    assert_allclose(batched[4].vector, WORD_VECTORS[1])


def test_a_pickled_doc_carries_its_own_vectors_only():
    """A doc's hooks hold that doc's lookups, not its batch's or the table."""
    import pickle

    nlp = make_nlp("zipf", 0.1)
    text = "unbarked cats bark"
    alone = pickle.dumps(nlp(text))
    in_batch = list(nlp.pipe([text] + ["the dog barks unbarked cats " * 20] * 50, batch_size=64))[0]
    # The vocab travels with a pickled doc (and has the batch's strings now);
    # the batch's lookups (50 docs of 121 tokens, 12 bytes each) would be 70 kB.
    assert len(pickle.dumps(in_batch)) < len(alone) + 1000
    restored = pickle.loads(pickle.dumps(in_batch))
    assert_allclose(restored.vector, in_batch.vector)
    assert_allclose(restored[0].vector, PIECE_VECTORS[[7, 8, 6]].mean(axis=0), rtol=1e-6)
    assert_allclose(restored[1].vector, nlp("cats")[0].vector)


def test_padding_tokenizer_pools_only_the_words_pieces():
    """Words outside the table are split in one batch call: a tokenizer.json
    that pads batches must not add [PAD] rows to the shorter words."""
    nlp = spacy.blank("en")
    nlp.vocab.vectors = Vectors(strings=nlp.vocab.strings, data=WORD_VECTORS.copy(), keys=WORDS)
    nlp.add_pipe("ctx_static_vectors").set_tables(PIECE_VECTORS, tokenizer_json(padding=True), COUNTS)
    doc = nlp("barks unbarked")
    assert_allclose(doc[0].vector, PIECE_VECTORS[[4, 5]].mean(axis=0), rtol=1e-6)
    assert_allclose(doc[1].vector, PIECE_VECTORS[[7, 8, 6]].mean(axis=0), rtol=1e-6)


def test_empty_doc_and_no_tables():
    nlp = make_nlp()
    doc = nlp("")
    assert doc.vector.shape == (3,) and not doc.vector.any()
    T, w = nlp.get_pipe("ctx_static_vectors").token_vectors(doc)
    assert T.shape == (0, 3) and w.shape == (0,)
    bare = spacy.blank("en")
    bare.add_pipe("ctx_static_vectors")
    with pytest.raises(SpacyCtxError, match="E314"):
        bare("dog")


def test_width_mismatch():
    nlp = spacy.blank("en")
    nlp.vocab.vectors = Vectors(strings=nlp.vocab.strings, data=WORD_VECTORS[:, :2].copy(), keys=WORDS)
    with pytest.raises(SpacyCtxError, match="E315"):
        nlp.add_pipe("ctx_static_vectors").set_tables(PIECE_VECTORS, tokenizer_json(), COUNTS)


def test_round_trip_and_weighting_override(tmp_path):
    nlp = make_nlp("zipf", 0.1)
    nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    text = "the cat unbarked"
    assert_allclose(loaded(text).vector, nlp(text).vector, rtol=1e-6)
    assert_allclose(loaded(text)[2].vector, nlp(text)[2].vector)
    plain = spacy.load(tmp_path / "p", config={"components": {"ctx_static_vectors": {"weighting": "none"}}})
    T = numpy.stack([t.vector for t in plain(text)])
    assert_allclose(plain(text).vector, T.mean(axis=0), rtol=1e-6)
