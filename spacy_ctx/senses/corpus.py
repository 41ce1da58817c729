"""A corpus reader for WSD data in the framework's setting.

In the Raganato et al. (2017) framework, the tokens, lemmas, POS and target
instances are input, and only the senses are predicted. This reader gives
`spacy train` / `spacy evaluate` that setting: each Example's predicted doc
has the reference's words, lemmas and POS, and its target spans (sense labels
removed, instance ids kept) in ``doc.spans[spans_key]``.
"""
from pathlib import Path
from typing import Callable, Iterable, Iterator, Union

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Corpus, Example

from .raganato import WSD_SPANS_KEY


def create_wsd_corpus_reader(
    path: Union[str, Path],
    spans_key: str = WSD_SPANS_KEY,
    limit: int = 0,
    shuffle: bool = False,
) -> Callable[[Language], Iterable[Example]]:
    """Read a .spacy file made by `convert-wsd` as Examples whose predicted
    docs carry the gold lemma, POS and targets, but no senses."""
    corpus = Corpus(path, gold_preproc=True, limit=limit, shuffle=shuffle)

    def read(nlp: Language) -> Iterator[Example]:
        for eg in corpus(nlp):
            yield Example(with_gold_input(eg.reference, spans_key), eg.reference)

    return read


def with_gold_input(reference: Doc, spans_key: str = WSD_SPANS_KEY) -> Doc:
    """A copy of the reference's words, spaces, lemmas, POS and target spans
    (one per instance, empty label, same id): the framework's input."""
    doc = Doc(
        reference.vocab,
        words=[t.text for t in reference],
        spaces=[bool(t.whitespace_) for t in reference],
        lemmas=[t.lemma_ for t in reference],
        pos=[t.pos_ or "X" for t in reference],
    )
    targets, seen = [], set()
    if spans_key in reference.spans:
        for span in reference.spans[spans_key]:
            ident = (span.start, span.end, span.id_)
            if ident not in seen:
                seen.add(ident)
                targets.append(Span(doc, span.start, span.end, span_id=span.id_))
    doc.spans[spans_key] = targets
    return doc


def predict_keys(
    nlp: Language,
    data_path: Union[str, Path],
    spans_key: str = WSD_SPANS_KEY,
    batch_size: int = 32,
) -> Iterator[tuple]:
    """Run a pipeline with a ctx_wsd on a Raganato XML file (its instances
    are the targets); yield ``(instance_id, sense_key)`` for every answer."""
    from .raganato import read_raganato, sentence_to_doc

    docs = (
        with_gold_input(sentence_to_doc(nlp.vocab, sentence), spans_key)
        for sentence in read_raganato(data_path)
        if sentence.words
    )
    for doc in nlp.pipe(docs, batch_size=batch_size):
        for span in doc.spans.get(spans_key, []):
            if span.id_ and span.label_:
                yield span.id_, span.label_
