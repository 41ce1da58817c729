"""WSD precision, recall and F1 with the Raganato et al. (2017) definitions.

P = correct / answered gold instances, R = correct / all gold instances,
F1 = 2PR / (P + R). An answer is correct if it is one of the gold keys.
Answers for tokens that are not gold instances are ignored.

Given a ``first_sense`` test (``SenseInventory.is_first_sense``), the same
figures are also split into MFS instances (a gold key is WordNet's first
sense of its lemma) and LFS instances (the rest), as Blevins & Zettlemoyer
(2020) report them: the first-sense baseline is perfect on MFS and zero on
LFS, so LFS is where context has to pay.
"""
from typing import Callable, Dict, Iterable, List, Optional, Tuple

from spacy.training import Example

from .raganato import WSD_SPANS_KEY


def prf(correct: int, answered: int, total: int) -> Dict[str, float]:
    p = correct / answered if answered else 0.0
    r = correct / total if total else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"p": p, "r": r, "f": f}


def score_keys(
    gold: Dict[str, List[str]],
    predicted: Dict[str, str],
    first_sense: Optional[Callable[[str], bool]] = None,
) -> Dict[str, float]:
    """Score ``instance_id -> key`` answers against ``instance_id -> [gold keys]``.
    With ``first_sense``, also ``mfs_*`` and ``lfs_*`` (p, r, f, total) over
    the instances with and without a gold first sense."""
    total = len(gold)
    answered = sum(1 for iid in gold if predicted.get(iid))
    correct = sum(1 for iid, keys in gold.items() if predicted.get(iid) in keys)
    scores = prf(correct, answered, total)
    scores.update({"correct": correct, "answered": answered, "total": total})
    if first_sense is not None:
        is_mfs = {iid: any(first_sense(k) for k in keys) for iid, keys in gold.items()}
        for part, flag in (("mfs", True), ("lfs", False)):
            subset = {iid: keys for iid, keys in gold.items() if is_mfs[iid] == flag}
            sub = score_keys(subset, predicted)
            scores.update({f"{part}_{name}": sub[name] for name in ("p", "r", "f", "total")})
    return scores


def score_wsd(
    examples: Iterable[Example],
    spans_key: str = WSD_SPANS_KEY,
    first_sense: Optional[Callable[[str], bool]] = None,
) -> Dict[str, float]:
    """Score predicted ``doc.spans[spans_key]`` against the reference's.

    Gold and predicted spans are matched by character offsets, so the
    predicted tokenisation may differ. Returns ``{key}_p``, ``_r``, ``_f``
    and the same values as ``spans_{key}_p``, ``_r``, ``_f``; with
    ``first_sense``, also ``{key}_mfs_f`` and ``{key}_lfs_f``.
    """
    gold_keys: Dict[Tuple[int, int, int], List[str]] = {}
    answers: Dict[Tuple[int, int, int], str] = {}
    for i, eg in enumerate(examples):
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
        for offsets, keys in gold.items():
            gold_keys[(i, *offsets)] = sorted(keys)
            if offsets in pred:
                answers[(i, *offsets)] = pred[offsets]
    scores = score_keys(gold_keys, answers, first_sense)
    out = {f"{spans_key}_{name}": scores[name] for name in ("p", "r", "f")}
    # The same figures under spaCy's span-score names, which `spacy evaluate
    # --spans-key wsd` prints (as SPAN P/R/F).
    out.update({f"spans_{spans_key}_{name}": scores[name] for name in ("p", "r", "f")})
    if first_sense is not None:
        out.update({f"{spans_key}_{part}_f": scores[f"{part}_f"] for part in ("mfs", "lfs")})
    return out


def make_wsd_scorer(spans_key: str = WSD_SPANS_KEY) -> Callable:
    """The scorer of ctx_wsd (registered as spacy_ctx.wsd_scorer.v1):
    ``score_wsd`` on the span group ``spans_key``; ctx_wsd passes its
    inventory's ``first_sense`` test, for the MFS/LFS split."""

    def scorer(examples: Iterable[Example], first_sense=None, **kwargs) -> Dict[str, float]:
        return score_wsd(examples, spans_key=spans_key, first_sense=first_sense)

    return scorer
