"""ELMo-style torch modules: byte-level char-CNN, highway, 2-layer biLSTM, LM head.

Nothing here knows about spaCy. Words come in as strings and are turned into
byte ids by `encode_sequences`, so there is no out-of-vocabulary input: any
Unicode string is a sequence of UTF-8 bytes. Words are never truncated: each
distinct word of a batch is run through the char-CNN once, in chunks of
similar length, and max-pooling is masked, so a word's vector does not depend
on what else is in the batch.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy
import torch
from torch import nn

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


class Highway(nn.Module):
    """Highway layers: y = g * x + (1 - g) * relu(W x), g = sigmoid(V x)."""

    def __init__(self, width: int, n_layers: int):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(width, 2 * width) for _ in range(n_layers))
        for layer in self.layers:
            # Start by carrying the input through, as ELMo does.
            nn.init.constant_(layer.bias[width:], 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            transform, gate = layer(x).chunk(2, dim=-1)
            gate = torch.sigmoid(gate)
            x = gate * x + (1.0 - gate) * torch.relu(transform)
        return x


class CharCNN(nn.Module):
    """Byte embeddings, convolutions of several widths with masked max-pooling,
    highway layers and a linear projection: one vector per word."""

    def __init__(
        self,
        char_dim: int,
        filters: Sequence[Tuple[int, int]],
        n_highway: int,
        output_dim: int,
    ):
        super().__init__()
        self.embed = nn.Embedding(N_CHARS, char_dim, padding_idx=PAD_CHAR)
        self.widths = [int(w) for w, _ in filters]
        self.convs = nn.ModuleList(nn.Conv1d(char_dim, int(n), int(w)) for w, n in filters)
        n_filters = sum(int(n) for _, n in filters)
        self.highway = Highway(n_filters, n_highway)
        self.projection = nn.Linear(n_filters, output_dim)

    @property
    def min_length(self) -> int:
        return max(self.widths)

    def forward(
        self, chunks: Sequence[torch.Tensor], char_lengths: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        pooled = [self._pool(chars, lengths) for chars, lengths in zip(chunks, char_lengths)]
        # [n_words, n_filters]
        features = torch.cat(pooled, dim=0)
        return self.projection(self.highway(features))

    def _pool(self, chars: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # [n_words, char_dim, n_chars]
        x = self.embed(chars).transpose(1, 2)
        features = []
        for width, conv in zip(self.widths, self.convs):
            # [n_words, n_filters, n_chars - width + 1]
            y = conv(x)
            # Windows that start past a word's end see only padding: mask them,
            # so a word's vector is the same whatever chunk it lands in.
            n_valid = lengths.clamp(min=width) - width + 1
            positions = torch.arange(y.shape[-1], device=y.device)
            invalid = positions.unsqueeze(0) >= n_valid.unsqueeze(1)
            y = y.masked_fill(invalid.unsqueeze(1), float("-inf"))
            features.append(torch.relu(y.max(dim=-1).values))
        return torch.cat(features, dim=-1)


def reverse_within_lengths(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence of [batch, time, dim] within its own length;
    padding stays at the end."""
    steps = torch.arange(x.shape[1], device=x.device).unsqueeze(0)
    lengths = lengths.to(x.device).unsqueeze(1)
    index = torch.where(steps < lengths, lengths - 1 - steps, steps)
    return x.gather(1, index.unsqueeze(-1).expand_as(x))


class BiLSTM(nn.Module):
    """Separate forward and backward LSTM stacks (neither sees the other
    direction, as a biLM needs), with a residual connection between layers."""

    def __init__(self, width: int, hidden_size: int, n_layers: int = 2, dropout: float = 0.0):
        super().__init__()
        if hidden_size < width:
            raise ValueError(
                f"hidden_size ({hidden_size}) must be at least the projection ({width})"
            )
        # With hidden_size == width there is no projection, and torch can use
        # its much faster fused (oneDNN) LSTM on CPU.
        proj_size = width if hidden_size > width else 0
        make = lambda: nn.LSTM(width, hidden_size, batch_first=True, proj_size=proj_size)
        self.forward_layers = nn.ModuleList(make() for _ in range(n_layers))
        self.backward_layers = nn.ModuleList(make() for _ in range(n_layers))
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor
    ) -> List[Tuple[torch.Tensor, torch.Tensor]]:
        """x: [batch, time, width], padding at the end of each sequence.
        Returns, per layer, (forward, backward) outputs [batch, time, width],
        both in the original word order."""
        forward_x, backward_x = x, reverse_within_lengths(x, lengths)
        outputs = []
        for i, (lstm_f, lstm_b) in enumerate(zip(self.forward_layers, self.backward_layers)):
            # Padding sits after every real step, so it cannot reach real outputs.
            f, _ = lstm_f(self.dropout(forward_x))
            b, _ = lstm_b(self.dropout(backward_x))
            if i > 0:
                f, b = f + forward_x, b + backward_x
            outputs.append((f, reverse_within_lengths(b, lengths)))
            forward_x, backward_x = f, b
        return outputs


class ELMoEncoderModule(nn.Module):
    """The ELMo encoder: char-CNN word vectors, then a 2-layer biLSTM.

    forward returns [3, n_seqs, max_seq_len, 2 * projection_dim]: layer 0 is the
    char-CNN vector repeated twice (to the biLSTM width, as in ELMo), layers 1
    and 2 are [forward; backward] of each biLSTM layer. Positions include the
    <S> and </S> markers.
    """

    def __init__(
        self,
        char_dim: int = 16,
        filters: Sequence[Tuple[int, int]] = ((1, 32), (2, 32), (3, 64), (4, 128), (5, 256)),
        n_highway: int = 2,
        projection_dim: int = 128,
        hidden_size: int = 512,
        n_lstm_layers: int = 2,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.config = {
            "char_dim": int(char_dim),
            "filters": [[int(w), int(n)] for w, n in filters],
            "n_highway": int(n_highway),
            "projection_dim": int(projection_dim),
            "hidden_size": int(hidden_size),
            "n_lstm_layers": int(n_lstm_layers),
        }
        self.char_cnn = CharCNN(char_dim, filters, n_highway, projection_dim)
        self.bilstm = BiLSTM(projection_dim, hidden_size, n_lstm_layers, dropout)

    @property
    def n_layers(self) -> int:
        return self.config["n_lstm_layers"] + 1

    @property
    def width(self) -> int:
        return 2 * self.config["projection_dim"]

    @property
    def min_length(self) -> int:
        return self.char_cnn.min_length

    def contextual(
        self,
        chunks: Sequence[torch.Tensor],
        char_lengths: Sequence[torch.Tensor],
        word_index: torch.Tensor,
        seq_lengths: torch.Tensor,
    ) -> Tuple[torch.Tensor, List[Tuple[torch.Tensor, torch.Tensor]]]:
        """The word vectors [batch, time, proj] and each biLSTM layer's
        (forward, backward) outputs."""
        word_vectors = self.char_cnn(chunks, char_lengths)
        # [n_seqs, max_seq_len, projection_dim]
        tokens = word_vectors[word_index]
        return tokens, self.bilstm(tokens, seq_lengths)

    def forward(self, chunks, char_lengths, word_index, seq_lengths) -> torch.Tensor:
        tokens, layers = self.contextual(chunks, char_lengths, word_index, seq_lengths)
        stacked = [torch.cat([tokens, tokens], dim=-1)]
        stacked.extend(torch.cat([f, b], dim=-1) for f, b in layers)
        return torch.stack(stacked)


class BidirectionalLM(nn.Module):
    """The pretraining objective: a forward and a backward language model on
    one shared encoder, with one shared adaptive softmax over a word vocabulary."""

    def __init__(self, encoder: ELMoEncoderModule, vocab_size: int, cutoffs: Sequence[int]):
        super().__init__()
        self.encoder = encoder
        width = encoder.config["projection_dim"]
        cutoffs = [int(c) for c in cutoffs if 0 < int(c) < vocab_size - 1]
        if cutoffs:
            self.softmax = nn.AdaptiveLogSoftmaxWithLoss(width, vocab_size, cutoffs, div_value=4.0)
        else:  # a tiny vocabulary: a plain softmax
            self.softmax = None
            self.output = nn.Linear(width, vocab_size)

    def forward(
        self, chunks, char_lengths, word_index, seq_lengths, targets: torch.Tensor
    ) -> Tuple[torch.Tensor, torch.Tensor, int]:
        """targets: [n_seqs, max_seq_len] vocabulary ids of <S> w1 .. wn </S>.

        Returns the summed negative log-likelihood of the forward LM (each
        word given the words before it) and of the backward LM (each word
        given the words after it), and the number of predictions per direction.
        """
        _, layers = self.encoder.contextual(chunks, char_lengths, word_index, seq_lengths)
        forward_top, backward_top = layers[-1]
        steps = torch.arange(word_index.shape[1], device=word_index.device)
        # A position predicts its right (left) neighbour, if it has one.
        has_next = steps.unsqueeze(0) < (seq_lengths.unsqueeze(1) - 1)
        nll_f = self._nll(forward_top[:, :-1][has_next[:, :-1]], targets[:, 1:][has_next[:, :-1]])
        # Position t+1 predicts word t; t+1 < length iff t has a next word.
        nll_b = self._nll(backward_top[:, 1:][has_next[:, :-1]], targets[:, :-1][has_next[:, :-1]])
        return nll_f, nll_b, int(has_next.sum())

    def _nll(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.softmax is not None:
            return -self.softmax(hidden, targets).output.sum()
        return nn.functional.cross_entropy(self.output(hidden), targets, reduction="sum")


def batch_to_tensors(batch: CharBatch, device: Optional[torch.device] = None) -> dict:
    """The keyword arguments of ELMoEncoderModule.forward for a CharBatch."""
    as_tensor = lambda a: torch.as_tensor(a, device=device)
    return {
        "chunks": [as_tensor(c) for c in batch.chunks],
        "char_lengths": [as_tensor(n) for n in batch.char_lengths],
        "word_index": as_tensor(batch.word_index),
        "seq_lengths": as_tensor(batch.seq_lengths),
    }
