"""Reader and writer for the Raganato et al. (2017) WSD evaluation format.

The format is an XML file (``corpus > text > sentence > wf | instance``) plus a
gold key file with lines ``instance_id key1 [key2 ...]``.

How senses sit on a Doc (``sentence_to_doc``):

* Each ``wf``/``instance`` element may hold several whitespace-separated words
  ("Fulton County Grand Jury"); each word becomes one token, and every token of
  the element gets the element's lemma (``token.lemma_``, e.g. "group" or
  "primary_election") and coarse POS (``token.pos_``, mapped to UPOS).
* Each instance becomes Spans in the group ``doc.spans["wsd"]`` covering all of
  its tokens (multiword instances are one span). ``span.id_`` is the instance
  id and ``span.label_`` a sense key. An instance with several gold keys gets
  one span per key (same tokens, same id): a prediction is correct if it equals
  the label of any of them, as in the framework's scorer. An instance with no
  gold key (pure input data) gets one span with an empty label: a target to
  predict. Both ``id_`` and ``label_`` survive ``DocBin`` and ``Example``
  alignment (they are stored with the span, matched by character offsets).
"""
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Tuple, Union
from xml.etree.ElementTree import iterparse

from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

WSD_SPANS_KEY = "wsd"

# Raganato coarse POS (universal tagset of Petrov et al.) -> spaCy UPOS.
RAGANATO_TO_UPOS = {
    "NOUN": "NOUN", "VERB": "VERB", "ADJ": "ADJ", "ADV": "ADV", "ADP": "ADP",
    "CONJ": "CCONJ", "DET": "DET", "NUM": "NUM", "PRON": "PRON", "PRT": "PART",
    ".": "PUNCT", "X": "X",
}
UPOS_TO_RAGANATO = {
    "NOUN": "NOUN", "PROPN": "NOUN", "VERB": "VERB", "AUX": "VERB", "ADJ": "ADJ",
    "ADV": "ADV", "ADP": "ADP", "CCONJ": "CONJ", "SCONJ": "CONJ", "DET": "DET",
    "NUM": "NUM", "PRON": "PRON", "PART": "PRT", "PUNCT": ".", "SYM": ".", "X": "X",
}


@dataclass
class WSDInstance:
    """One target of a sentence: token offsets [start, end) and its gold keys."""

    id: str
    start: int
    end: int
    lemma: str
    pos: str
    keys: List[str] = field(default_factory=list)


@dataclass
class WSDSentence:
    """One sentence: its tokens with lemma and (Raganato) POS, and its instances."""

    id: str
    words: List[str]
    lemmas: List[str]
    pos: List[str]
    instances: List[WSDInstance]


def read_gold_keys(path: Union[str, Path]) -> Dict[str, List[str]]:
    """Read a key file (``instance_id key1 [key2 ...]`` per line)."""
    keys: Dict[str, List[str]] = {}
    with Path(path).open(encoding="utf8") as file_:
        for line in file_:
            parts = line.split()
            if parts:
                keys[parts[0]] = parts[1:]
    return keys


def read_raganato(
    data_path: Union[str, Path],
    gold_path: Optional[Union[str, Path]] = None,
) -> Iterator[WSDSentence]:
    """Stream the sentences of a Raganato XML file, with gold keys if given.

    The XML is read with ``iterparse`` and each sentence is freed once yielded,
    so memory stays flat on SemCor-sized files.
    """
    gold = read_gold_keys(gold_path) if gold_path is not None else {}
    for _, elem in iterparse(str(data_path), events=("end",)):
        if elem.tag != "sentence":
            continue
        words: List[str] = []
        lemmas: List[str] = []
        pos: List[str] = []
        instances: List[WSDInstance] = []
        for child in elem:
            if child.tag not in ("wf", "instance"):
                continue
            parts = (child.text or "").split()
            if not parts:
                continue
            lemma = child.get("lemma", "")
            tag = child.get("pos", "X")
            start = len(words)
            words.extend(parts)
            lemmas.extend([lemma] * len(parts))
            pos.extend([tag] * len(parts))
            if child.tag == "instance":
                iid = child.get("id")
                instances.append(
                    WSDInstance(iid, start, len(words), lemma, tag, list(gold.get(iid, [])))
                )
        yield WSDSentence(elem.get("id", ""), words, lemmas, pos, instances)
        elem.clear()


def sentence_to_doc(vocab: Vocab, sentence: WSDSentence) -> Doc:
    """Make a Doc with lemma, UPOS and the ``doc.spans["wsd"]`` group (see module doc)."""
    doc = Doc(
        vocab,
        words=sentence.words,
        lemmas=sentence.lemmas,
        pos=[RAGANATO_TO_UPOS.get(p, "X") for p in sentence.pos],
    )
    spans = []
    for inst in sentence.instances:
        for key in inst.keys or [""]:
            spans.append(Span(doc, inst.start, inst.end, label=key, span_id=inst.id))
    doc.spans[WSD_SPANS_KEY] = spans
    doc.user_data["wsd_sentence_id"] = sentence.id
    return doc


def doc_to_instances(doc: Doc, key: str = WSD_SPANS_KEY) -> List[Tuple[str, List[str], Span]]:
    """Group the spans of ``doc.spans[key]`` by instance id, in document order.

    Returns ``(instance_id, [labels], first_span)``; empty labels are dropped.
    """
    if key not in doc.spans:
        return []
    by_id: Dict[str, List[Span]] = defaultdict(list)
    for span in doc.spans[key]:
        by_id[span.id_].append(span)
    out = []
    for iid, spans in by_id.items():
        out.append((iid, [s.label_ for s in spans if s.label_], spans[0]))
    return sorted(out, key=lambda item: (item[2].start, item[0]))


def write_keys(
    items: Iterable[Tuple[str, Union[str, List[str]]]], file_or_path
) -> int:
    """Write ``instance_id key [key ...]`` lines to a path or an open text file.

    Items whose key is empty or None are skipped (no answer). Returns the
    number of lines written.
    """
    def _write(out) -> int:
        n = 0
        for iid, keys in items:
            keys = [keys] if isinstance(keys, str) else list(keys or [])
            keys = [k for k in keys if k]
            if keys:
                out.write(f"{iid} {' '.join(keys)}\n")
                n += 1
        return n

    if hasattr(file_or_path, "write"):
        return _write(file_or_path)
    with Path(file_or_path).open("w", encoding="utf8") as out:
        return _write(out)


def raganato_to_docbin(
    vocab: Vocab,
    data_path: Union[str, Path],
    gold_path: Optional[Union[str, Path]] = None,
):
    """Convert a Raganato XML (+ key) file into a DocBin, one Doc per sentence."""
    from spacy.tokens import DocBin

    docbin = DocBin(store_user_data=True)
    for sentence in read_raganato(data_path, gold_path):
        if sentence.words:
            docbin.add(sentence_to_doc(vocab, sentence))
    return docbin
