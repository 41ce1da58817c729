"""`precision = "auto"`: the precision this machine runs fastest within the
fidelity bar, chosen by measurement when the encoder loads.

Candidates: fp32, and bf16 and int8 where the device runs them natively
(precision.py's `unsupported_reason`). Each converted copy encodes the
probe batch (`PROBE_TEXTS`, held out from the int8 calibration sentences:
fidelity measured on the text a copy was calibrated on flatters it) through
the forward the encoder runs (packed/'s for the families it packs, the
model's own otherwise). A copy qualifies when its token vectors meet the
fidelity bar against fp32's on every hidden layer (fidelity.py).

The forwards are timed in `rounds` interleaved rounds (each round runs every
candidate once, in a rotating order, so a burst of load on a busy machine
falls on all of them) and each candidate is judged by its median. `decide`
then keeps the exact fp32 path unless a qualifying copy's median is at most
`MARGIN` times it: a gain smaller than that is within what load noise moves
from one load to the next, and not worth the lost exactness. The choice is
made anew on each machine a pipeline loads on (it depends on the CPU); the
fp32 weights stay what is saved and fine-tuned.
"""
import copy
import statistics
import time
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from .fidelity import LayerFidelity, layer_fidelity, within_bar, worst_layer
from .packed import packable, packed_hidden_states
from .precision import PRECISIONS, convert, unsupported_reason

# What the encoder's precision setting takes: a precision, or "auto".
SETTINGS = PRECISIONS + ("auto",)
# A faster copy must take at most this share of the faster path's time.
MARGIN = 0.9
# Timed forwards per candidate, after an untimed one.
ROUNDS = 15

# The probe: varied English, none of it in precision.CALIBRATION_TEXTS.
PROBE_TEXTS = (
    "Apple is looking at buying a U.K. startup for $1 billion.",
    "The bank raised rates; its river bank branch closed at 5 p.m.",
    "I'm sooo tired of waiting for the bus!!!",
    "Ms. Okafor's 3rd novel, \"Rain\", sold 40,000 copies in June 2021.",
    "Can you send me the file by Friday?",
    "He walked.",
    "Mitochondria generate most of the chemical energy needed by the cell.",
    "see you @ 8 :) #weekend",
    "The river flooded the lower fields after three days of heavy rain, and the farmers moved their cattle uphill.",
    "Parliament will debate the amended bill on Tuesday afternoon.",
    "My cat knocked a glass of water onto the keyboard again.",
    "According to the report, unemployment fell to 4.2% in the second quarter.",
    "Does this train stop at Utrecht Centraal?",
    "The enzyme binds its substrate at the active site, lowering the activation energy of the reaction.",
    "omg that concert was insane",
    "Please return the signed form to the front desk before noon.",
    "Gold prices climbed while the dollar weakened against the euro.",
    "Whoever wrote this code left no comments at all.",
    "The museum's new wing, designed by a Danish firm, opens in May.",
    "Turn left at the second light, then keep going for two miles.",
    "She scored twice in the final minutes, and the crowd went wild.",
    "Why would anyone pay $12 for a sandwich?",
    "Volcanic ash grounded flights across northern Europe for nearly a week.",
    "The defendant pleaded not guilty to all four charges.",
)


@dataclass
class PrecisionChoice:
    """What `choose_precision` measured: per candidate the median seconds of
    its timed forwards and its worst layer's (mean, 1st percentile) cosine
    against fp32, and why the others were not measured or not taken."""

    precision: str
    seconds: Dict[str, float] = field(default_factory=dict)
    fidelity: Dict[str, LayerFidelity] = field(default_factory=dict)
    skipped: Dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> Dict:
        return {"precision": self.precision, "seconds": self.seconds, "fidelity": self.fidelity, "skipped": self.skipped}

    def describe(self) -> str:
        """One line: the choice and the figures it was made by."""
        seconds = ", ".join(f"{p} {s * 1000:.1f} ms" for p, s in self.seconds.items())
        fidelity = ", ".join(f"{p} {m:.5f}/{low:.4f}" for p, (m, low) in self.fidelity.items() if p != "fp32")
        parts = [f"median forward of the probe: {seconds}"]
        if fidelity:
            parts.append(f"worst layer cosine (mean/1st percentile): {fidelity}")
        parts += [f"{p}: {reason}" for p, reason in self.skipped.items()]
        return f"precision = \"auto\" chose {self.precision} ({'; '.join(parts)})"


def decide(seconds: Mapping[str, float], fidelity: Mapping[str, LayerFidelity], margin: float = MARGIN) -> str:
    """The precision to run, from each candidate's median seconds and worst
    layer fidelity ("fp32" must be among them).

    Candidates below the fidelity bar are out. The rest are taken from the
    most exact down: each replaces the one chosen so far only if its median
    is at most `margin` times that one's. So fp32 stays unless a faithful
    copy wins by 10% or more, and a less exact copy must beat a more exact
    one by as much.
    """
    faithful = [p for p in seconds if p != "fp32" and within_bar([fidelity[p]])]
    chosen = "fp32"
    for precision in sorted(faithful, key=lambda p: fidelity[p], reverse=True):
        if seconds[precision] <= margin * seconds[chosen]:
            chosen = precision
    return chosen


def choose_precision(
    model: nn.Module,
    probe: Mapping[str, torch.Tensor],
    calibration=(),
    candidates: Tuple[str, ...] = ("bf16", "int8"),
    rounds: int = ROUNDS,
) -> Tuple[PrecisionChoice, Optional[nn.Module]]:
    """The choice, and the converted copy to run (None: run `model` in fp32).

    probe: model inputs (input_ids, attention_mask) to time and compare on:
        `probe_inputs`, never the calibration text.
    """
    device = next(model.parameters()).device
    # Longest first, as the planner orders a forward batch: the packed
    # forward runs attention per run of equal lengths.
    order = probe["attention_mask"].sum(1).argsort(descending=True, stable=True)
    probe = {key: value[order] for key, value in probe.items()}
    models = {"fp32": model}
    choice = PrecisionChoice("fp32")
    for precision in candidates:
        reason = unsupported_reason(precision, device)
        if reason:
            choice.skipped[precision] = reason
        else:
            models[precision] = convert(copy.deepcopy(model), precision, calibration)
    states, times = _timed_rounds(models, probe, rounds)
    choice.seconds = {p: statistics.median(t) for p, t in times.items()}
    choice.fidelity = {p: worst_layer(layer_fidelity(states["fp32"], states[p])) for p in models}
    choice.fidelity["fp32"] = (1.0, 1.0)
    choice.precision = decide(choice.seconds, choice.fidelity)
    for precision in models:
        mean, low = choice.fidelity[precision]
        if not within_bar([(mean, low)]):
            choice.skipped[precision] = f"below the fidelity bar (worst layer: mean {mean:.5f}, 1st percentile {low:.4f})"
    return choice, None if choice.precision == "fp32" else models[choice.precision]


def probe_inputs(tokenizer, device: torch.device, texts: Sequence[str] = PROBE_TEXTS) -> Dict[str, torch.Tensor]:
    """The probe batch: `texts` as padded input_ids and attention_mask on `device`."""
    batch = tokenizer(list(texts), padding=True, truncation=True, return_tensors="pt")
    return {key: batch[key].to(device) for key in ("input_ids", "attention_mask")}


def _timed_rounds(
    models: Mapping[str, nn.Module], probe, rounds: int
) -> Tuple[Dict[str, List[torch.Tensor]], Dict[str, List[float]]]:
    """Per model, the hidden states of the probe's real wordpieces ([n_real,
    width] each, from an untimed first forward: first calls pay for
    allocation and, on a GPU, kernel selection) and the seconds of `rounds`
    timed forwards, interleaved round by round. A GPU is synchronised around
    each timing, since its calls only launch the work."""
    device = probe["input_ids"].device
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda *args: None)
    names = list(models)
    pack = {name: packable(models[name]) for name in names}  # walks every layer: outside the timings
    states, times = {}, {name: [] for name in names}
    with torch.inference_mode():
        for name in names:
            states[name] = [h.float() for h in _real_states(models[name], probe, pack[name])]
        for round_ in range(max(1, rounds)):
            for name in names[round_ % len(names):] + names[: round_ % len(names)]:
                sync(device)
                start = time.perf_counter()
                _real_states(models[name], probe, pack[name])
                sync(device)
                times[name].append(time.perf_counter() - start)
    return states, times


def _real_states(model: nn.Module, probe: Mapping[str, torch.Tensor], pack: bool) -> List[torch.Tensor]:
    ids, mask = probe["input_ids"], probe["attention_mask"]
    if pack:
        return packed_hidden_states(model, ids, mask, model.config.num_hidden_layers)[0]
    # Row by row, the order of the packed states.
    return [h[mask.bool()] for h in model(**probe, output_hidden_states=True).hidden_states]
