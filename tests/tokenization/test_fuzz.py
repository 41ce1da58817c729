"""Property-based fuzzing of the encoder over every tokenizer family of
spacy_ctx.testing, and of ELMo's characters: random Unicode, control and
format characters, emoji, whitespace runs, 10,000-character tokens and empty
docs, in batches of docs through `nlp.pipe`.

What must hold, for every doc:
- every spaCy token gets vectors: `doc._.ctx_layers` is finite and
  [n_layers, len(doc), width];
- no wordpiece is lost: the planner pools into each token exactly the
  wordpieces whose character offsets overlap the token (computed here from
  the tokenizer's own offsets), whichever window each is read from;
- the planner's contract (`EncoderPlan`): a token that no wordpiece
  overlaps gets no pair, so its vectors are zero in every layer; any other
  token's are not;
- a non-space character of a token that no wordpiece covers is one the
  tokenizer's normalizer drops: it normalises to nothing (BERT's
  clean_text drops control, format and private-use characters; accent
  stripping drops combining marks) or to whitespace, or it is a combining
  mark that normalisation (NFKC) composed into the character before it,
  whose wordpiece then carries it.

Lone surrogates are not generated: spaCy's StringStore cannot hash them, so
no Doc can hold one.
"""
import unicodedata
from typing import Callable, Dict, List, Tuple

import numpy
import pytest
import spacy
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from spacy.tokens import Doc

from spacy_ctx.models.transformer import find_hf_shim
from spacy_ctx.testing import FAMILY_NAMES

from ..util import TINY_ELMO, to_numpy

pytestmark = pytest.mark.usefixtures("one_thread")

LONG = 10_000
WHITESPACE = " \t\n\r\x0b\x0c\x85\u00a0\u1680\u2000\u2003\u2028\u2029\u202f\u205f\u3000"
EMOJI = ["😀", "🎉", "👍🏽", "❤️", "👩‍👩‍👧", "🧑🏿‍🚀", "🇫🇷", "🏳️‍🌈", "#️⃣", "🫠"]
WORDS = ["bank", "The", "São", "don't", "U.S.", "e-mail", "北京", "naïve", "café", "5:30pm", "https://x.io/a?b=1"]

# Any character but a lone surrogate (category Cs), unassigned ones included.
ANY_CHAR = st.characters(exclude_categories=("Cs",))
CONTROL = st.characters(categories=("Cc", "Cf", "Co", "Zl", "Zp", "Mn", "Me"))
# A 10,000-character token: a unit repeated (a letter, an accented or CJK
# letter, an emoji, a combining mark, or random characters).
LONG_TOKEN = st.one_of(st.sampled_from(["a", "é", "北", "😀", "ab1-", "\u0301"]), st.text(ANY_CHAR, min_size=1, max_size=3)).map(
    lambda unit: (unit * LONG)[:LONG]
)
WORD = st.one_of(
    st.text(ANY_CHAR, min_size=1, max_size=12),
    st.text(CONTROL, min_size=1, max_size=4),
    st.sampled_from(EMOJI),
    st.text(st.sampled_from(WHITESPACE), min_size=1, max_size=6),
    st.sampled_from(WORDS),
)


@st.composite
def batches(draw) -> List[List[Tuple[str, bool]]]:
    """One to three docs (one batch), each up to 8 (word, space after)
    pairs, and in about a third of the batches a 10,000-character token in
    one of the docs (one at most: each costs hundreds of windows); no words
    is an empty doc.

    Docs are built from words, not by spaCy's tokenizer, so that a token is
    anything at all: a 10,000-character token stays one token (spaCy's
    tokenizer would peel emoji off it one by one, in quadratic time), and
    tokens may be or hold whitespace runs and control characters."""
    docs = draw(st.lists(st.lists(st.tuples(WORD, st.booleans()), max_size=8), min_size=1, max_size=3))
    if draw(st.integers(0, 2)) == 0:
        doc = docs[draw(st.integers(0, len(docs) - 1))]
        doc.insert(draw(st.integers(0, len(doc))), (draw(LONG_TOKEN), draw(st.booleans())))
    return docs


def make_docs(nlp, batch) -> List[Doc]:
    return [Doc(nlp.vocab, words=[w for w, _ in pairs], spaces=[s for _, s in pairs]) for pairs in batch]


FUZZ = dict(deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
N_EXAMPLES = 10  # per family in the default suite, besides the pinned @examples
N_EXAMPLES_SLOW = 300


@pytest.fixture(scope="module")
def family_nlp(tiny_model) -> Callable[[str], spacy.Language]:
    """`family_nlp(name)`: a blank pipeline with ctx_encoder on the family's
    tiny model, loaded once per module."""
    pipelines: Dict[str, spacy.Language] = {}

    def get(name: str) -> spacy.Language:
        if name not in pipelines:
            nlp = spacy.blank("en")
            nlp.add_pipe("ctx_encoder", config={"model": {"name": str(tiny_model(name))}})
            nlp.initialize()
            pipelines[name] = nlp
        return pipelines[name]

    return get


@pytest.fixture(scope="module")
def elmo_nlp() -> spacy.Language:
    """ctx_encoder on a tiny, randomly initialised ELMo."""
    nlp = spacy.blank("en")
    model = {"@architectures": "spacy_ctx.ELMoEncoder.v1", **TINY_ELMO}
    nlp.add_pipe("ctx_encoder", config={"model": model})
    nlp.initialize()
    return nlp


@pytest.mark.parametrize("family", FAMILY_NAMES)
@settings(max_examples=N_EXAMPLES, **FUZZ)
@given(batch=batches())
@example(batch=[[]])  # an empty doc
@example(batch=[[("a" * LONG, False), ("\u00a8", True)]])  # found by the slow run: ALBERT makes "¨" a space
def test_fuzz_wordpieces(family_nlp, family, batch):
    check_wordpieces(family_nlp(family), batch)


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILY_NAMES)
@settings(max_examples=N_EXAMPLES_SLOW, **FUZZ)
@given(batch=batches())
def test_fuzz_wordpieces_more(family_nlp, family, batch):
    check_wordpieces(family_nlp(family), batch)


@settings(max_examples=N_EXAMPLES, **FUZZ)
@given(batch=batches())
def test_fuzz_elmo(elmo_nlp, batch):
    check_elmo(elmo_nlp, batch)


@pytest.mark.slow
@settings(max_examples=N_EXAMPLES_SLOW, **FUZZ)
@given(batch=batches())
def test_fuzz_elmo_more(elmo_nlp, batch):
    check_elmo(elmo_nlp, batch)


def check_wordpieces(nlp, batch) -> None:
    encoder = nlp.get_pipe("ctx_encoder")
    shim = find_hf_shim(encoder.model)
    shape = (encoder.model.attrs["n_layers"], encoder.model.get_dim("nO"))
    for doc in nlp.pipe(make_docs(nlp, batch)):
        layers = to_numpy(doc._.ctx_layers)
        assert layers.shape == (shape[0], len(doc), shape[1])
        assert numpy.isfinite(layers).all()
        text = doc.text  # built from the tokens at each access
        encoded = shim.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        ids = numpy.asarray(encoded["input_ids"], dtype="int64")
        offsets = numpy.asarray(encoded["offset_mapping"], dtype="int64").reshape(-1, 2)
        expected = overlapping_wordpieces(ids, offsets, doc)
        assert pooled_wordpieces(shim.planner, doc) == expected
        covered = numpy.zeros(len(text), dtype=bool)
        for start, end in offsets:
            covered[start:end] = True
        for token, pieces in zip(doc, expected):
            assert bool(numpy.abs(layers[:, token.i]).sum() > 0) == bool(pieces), (token.text, pieces)
            for k in range(token.idx, token.idx + len(token.text)):
                if not covered[k] and not text[k].isspace():
                    assert dropped(shim.tokenizer, text, k), (token.text, text[k], unicodedata.category(text[k]))


def check_elmo(nlp, batch) -> None:
    """ELMo reads every token's UTF-8 bytes, so every token, however odd,
    gets a vector in every layer."""
    width = nlp.get_pipe("ctx_encoder").model.get_dim("nO")
    for doc in nlp.pipe(make_docs(nlp, batch)):
        layers = to_numpy(doc._.ctx_layers)
        assert layers.shape == (3, len(doc), width)
        assert numpy.isfinite(layers).all()
        assert (numpy.abs(layers).sum(axis=2) > 0).all()


def overlapping_wordpieces(ids, offsets, doc) -> List[List[int]]:
    """Per token, the sorted ids of the wordpieces whose offsets share at
    least one character with it (from the tokenizer, not the planner)."""
    out = []
    for token in doc:
        start, end = token.idx, token.idx + len(token.text)
        shared = numpy.minimum(offsets[:, 1], end) > numpy.maximum(offsets[:, 0], start)
        out.append(sorted(ids[shared].tolist()))
    return out


def pooled_wordpieces(planner, doc) -> List[List[int]]:
    """Per token, the sorted ids of the wordpieces the plan pools into it,
    read from the windows' input ids at the plan's source rows."""
    plan = planner([doc])
    # Sources index each batch's [batch * seq_len] rows, as its ids do.
    ids = [batch.input_ids.ravel()[batch.source] for batch in plan.batches]
    targets = [batch.target for batch in plan.batches]
    ids = numpy.concatenate(ids) if ids else numpy.zeros(0, dtype="int64")
    targets = numpy.concatenate(targets) if targets else numpy.zeros(0, dtype="int64")
    return [sorted(ids[targets == i].tolist()) for i in range(len(doc))]


def dropped(tokenizer, text: str, k: int) -> bool:
    """Whether the tokenizer's normalizer accounts for character k having no
    wordpiece: it normalises to nothing or to whitespace only (ALBERT's
    NFKD and accent stripping turn the diaeresis "¨" into a space), or it is
    a combining mark that composes with the character before it."""
    normalizer = tokenizer.backend_tokenizer.normalizer
    normalize = normalizer.normalize_str if normalizer is not None else (lambda s: s)
    if normalize(text[k]).strip() == "":
        return True
    composes = k > 0 and len(normalize(text[k - 1 : k + 1])) <= len(normalize(text[k - 1]))
    return unicodedata.category(text[k]).startswith("M") and composes
