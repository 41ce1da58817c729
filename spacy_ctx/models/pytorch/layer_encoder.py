"""A torch module that runs a Hugging Face encoder and pools every layer."""
from contextlib import nullcontext
from typing import Dict, Optional, Sequence

import torch
from torch import nn

from . import onednn
from .packed import packed_hidden_states, refusal, warn_unpacked
from .truncation import truncated_layers, truncation_is_exact


class LayerEncoder(nn.Module):
    """Run a transformer over padded windows and pool all hidden states.

    The output holds every layer (the embedding output, then each hidden
    layer) for every spaCy token of the batch: [n_layers, n_tokens, width];
    or, with `layers`, just those layers, in that order. Pooling is a scatter
    over (wordpiece row -> token) pairs, so it is differentiable and the
    encoder can be fine-tuned through it.

    `transformer` is the fp32 model: the one that is saved and fine-tuned.
    `set_fast(model)` adds a converted copy (bf16, int8; see precision.py)
    that runs whenever no gradient is needed.
    """

    def __init__(self, transformer: nn.Module):
        super().__init__()
        self.transformer = transformer
        # Not a submodule: the state_dict (what is saved) holds the fp32
        # model alone, and an optimizer never sees the converted copy.
        self.__dict__["fast"] = None
        # k -> whether stopping at hidden layer k reproduces layer k exactly.
        self._exact_stops: Dict[int, bool] = {}
        # id(model) -> whether the packed forward computes that model's states.
        self._can_pack: Dict[int, bool] = {}
        self.probe_inputs: Optional[Dict[str, torch.Tensor]] = None
        # Run the families of packed/ without computing padding; False runs
        # the model's own forward (for comparisons).
        self.pack = True
        # In inference on CPU, run the packed forward's linears through
        # oneDNN (onednn.py); False runs the modules, for comparisons.
        self.fuse = True

    @property
    def n_layers(self) -> int:
        return self.transformer.config.num_hidden_layers + 1

    @property
    def width(self) -> int:
        return self.transformer.config.hidden_size

    def set_fast(self, model: Optional[nn.Module]) -> None:
        """Use `model` (a converted copy of `transformer`) for inference,
        after the weights may have changed (`HFShim` calls it again after an
        update): the fused weights cached on the old ones are dropped."""
        self.__dict__["fast"] = model
        self._can_pack.clear()  # ids of models that may be gone
        onednn.forget(self.transformer)

    def forward(
        self,
        input_ids: Sequence[torch.Tensor],
        attention_mask: Sequence[torch.Tensor],
        sources: Sequence[torch.Tensor],
        targets: Sequence[torch.Tensor],
        counts: torch.Tensor,
        pooling: str,
        layers: Optional[Sequence[int]] = None,
        dtype: Optional[torch.dtype] = None,
    ) -> torch.Tensor:
        """Encode the windows batch by batch and pool them into tokens.

        layers: the layers to return (None: all). The forward pass stops at
            the highest one where that is exact (`truncation_is_exact`).
        dtype: of the output (None: float32). Each batch's hidden states are
            pooled straight into the output and dropped, so a long doc never
            holds every layer of every window, nor a float32 copy of a
            float16 output.
        """
        layers = list(range(self.n_layers)) if layers is None else list(layers)
        grad = torch.is_grad_enabled()
        model = self.fast if self.fast is not None and not grad else self.transformer
        top = max(layers) if layers else 0
        pack = self.pack and self._packable(model)
        stop = nullcontext()
        if not pack and 0 < top < self.n_layers - 1 and self._stops_exactly(top):
            stop = truncated_layers(model, top)
        n_tokens = counts.shape[0]
        out = self._zeros(len(layers), n_tokens, dtype or torch.float32)
        if pooling == "max":
            # Tokens split between two batches are reduced across both.
            out = out.fill_(float("-inf"))
        # A mean over a token's wordpieces, summed from batches it may span:
        # each piece comes in pre-divided by its token's count.
        inv_counts = None if pooling == "max" else 1.0 / counts
        with stop:
            for ids, mask, source, target in zip(input_ids, attention_mask, sources, targets):
                if pack:
                    # [n_real, width] states; `source` indexes the padded batch
                    hidden_states, packed_rows = packed_hidden_states(model, ids, mask, top, fuse=self.fuse)
                    source = packed_rows.index_select(0, source)
                else:
                    # [batch, seq_len, width] -> [batch * seq_len, width]
                    hidden_states = [
                        h.reshape(-1, h.shape[-1])
                        for h in model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
                    ]
                share = None if inv_counts is None else inv_counts.index_select(0, target).view(-1, 1)
                # Pool layer by layer straight from each batch's states:
                # stacking them first would copy every hidden state.
                for k, layer in enumerate(layers):
                    rows = hidden_states[layer].index_select(0, source)
                    if pooling == "max":
                        index = target.view(-1, 1).expand_as(rows)
                        out[k].scatter_reduce_(0, index, rows.to(out.dtype), "amax")
                    else:
                        # index_put_ with accumulate is several times faster
                        # than index_add_ on CPU, and differentiable all the same.
                        out[k].index_put_((target,), (rows * share).to(out.dtype), accumulate=True)
                del hidden_states
        if pooling == "max":
            # In place only without autograd: scatter_reduce's backward reads
            # `out` as it was.
            return out.masked_fill_(torch.isinf(out), 0.0) if not grad else out.masked_fill(torch.isinf(out), 0.0)
        return out

    def _packable(self, model: nn.Module) -> bool:
        # Checked once per model (the fp32 one, or its converted copy), not
        # on every forward: it walks every layer's modules.
        # A model that cannot pack runs its own padded forward, said once
        # per family.
        key = id(model)
        if key not in self._can_pack:
            reason = refusal(model)
            if reason is not None:
                warn_unpacked(model, reason)
            self._can_pack[key] = reason is None
        return self._can_pack[key]

    def _stops_exactly(self, k: int) -> bool:
        if k not in self._exact_stops:
            model = self.fast if self.fast is not None else self.transformer
            self._exact_stops[k] = self.probe_inputs is not None and truncation_is_exact(
                model, k, self.probe_inputs
            )
        return self._exact_stops[k]

    def _zeros(self, n_layers: int, n_tokens: int, dtype: torch.dtype) -> torch.Tensor:
        # The device of the weights; the dtype asked for, never the weights'
        # own (bf16 weights still give float32 outputs).
        device = next(self.transformer.parameters()).device
        return torch.zeros(n_layers, n_tokens, self.width, dtype=dtype, device=device)
