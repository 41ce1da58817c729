"""A torch module that runs a Hugging Face encoder and pools every layer."""
from typing import List, Sequence

import torch
from torch import nn


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
        source: torch.Tensor,
        target: torch.Tensor,
        counts: torch.Tensor,
        pooling: str,
    ) -> torch.Tensor:
        rows: List[torch.Tensor] = []
        for ids, mask in zip(input_ids, attention_mask):
            output = self.transformer(
                input_ids=ids, attention_mask=mask, output_hidden_states=True
            )
            # [n_layers, batch, seq_len, width] -> [n_layers, batch * seq_len, width]
            hidden = torch.stack(output.hidden_states)
            rows.append(hidden.reshape(hidden.shape[0], -1, hidden.shape[-1]))
        n_tokens = counts.shape[0]
        if not rows:
            return self._zeros(n_tokens)
        flat = torch.cat(rows, dim=1) if len(rows) > 1 else rows[0]
        # [n_layers, n_pairs, width]
        gathered = flat.index_select(1, source)
        out = flat.new_zeros(flat.shape[0], n_tokens, flat.shape[-1])
        if pooling == "max":
            index = target.view(1, -1, 1).expand_as(gathered)
            return out.scatter_reduce(1, index, gathered, "amax", include_self=False)
        out = out.index_add(1, target, gathered)
        # first/last pooling arrive here with one pair per token.
        return out / counts.view(1, -1, 1)

    def _zeros(self, n_tokens: int) -> torch.Tensor:
        param = next(self.parameters())
        return param.new_zeros(self.n_layers, n_tokens, self.width)
