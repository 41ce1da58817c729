"""Every corpus format spacy-ctx reads, in one place.

One sniffer decides the format of a file (`sniff_format`: the suffix, and for
.txt the CoNLL "-DOCSTART-" check), one predicate drops CoNLL document
separators (`is_docstart`), and three readers serve the rest of the package:

    read_texts      records (id, text, meta): what `embed` encodes
    read_docs       annotated Docs: what the analysis tools probe
    read_sequences  token lists: what ELMo pretraining trains on

Formats (names as `sniff_format` returns them):

    text     .txt/.text, one document per non-empty line
    jsonl    one JSON object per line with "text" and optional "id"
    parquet  a "text" column and an optional "id" column
    conllu   UD treebanks
    ner      CoNLL NER columns (.iob/.iob2/.conll/.tsv, or .txt starting
             with -DOCSTART-): token first, BIO tag last
    wsd      Raganato WSD XML (gold keys in <stem>.gold.key.txt beside it)
    spacy    a DocBin

The scored and labelled evaluation sets (STS-B, word similarity, TweetEval)
have readers of their own, in evaluation_sets.py.
"""
import json
import re
from itertools import islice
from pathlib import Path
from typing import Callable, Dict, Iterator, List, NamedTuple, Optional, Union

from spacy.language import Language
from spacy.tokens import Doc, DocBin

from .errors import Errors, SpacyCtxError

# Checked in this order: ".gold.key.txt" (a WSD key file, not text) before ".txt".
SUFFIXES = {
    "wsd_key": (".gold.key.txt",),
    "spacy": (".spacy",),
    "conllu": (".conllu",),
    "ner": (".iob", ".iob2", ".conll", ".tsv"),
    "wsd": (".xml",),
    "text": (".txt", ".text"),
    "jsonl": (".jsonl",),
    "parquet": (".parquet",),
}
# What each reader accepts.
DOC_FORMATS = ("spacy", "conllu", "ner", "wsd", "text", "jsonl")
TEXT_FORMATS = ("text", "jsonl", "parquet", "conllu", "ner", "wsd")
SEQUENCE_FORMATS = ("conllu", "ner", "wsd", "text", "jsonl")
# The formats with one record per line: a byte offset can find a record.
LINE_FORMATS = ("text", "jsonl")
DOCSTART = "-DOCSTART-"
PathLike = Union[str, Path]


class Record(NamedTuple):
    """One document to encode: its stable id, its text, and the other fields
    of its input record (JSONL only)."""

    id: str
    text: str
    meta: Dict


class BadRecord(NamedTuple):
    """An input record that could not be read: its id (the line or row number
    where it has none, or is unreadable) and why."""

    id: str
    reason: str


OnError = Callable[[BadRecord], None]


def sniff_format(path: PathLike) -> str:
    """The format of a file, from its name (see the module docstring); a .txt
    whose first non-empty line is "-DOCSTART-" is CoNLL NER columns.
    Returns "unknown" for anything else."""
    path = Path(path)
    name = path.name.lower()
    for fmt, suffixes in SUFFIXES.items():
        if name.endswith(suffixes):
            if fmt == "text" and path.is_file() and _starts_with_docstart(path):
                return "ner"
            return fmt
    return "unknown"


def is_docstart(line: str) -> bool:
    """A CoNLL document separator ("-DOCSTART- -X- -X- O"): not a token."""
    return line.startswith(DOCSTART)


def _starts_with_docstart(path: Path) -> bool:
    with path.open(encoding="utf8", errors="replace") as file_:
        first = next((line for line in file_ if line.strip()), "")
    return is_docstart(first)


# Texts


def read_texts(
    path: PathLike,
    *,
    start: int = 0,
    stop: Optional[int] = None,
    offset: int = 0,
    on_error: Optional[OnError] = None,
) -> Iterator[Record]:
    """Records (id, text, meta) of a file, in order.

    text: one record per non-empty line; id = the line number (0-based).
    jsonl: "text" (a string) and "id" (default: the line number) per line;
        other fields are kept in meta.
    parquet: the "text" column and the "id" column (default: the row number).
    conllu, ner, wsd: one record per sentence, its words joined by spaces;
        id = the sentence number.

    start, stop: read only lines (rows, sentences) start <= n < stop.
    offset: the byte offset of line `start` in a text or jsonl file, to seek
        to it instead of reading past the lines before it.
    on_error: called with a BadRecord for a record that cannot be read
        (invalid UTF-8, invalid JSON, no text), which is then skipped;
        without it such a record raises SpacyCtxError.
    """
    path = Path(path)
    fmt = sniff_format(path)
    if fmt not in TEXT_FORMATS:
        raise SpacyCtxError(Errors.E010.format(path=path))
    if fmt in LINE_FORMATS:
        records = _read_lines(path, fmt, start, stop, offset)
    elif fmt == "parquet":
        records = _read_parquet(path, start, stop)
    else:
        sentences = islice(_sentences(path, fmt), start, stop)
        records = (Record(str(n), " ".join(words), {}) for n, words in enumerate(sentences, start))
    for record in records:
        if isinstance(record, BadRecord):
            if on_error is None:
                raise SpacyCtxError(Errors.E200.format(id=record.id, path=path, reason=record.reason))
            on_error(record)
        else:
            yield record


def count_records(path: PathLike) -> int:
    """The number of records of a text or jsonl file (non-empty lines), for a
    progress bar: one cheap pass."""
    with Path(path).open("rb") as file_:
        return sum(1 for line in file_ if line.strip())


def _read_lines(path: Path, fmt: str, start: int, stop: Optional[int], offset: int):
    # Binary lines, decoded one at a time: one bad line is one BadRecord.
    with path.open("rb") as file_:
        if offset:
            file_.seek(offset)
            lines = enumerate(file_, start)
        else:
            lines = islice(enumerate(file_), start, None)
        for n, raw in lines:
            if stop is not None and n >= stop:
                break
            if raw.strip():
                yield _parse_line(fmt, n, raw)


def _parse_line(fmt: str, n: int, raw: bytes) -> Union[Record, BadRecord]:
    try:
        line = raw.decode("utf8")
    except UnicodeDecodeError as err:
        return BadRecord(str(n), f"invalid UTF-8 ({err.reason} at byte {err.start})")
    if fmt == "text":
        return Record(str(n), line.rstrip("\r\n"), {})
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        return BadRecord(str(n), f"invalid JSON ({err.msg})")
    if not isinstance(record, dict):
        return BadRecord(str(n), "not a JSON object")
    doc_id = str(record.pop("id", n))
    text = record.pop("text", None)
    if not isinstance(text, str):
        return BadRecord(doc_id, "no text" if text is None else f"text is not a string ({type(text).__name__})")
    return Record(doc_id, text, record)


def _read_parquet(path: Path, start: int, stop: Optional[int]):
    import pyarrow.parquet as pq

    file_ = pq.ParquetFile(path)
    names = file_.schema_arrow.names
    if "text" not in names:
        raise SpacyCtxError(Errors.E206.format(path=path, columns=names))
    columns = ["text"] + (["id"] if "id" in names else [])
    stop = file_.metadata.num_rows if stop is None else min(stop, file_.metadata.num_rows)
    # Read only the row groups that overlap [start, stop).
    first_row = 0
    for group in range(file_.num_row_groups):
        n_rows = file_.metadata.row_group(group).num_rows
        if first_row < stop and first_row + n_rows > start:
            table = file_.read_row_group(group, columns=columns).to_pydict()
            for k in range(max(start - first_row, 0), min(stop - first_row, n_rows)):
                n = first_row + k
                doc_id = str(table["id"][k]) if "id" in table and table["id"][k] is not None else str(n)
                text = table["text"][k]
                yield Record(doc_id, text, {}) if isinstance(text, str) else BadRecord(doc_id, "no text")
        first_row += n_rows


# Docs


def read_docs(
    path: PathLike,
    nlp: Language,
    *,
    limit: Optional[int] = None,
    n_sents: int = 1,
    fmt: str = "auto",
) -> List[Doc]:
    """Read annotated (or plain) docs, whatever the format.

    .spacy: a DocBin, as written by `spacy convert`. .conllu: UD treebanks
    (UPOS, XPOS, dependencies). .iob/.iob2/.conll/.tsv: CoNLL-style NER columns
    (token first, BIO tag last, a middle column as the tag when there are
    more than two; columns split on tabs when the line has one, so tokens
    may hold spaces; "-DOCSTART-" lines are dropped). .xml: a Raganato WSD
    file, with gold senses in doc.spans["wsd"] when the `<stem>.gold.key.txt`
    key file lies beside it. .txt: one doc per line, unless it starts with a
    "-DOCSTART-" line (CoNLL-2003 NER columns). .jsonl: the "text" of each
    line.

    limit: keep the first `limit` docs (None = all).
    n_sents: sentences per doc for .conllu and NER columns (1 = one doc per
        sentence, the usual probing setting).
    fmt: "auto" (from the file name, as above), or one of DOC_FORMATS.
    """
    path = Path(path)
    if fmt == "auto":
        fmt = sniff_format(path)
    if fmt not in DOC_FORMATS:
        raise SpacyCtxError(Errors.A007.format(path=path))
    docs = [doc for doc in islice(_iter_docs(path, nlp, n_sents, fmt), limit) if len(doc)]
    if not docs:
        raise SpacyCtxError(Errors.A008.format(path=path))
    if any(doc.vocab is not nlp.vocab for doc in docs):
        # spaCy's CoNLL-U converter builds docs on a bare Vocab, whose lexemes
        # lack attributes such as LOWER and IS_PUNCT: move them to the pipeline's.
        docs = list(DocBin(docs=docs, store_user_data=True).get_docs(nlp.vocab))
    return docs


def _iter_docs(path: Path, nlp: Language, n_sents: int, fmt: str) -> Iterator[Doc]:
    if fmt == "spacy":
        yield from DocBin().from_disk(path).get_docs(nlp.vocab)
    elif fmt == "conllu":
        from spacy.training.converters import conllu_to_docs

        yield from conllu_to_docs(path.read_text(encoding="utf8"), n_sents=n_sents, no_print=True)
    elif fmt == "ner":
        yield from _ner_docs(path, nlp, n_sents)
    elif fmt == "wsd":
        from .senses.raganato import read_raganato, sentence_to_doc

        for sentence in read_raganato(path, _gold_key_path(path)):
            yield sentence_to_doc(nlp.vocab, sentence)
    else:
        for record in read_texts(path):
            if record.text.strip():
                yield nlp.make_doc(record.text.strip())


def _ner_docs(path: Path, nlp: Language, n_sents: int) -> Iterator[Doc]:
    from spacy.training import biluo_tags_to_spans, iob_to_biluo

    sentences = list(_column_rows(path))
    for first in range(0, len(sentences), max(n_sents, 1)):
        group = sentences[first : first + max(n_sents, 1)]
        rows = [row for sentence in group for row in sentence]
        doc = Doc(nlp.vocab, words=[row[0] for row in rows])
        i = 0
        for sentence in group:
            for k, row in enumerate(sentence):
                doc[i].is_sent_start = k == 0
                if len(row) > 2:
                    doc[i].tag_ = row[1]
                i += 1
        doc.ents = biluo_tags_to_spans(doc, iob_to_biluo([row[-1] for row in rows]))
        yield doc


def _gold_key_path(path: Path) -> Optional[Path]:
    gold = path.with_name(re.sub(r"(\.data)?\.xml$", "", path.name) + ".gold.key.txt")
    return gold if gold.exists() else None


# Token sequences


def read_sequences(path: PathLike, lang: str = "en") -> Iterator[List[str]]:
    """Token sequences from a file or a directory of files.

    .conllu (word forms; multiword ranges and empty nodes skipped), CoNLL
    column files (.conll, or .txt starting with -DOCSTART-; first column),
    Raganato .xml (the words of each sentence) are already tokenized. Plain
    .txt (one text per line) and .jsonl ({"text": ...}; records without text
    are skipped) go through spaCy's tokenizer for `lang`, so that pretraining
    sees the tokens a pipeline will.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and sniff_format(p) in SEQUENCE_FORMATS)
        if not files:
            raise SpacyCtxError(Errors.E403.format(path=path, reason="no text files in it"))
        for file in files:
            yield from read_sequences(file, lang)
        return
    if not path.is_file():
        raise SpacyCtxError(Errors.E403.format(path=path, reason="no such file"))
    fmt = sniff_format(path)
    if fmt not in SEQUENCE_FORMATS:
        raise SpacyCtxError(Errors.E403.format(path=path, reason="unknown suffix"))
    if fmt in LINE_FORMATS:
        import spacy

        tokenizer = spacy.blank(lang).tokenizer
        for record in read_texts(path, on_error=lambda bad: None):
            tokens = [t.text for t in tokenizer(record.text) if not t.is_space]
            if tokens:
                yield tokens
    else:
        yield from _sentences(path, fmt)


def _sentences(path: Path, fmt: str) -> Iterator[List[str]]:
    """The words of each sentence of a tokenized (conllu, ner, wsd) file."""
    if fmt == "wsd":
        from .senses.raganato import read_raganato

        for sentence in read_raganato(path):
            if sentence.words:
                yield sentence.words
    else:
        for rows in _column_rows(path, conllu=fmt == "conllu"):
            yield [row[1] if fmt == "conllu" else row[0] for row in rows]


def _column_rows(path: Path, conllu: bool = False) -> Iterator[List[List[str]]]:
    """The rows (lists of fields) of each sentence of a column file. CoNLL-U:
    comments, multiword ranges and empty nodes skipped; CoNLL NER: -DOCSTART-
    lines dropped, and fields split on tabs when a line has one (WNUT-17
    tokens may hold spaces), else on spaces."""
    rows: List[List[str]] = []
    with path.open(encoding="utf8") as file_:
        for line in file_:
            line = line.rstrip("\r\n")
            if not line.strip():
                if rows:
                    yield rows
                rows = []
            elif conllu:
                fields = line.split("\t")
                if not line.startswith("#") and not ("-" in fields[0] or "." in fields[0]):
                    rows.append(fields)
            elif not is_docstart(line):
                rows.append(line.split("\t") if "\t" in line else line.split())
    if rows:
        yield rows
