"""ELMo-style torch modules: byte-level char-CNN, highway, 2-layer biLSTM.

Nothing here knows about spaCy. The inputs are the char ids that
`spacy_ctx.tokenization.chars` builds; max-pooling over characters is
masked, so a word's vector does not depend on what else is in the batch.
"""
from typing import List, Sequence, Tuple

import torch
from torch import nn

from ...tokenization.chars import N_CHARS, PAD_CHAR

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
