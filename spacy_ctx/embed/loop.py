"""The embedding loop that both executors run: records in, batches of docs and
their output arrays handed to a writer."""
from typing import Callable, Iterable, List, NamedTuple, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import minibatch

from ..corpora import BadRecord, OnError, Record
from .writers import doc_outputs


class EmbedCounts(NamedTuple):
    """What a run of the loop wrote."""

    docs: int
    tokens: int


def encode_records(
    nlp: Language, records: Sequence[Record], batch_size: int, on_error: Optional[OnError] = None
) -> List[Tuple[Record, Doc]]:
    """(record, doc) pairs of a batch, by `nlp.pipe`. Without `on_error` a
    failing batch raises. With it, a failing batch is encoded again one doc
    at a time, so that one bad document costs one BadRecord (given to
    on_error) and not its whole batch."""
    try:
        return list(zip(records, nlp.pipe([record.text for record in records], batch_size=batch_size)))
    except Exception:  # noqa: BLE001 (anything a document can raise)
        if on_error is None:
            raise
        pairs = []
        for record in records:
            try:
                pairs.append((record, nlp(record.text)))
            except Exception as err:  # noqa: BLE001
                on_error(BadRecord(record.id, f"{type(err).__name__}: {err}"))
        return pairs


def embed_records(
    nlp: Language,
    records: Iterable[Record],
    writer,
    layers: Sequence[int],
    mix: bool,
    *,
    batch_size: int = 64,
    on_error: Optional[OnError] = None,
    on_batch: Optional[Callable[[int], object]] = None,
) -> EmbedCounts:
    """Encode `records` in batches of `batch_size` and write each batch:
    writer.write(records, docs, outputs), the outputs by `doc_outputs`
    (layers: positive indices, stored on the docs; mix: the scalar mix).

    on_error: see `encode_records`. on_batch: called with the number of
        records of each batch, after it is written (a progress bar).
    The writer is neither closed nor discarded: that is the caller's.
    """
    n_docs = n_tokens = 0
    for batch in minibatch(records, batch_size):
        pairs = encode_records(nlp, batch, batch_size, on_error)
        docs = [doc for _, doc in pairs]
        writer.write([record for record, _ in pairs], docs, [doc_outputs(doc, layers, mix) for doc in docs])
        n_docs += len(docs)
        n_tokens += sum(len(doc) for doc in docs)
        if on_batch is not None:
            on_batch(len(batch))
    return EmbedCounts(n_docs, n_tokens)
