"""`precision = "auto"`: the fastest precision this machine runs within the
fidelity bar, chosen by measurement when the encoder loads.

Candidates: fp32, and bf16 and int8 where the device runs them natively
(precision.py's `unsupported_reason`). Each converted copy encodes the same
probe batch as fp32, through the forward the encoder runs (packed.py's for
BERT-style families, the model's own otherwise); it qualifies when, on
every hidden layer, the cosine of its token vectors with fp32's is at least
0.999 on average and 0.99 at the 1st percentile. Of those that qualify, the one with the shortest forward
(best of `repeats`) wins; fp32 always qualifies. The choice is made anew on
each machine a pipeline loads on (it depends on the CPU), and the fp32
weights stay what is saved and fine-tuned.
"""
import copy
import time
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple

import torch
from torch import nn

from .fidelity import LOW_COSINE, MEAN_COSINE, layer_fidelity, worst_layer
from .packed import packable, packed_hidden_states
from .precision import PRECISIONS, convert, unsupported_reason

# What the encoder's precision setting takes: a precision, or "auto".
SETTINGS = PRECISIONS + ("auto",)


@dataclass
class PrecisionChoice:
    """What `choose_precision` measured: per candidate its forward seconds
    and its worst layer's (mean, 1st percentile) cosine against fp32."""

    precision: str
    seconds: Dict[str, float] = field(default_factory=dict)
    fidelity: Dict[str, Tuple[float, float]] = field(default_factory=dict)
    skipped: Dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> Dict:
        return {"precision": self.precision, "seconds": self.seconds, "fidelity": self.fidelity, "skipped": self.skipped}


def choose_precision(
    model: nn.Module,
    probe: Mapping[str, torch.Tensor],
    calibration=(),
    candidates: Tuple[str, ...] = ("bf16", "int8"),
    repeats: int = 3,
) -> Tuple[PrecisionChoice, Optional[nn.Module]]:
    """The choice, and the converted copy to run (None: run `model` in fp32).

    probe: model inputs (input_ids, attention_mask) to time and compare on.
    """
    device = next(model.parameters()).device
    # Longest first, as the planner orders a forward batch: the packed
    # forward runs attention per run of equal lengths.
    order = probe["attention_mask"].sum(1).argsort(descending=True, stable=True)
    probe = {key: value[order] for key, value in probe.items()}
    reference, fp32_seconds = _timed_states(model, probe, repeats)
    choice = PrecisionChoice("fp32", seconds={"fp32": fp32_seconds}, fidelity={"fp32": (1.0, 1.0)})
    best, best_copy = fp32_seconds, None
    for precision in candidates:
        reason = unsupported_reason(precision, device)
        if reason:
            choice.skipped[precision] = reason
            continue
        candidate = convert(copy.deepcopy(model), precision, calibration)
        states, seconds = _timed_states(candidate, probe, repeats)
        worst = worst_layer(layer_fidelity(reference, states))
        choice.seconds[precision] = seconds
        choice.fidelity[precision] = worst
        if worst[0] < MEAN_COSINE or worst[1] < LOW_COSINE:
            choice.skipped[precision] = f"below the fidelity bar (worst layer: mean {worst[0]:.5f}, 1st percentile {worst[1]:.4f})"
        elif seconds < best:
            best, best_copy, choice.precision = seconds, candidate, precision
    return choice, best_copy


def _timed_states(model: nn.Module, probe, repeats: int) -> Tuple[List[torch.Tensor], float]:
    """The hidden states of the probe's real wordpieces, [n_real, width]
    each, and the best of `repeats` timed forwards after an untimed one
    (first calls pay for allocation and, on a GPU, kernel selection; a GPU
    is synchronised around each timing, since its calls only launch the
    work)."""
    device = probe["input_ids"].device
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda *args: None)
    best = float("inf")
    pack = packable(model)  # walks every layer: once, outside the timings
    with torch.inference_mode():
        states = _real_states(model, probe, pack)
        for _ in range(max(1, repeats)):
            sync(device)
            start = time.perf_counter()
            states = _real_states(model, probe, pack)
            sync(device)
            best = min(best, time.perf_counter() - start)
    return [h.float() for h in states], best


def _real_states(model: nn.Module, probe: Mapping[str, torch.Tensor], pack: bool) -> List[torch.Tensor]:
    ids, mask = probe["input_ids"], probe["attention_mask"]
    if pack:
        return packed_hidden_states(model, ids, mask, model.config.num_hidden_layers)[0]
    # Row by row, the order of the packed states.
    return [h[mask.bool()] for h in model(**probe, output_hidden_states=True).hidden_states]

