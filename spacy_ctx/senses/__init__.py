"""Sense data: the Raganato et al. (2017) XML/key format and the WordNet inventory.

Gold (and predicted) senses sit on a Doc in the span group ``doc.spans["wsd"]``
(see :mod:`spacy_ctx.senses.raganato` for the exact convention).
"""
from .raganato import (
    WSD_SPANS_KEY,
    WSDInstance,
    WSDSentence,
    doc_to_instances,
    read_gold_keys,
    read_raganato,
    sentence_to_doc,
    write_keys,
)

__all__ = [
    "WSD_SPANS_KEY",
    "WSDInstance",
    "WSDSentence",
    "doc_to_instances",
    "read_gold_keys",
    "read_raganato",
    "sentence_to_doc",
    "write_keys",
]
