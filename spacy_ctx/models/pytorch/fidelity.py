"""The per-layer fidelity bar: how close a faster path's token vectors are
to the exact fp32 path's, layer by layer.

A path passes when, on every layer, the cosine of its token vectors with
the reference's is at least `MEAN_COSINE` on average and at least
`LOW_COSINE` at the 1st percentile of tokens. `precision = "auto"`, the
benchmarks and the tests all grade by this one measure.
"""
from typing import List, Sequence, Tuple

import torch

MEAN_COSINE = 0.999
LOW_COSINE = 0.99  # at the 1st percentile of tokens
LOW_QUANTILE = 0.01

# (mean, 1st percentile) token cosine of one layer
LayerFidelity = Tuple[float, float]


def layer_fidelity(reference: Sequence, other: Sequence) -> List[LayerFidelity]:
    """Per layer, the (mean, 1st percentile) token cosine of `other` against
    `reference`. Each is a sequence of [n_tokens, width] arrays or tensors
    (one per layer), or one [n_layers, n_tokens, width] array."""
    result = []
    for ref, got in zip(reference, other):
        ref = torch.as_tensor(ref).float()
        got = torch.as_tensor(got, device=ref.device).float()
        cos = torch.nn.functional.cosine_similarity(ref, got, dim=-1)
        result.append((float(cos.mean()), float(torch.quantile(cos, LOW_QUANTILE))))
    return result


def worst_layer(fidelity: Sequence[LayerFidelity]) -> LayerFidelity:
    """The lowest mean and the lowest 1st percentile over the layers."""
    return min(m for m, _ in fidelity), min(low for _, low in fidelity)


def within_bar(fidelity: Sequence[LayerFidelity]) -> bool:
    """Whether every layer meets the bar."""
    mean, low = worst_layer(fidelity)
    return mean >= MEAN_COSINE and low >= LOW_COSINE
