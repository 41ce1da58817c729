"""The biLM pretraining objective: forward and backward language models on one ELMo encoder."""
from typing import Sequence, Tuple

import torch
from torch import nn

from ..models.pytorch.elmo import ELMoEncoderModule


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
