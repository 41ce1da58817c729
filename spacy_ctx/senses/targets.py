"""Which words ctx_wsd disambiguates, and which it answers without its model.

A target is a span of a doc with a lemma and a coarse POS. At prediction
time (``find_targets``), if a doc already has the span group (even empty),
its spans are the targets (e.g. the instances of a Raganato file); else every
NOUN/VERB/ADJ/ADV token (any alphabetic non-stop word when there is no POS)
with WordNet candidates is a target. In training (``gold_targets``), the
targets are the gold instances.

``plan_batch`` splits targets into those the model scores and those decided
by a fallback: a single candidate is the answer with score 1; a lemma unseen
in training (candidates not all in the sense table) gets its most frequent
sense (WordNet's first), scored by its prior probability.
"""
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy
from spacy.tokens import Doc, Span
from spacy.training import Example

from ..models.wsd import WSDBatch
from .inventory import POS_TO_WN, SenseInventory
from .raganato import doc_to_instances


class Target(NamedTuple):
    """Tokens [start, end) of a doc, the instance id ("" if none), lemma and
    coarse POS (None: any POS)."""

    start: int
    end: int
    id: str
    lemma: str
    pos: Optional[str]


class Answer(NamedTuple):
    """A target's sense key and its probability among the candidates."""

    target: Target
    key: str
    score: float


# (doc index, target index within the doc, candidate keys) of a scored target.
Scored = Tuple[int, int, Tuple[str, ...]]


def span_lemma_pos(span: Span) -> Tuple[str, Optional[str]]:
    """Lemma and coarse POS of a target: those of its first token, or its
    lower-cased text (and any POS) when the tokens carry none."""
    first = span[0]
    lemma = first.lemma_ or "_".join(t.lower_ for t in span)
    return lemma, (first.pos_ or None)


def find_targets(doc: Doc, spans_key: str, inventory: SenseInventory) -> List[Target]:
    """The targets of a doc at prediction time (see the module doc)."""
    targets: List[Target] = []
    if spans_key in doc.spans:
        seen = set()
        for span in doc.spans[spans_key]:
            ident = (span.start, span.end, span.id_)
            if ident not in seen:
                seen.add(ident)
                targets.append(Target(span.start, span.end, span.id_, *span_lemma_pos(span)))
        return targets
    for token in doc:
        pos = token.pos_ or None
        if pos is None:
            if not token.is_alpha or token.is_stop:
                continue
        elif pos not in POS_TO_WN:
            continue
        lemma = token.lemma_ or token.lower_
        if inventory.candidates(lemma, pos):
            targets.append(Target(token.i, token.i + 1, "", lemma, pos))
    return targets


def gold_targets(eg: Example, spans_key: str) -> Tuple[List[Target], List[List[str]]]:
    """The gold instances of an example, on the predicted doc's tokens, with
    lemma and POS from the reference (the gold annotation), and their keys."""
    targets, golds = [], []
    for iid, keys, span in doc_to_instances(eg.reference, spans_key):
        if not keys:
            continue
        pred = eg.predicted.char_span(span.start_char, span.end_char, alignment_mode="expand")
        if pred is None or len(pred) == 0:
            continue
        targets.append(Target(pred.start, pred.end, iid, *span_lemma_pos(span)))
        golds.append(keys)
    return targets, golds


def plan_batch(
    docs: Sequence[Doc],
    targets: Sequence[Sequence[Target]],
    inventory: SenseInventory,
    rows: Dict[str, int],
) -> Tuple[WSDBatch, List[Scored], List[Tuple[int, Answer]]]:
    """Split the targets of docs into model-scored ones and fallbacks.

    rows: sense key -> row of the model's sense table.
    Returns the model's input, the scored targets in the order of its
    candidate segments, and the (doc index, answer) of the others. A target
    without candidates is in neither.
    """
    scored: List[Scored] = []
    decided: List[Tuple[int, Answer]] = []
    spans, cand_rows, lengths, priors = [], [], [], []
    for d, doc_targets in enumerate(targets):
        for t, target in enumerate(doc_targets):
            keys = inventory.candidates(target.lemma, target.pos)
            if not keys:
                continue
            if len(keys) == 1:
                decided.append((d, Answer(target, keys[0], 1.0)))
            elif all(k in rows for k in keys):
                scored.append((d, t, keys))
                spans.append((d, target.start, target.end))
                cand_rows.extend(rows[k] for k in keys)
                lengths.append(len(keys))
                priors.append(inventory.log_prior(keys))
            else:  # a lemma unseen in training: most frequent sense
                prob = float(numpy.exp(inventory.log_prior(keys)[0]))
                decided.append((d, Answer(target, keys[0], prob)))
    batch = WSDBatch(
        docs=list(docs),
        targets=spans,
        rows=numpy.asarray(cand_rows, dtype="i"),
        lengths=numpy.asarray(lengths, dtype="i"),
        log_prior=numpy.concatenate(priors) if priors else numpy.zeros((0,), "f"),
    )
    return batch, scored, decided
