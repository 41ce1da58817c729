"""ELMo's input: the characters of each word, as byte ids in length-sorted chunks.

Words come in as strings and are turned into byte ids, so there is no
out-of-vocabulary input: any Unicode string is a sequence of UTF-8 bytes.
Words are never truncated: each distinct word of a batch is run through the
char-CNN once, in chunks of similar length (`encode_sequences`).
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy
import torch

# Character ids: 0 pads, 1..256 are the bytes 0..255, then markers.
PAD_CHAR = 0
BOW_CHAR = 257  # begin of word
EOW_CHAR = 258  # end of word
BOS_CHAR = 259  # the <S> sentence marker's only character
EOS_CHAR = 260  # the </S> sentence marker's only character
N_CHARS = 261


class _Marker(str):
    """A sentence-boundary word, distinct from any string in the text."""


BOS = _Marker("<S>")
EOS = _Marker("</S>")


def word_char_ids(word: str) -> List[int]:
    """The char ids of one word: begin-of-word, its UTF-8 bytes, end-of-word."""
    if word is BOS:
        return [BOW_CHAR, BOS_CHAR, EOW_CHAR]
    if word is EOS:
        return [BOW_CHAR, EOS_CHAR, EOW_CHAR]
    # surrogatepass: lone surrogates (possible in Python strings) still encode.
    data = word.encode("utf-8", "surrogatepass")
    return [BOW_CHAR, *(b + 1 for b in data), EOW_CHAR]


@dataclass
class CharBatch:
    """A batch of sentences, as the distinct words' char ids and an index.

    chunks: [n_words_in_chunk, chunk_length] char ids, words sorted by length.
    char_lengths: [n_words_in_chunk] true lengths for each chunk.
    word_index: [n_seqs, max_seq_len] row of each position in the
        concatenated chunk output. Each sequence is <S> w1 .. wn </S>.
    seq_lengths: [n_seqs] sequence lengths, markers included.
    words: the distinct words, in row order.
    """

    chunks: List[numpy.ndarray]
    char_lengths: List[numpy.ndarray]
    word_index: numpy.ndarray
    seq_lengths: numpy.ndarray
    words: List[str]

    def to_torch(self, device: Optional[torch.device] = None) -> Dict[str, object]:
        """The keyword arguments of ELMoEncoderModule.forward, on `device`."""
        as_tensor = lambda a: torch.as_tensor(a, device=device)
        return {
            "chunks": [as_tensor(c) for c in self.chunks],
            "char_lengths": [as_tensor(n) for n in self.char_lengths],
            "word_index": as_tensor(self.word_index),
            "seq_lengths": as_tensor(self.seq_lengths),
        }


def encode_sequences(
    sequences: Sequence[Sequence[str]], min_length: int, max_chunk_chars: int = 32768
) -> CharBatch:
    """Turn word sequences into a CharBatch, adding <S> and </S> to each.

    min_length: pad every word to at least this many chars (the widest filter).
    max_chunk_chars: about how many padded chars a char-CNN chunk may hold.
    """
    rows: Dict[str, int] = {}
    words: List[str] = []
    seq_lengths = numpy.asarray([len(seq) + 2 for seq in sequences], dtype="int64")
    width = int(seq_lengths.max()) if len(sequences) else 2
    index = numpy.zeros((len(sequences), width), dtype="int64")
    for i, seq in enumerate(sequences):
        for j, word in enumerate((BOS, *seq, EOS)):
            key = word if not isinstance(word, _Marker) else ("\0marker", str(word))
            row = rows.get(key)
            if row is None:
                row = rows[key] = len(words)
                words.append(word)
            index[i, j] = row
    char_ids = [word_char_ids(w) for w in words]
    order = sorted(range(len(words)), key=lambda k: len(char_ids[k]))
    chunks, lengths = [], []
    start = 0
    while start < len(order):
        # Grow the chunk while its padded size stays within budget (at least one word).
        end = start + 1
        while end < len(order):
            longest = max(len(char_ids[order[end]]), min_length)
            if (end + 1 - start) * longest > max_chunk_chars:
                break
            end += 1
        members = order[start:end]
        longest = max(max(len(char_ids[k]) for k in members), min_length)
        chunk = numpy.full((len(members), longest), PAD_CHAR, dtype="int64")
        for r, k in enumerate(members):
            chunk[r, : len(char_ids[k])] = char_ids[k]
        chunks.append(chunk)
        lengths.append(numpy.asarray([len(char_ids[k]) for k in members], dtype="int64"))
        start = end
    # Chunk outputs are concatenated in `order`: remap word rows to that order.
    position = numpy.empty(len(order), dtype="int64")
    position[numpy.asarray(order, dtype="int64")] = numpy.arange(len(order))
    return CharBatch(
        chunks=chunks,
        char_lengths=lengths,
        word_index=position[index],
        seq_lengths=seq_lengths,
        words=[words[k] for k in order],
    )
