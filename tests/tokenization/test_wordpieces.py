"""The wordpiece planner's windows: a long doc equals each window encoded alone, deterministically, untruncated."""
import numpy
import spacy
from numpy.testing import assert_allclose


def _long_text(n_sentences):
    subjects = ["The engineer", "A farmer", "Our neighbour", "The old sailor", "Every student"]
    verbs = ["repaired", "painted", "carried", "described", "sold"]
    objects = ["the red bicycle", "a wooden boat", "the broken fence", "an ancient map", "the tiny radio"]
    sentences = [
        f"{subjects[i % 5]} {verbs[(i * 3) % 5]} {objects[(i * 7) % 5]} on day {i}."
        for i in range(n_sentences)
    ]
    return " ".join(sentences)


def test_long_doc_equals_short_doc_computation_of_its_window(nlp, raw_transformer):
    """A doc past the model maximum is encoded in overlapping windows. Each
    token is read from the window where it is farthest from a cut, and equals
    the encoding of that window's text as a short doc on its own."""
    from spacy_ctx.tokenization.wordpieces import WordpiecePlanner

    text = _long_text(150)
    doc = nlp(text)
    tokenizer = raw_transformer[0]
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)[
        "offset_mapping"
    ]
    windows = WordpiecePlanner(tokenizer, max_length=512)._windows(len(offsets))
    assert len(offsets) > 1500 and len(windows) == 4
    best = numpy.full(len(doc), numpy.inf)
    for start, length in windows:
        begin, end = offsets[start][0], offsets[start + length - 1][1]
        short = nlp(text[begin:end])
        by_idx = {t.idx + begin: t for t in short}
        for token in doc:
            match = by_idx.get(token.idx)
            if match is not None and match.text == token.text:
                diff = numpy.abs(token._.ctx_layers - match._.ctx_layers).max()
                best[token.i] = min(best[token.i], diff)
    assert best.max() < 1e-4


def test_window_overlap_is_deterministic():
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config={"model": {"window": 32, "stride": 20}})
    text = _long_text(12)
    first = nlp(text)._.ctx_layers
    again = nlp(text)._.ctx_layers
    assert_allclose(first, again, atol=0, rtol=0)


def test_200k_character_doc_is_not_truncated(nlp):
    text = _long_text(4100)[:200_000]
    assert len(text) == 200_000
    doc = nlp(text)
    assert doc._.ctx_layers.shape == (7, len(doc), 384)
    words = [t.i for t in doc if not t.is_space]
    # Every word token, up to the very last, has a vector.
    assert doc._.ctx_layers[-1, words].any(axis=1).all()
    assert doc[-2]._.ctx_layers.any()
