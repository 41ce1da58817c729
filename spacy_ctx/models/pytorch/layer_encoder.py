"""A torch module that runs a Hugging Face encoder and pools every layer."""
import os
from typing import Sequence

import torch
from torch import nn


def _single_thread_after_fork() -> None:
    # A forked child (e.g. nlp.pipe(n_process=2)) inherits the parent's
    # OpenMP pool without its threads and hangs in its first parallel torch
    # op. One intra-op thread per worker avoids the pool, and the workers
    # share the cores anyway.
    torch.set_num_threads(1)


os.register_at_fork(after_in_child=_single_thread_after_fork)


class LayerEncoder(nn.Module):
    """Run a transformer over padded windows and pool all hidden states.

    The output holds every layer (the embedding output, then each hidden
    layer) for every spaCy token of the batch: [n_layers, n_tokens, width].
    Pooling is a scatter over (wordpiece row -> token) pairs, so it is
    differentiable and the encoder can be fine-tuned through it.
    """

    def __init__(self, transformer: nn.Module):
        super().__init__()
        self.transformer = transformer

    @property
    def n_layers(self) -> int:
        return self.transformer.config.num_hidden_layers + 1

    @property
    def width(self) -> int:
        return self.transformer.config.hidden_size

    def forward(
        self,
        input_ids: Sequence[torch.Tensor],
        attention_mask: Sequence[torch.Tensor],
        sources: Sequence[torch.Tensor],
        targets: Sequence[torch.Tensor],
        counts: torch.Tensor,
        pooling: str,
    ) -> torch.Tensor:
        n_tokens = counts.shape[0]
        out = self._zeros(n_tokens)
        if pooling == "max":
            # Tokens split between two batches are reduced across both.
            out = out.fill_(float("-inf"))
        for ids, mask, source, target in zip(input_ids, attention_mask, sources, targets):
            output = self.transformer(
                input_ids=ids, attention_mask=mask, output_hidden_states=True
            )
            # Pool layer by layer straight from each [batch, seq_len, width]
            # output: stacking or concatenating them first would copy every
            # hidden state of the batch once more.
            for layer, hidden in enumerate(output.hidden_states):
                rows = hidden.reshape(-1, hidden.shape[-1]).index_select(0, source)
                if pooling == "max":
                    index = target.view(-1, 1).expand_as(rows)
                    out[layer].scatter_reduce_(0, index, rows, "amax")
                else:
                    # index_put_ with accumulate is several times faster than
                    # index_add_ on CPU, and differentiable all the same.
                    out[layer].index_put_((target,), rows, accumulate=True)
        if pooling == "max":
            return out.masked_fill(torch.isinf(out), 0.0)
        # first/last pooling arrive here with one pair per token.
        return out / counts.view(1, -1, 1)

    def _zeros(self, n_tokens: int) -> torch.Tensor:
        param = next(self.parameters())
        return param.new_zeros(self.n_layers, n_tokens, self.width)
