"""WSD precision, recall and F1 with the Raganato et al. (2017) definitions.

P = correct / answered gold instances, R = correct / all gold instances,
F1 = 2PR / (P + R). An answer is correct if it is one of the gold keys.
Answers for tokens that are not gold instances are ignored.
"""
from typing import Callable, Dict, Iterable, List, Tuple

from spacy.training import Example

from .raganato import WSD_SPANS_KEY


def prf(correct: int, answered: int, total: int) -> Dict[str, float]:
    p = correct / answered if answered else 0.0
    r = correct / total if total else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"p": p, "r": r, "f": f}


def score_keys(gold: Dict[str, List[str]], predicted: Dict[str, str]) -> Dict[str, float]:
    """Score ``instance_id -> key`` answers against ``instance_id -> [gold keys]``."""
    total = len(gold)
    answered = sum(1 for iid in gold if predicted.get(iid))
    correct = sum(1 for iid, keys in gold.items() if predicted.get(iid) in keys)
    scores = prf(correct, answered, total)
    scores.update({"correct": correct, "answered": answered, "total": total})
    return scores


def score_wsd(examples: Iterable[Example], spans_key: str = WSD_SPANS_KEY) -> Dict[str, float]:
    """Score predicted ``doc.spans[spans_key]`` against the reference's.

    Gold and predicted spans are matched by character offsets, so the
    predicted tokenisation may differ. Returns ``{key}_p``, ``_r``, ``_f``
    and the same values as ``spans_{key}_p``, ``_r``, ``_f``.
    """
    correct = answered = total = 0
    for eg in examples:
        if spans_key not in eg.reference.spans:
            continue
        gold: Dict[Tuple[int, int], set] = {}
        for span in eg.reference.spans[spans_key]:
            if span.label_:
                gold.setdefault((span.start_char, span.end_char), set()).add(span.label_)
        pred: Dict[Tuple[int, int], str] = {}
        if spans_key in eg.predicted.spans:
            for span in eg.predicted.spans[spans_key]:
                if span.label_:
                    pred[(span.start_char, span.end_char)] = span.label_
        total += len(gold)
        for offsets, keys in gold.items():
            if offsets in pred:
                answered += 1
                correct += pred[offsets] in keys
    scores = prf(correct, answered, total)
    out = {f"{spans_key}_{name}": value for name, value in scores.items()}
    # The same figures under spaCy's span-score names, which `spacy evaluate
    # --spans-key wsd` prints (as SPAN P/R/F).
    out.update({f"spans_{spans_key}_{name}": value for name, value in scores.items()})
    return out


def make_wsd_scorer(spans_key: str = WSD_SPANS_KEY) -> Callable:
    """The scorer of ctx_wsd (registered as spacy_ctx.wsd_scorer.v1):
    ``score_wsd`` on the span group ``spans_key``."""

    def scorer(examples: Iterable[Example], **kwargs) -> Dict[str, float]:
        return score_wsd(examples, spans_key=spans_key)

    return scorer
