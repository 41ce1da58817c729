"""ELMo's character input (spacy_ctx.tokenization.chars): no word is truncated."""
import pytest

from spacy_ctx.tokenization.chars import encode_sequences

pytestmark = pytest.mark.usefixtures("one_thread")


def test_encode_sequences_never_truncates():
    batch = encode_sequences([["x" * 5000, "ab"]], min_length=3, max_chunk_chars=1000)
    assert max(chunk.shape[1] for chunk in batch.chunks) == 5002  # bytes + <w> </w>
    assert batch.word_index.shape == (1, 4)  # <S> w1 w2 </S>
