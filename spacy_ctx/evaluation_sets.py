"""The evaluation sets spacy-ctx scores against, each read by its own reader
(not sniffed like the corpora of corpora.py):

    sts        read_sts: the STS Benchmark .csv, 7 tab-separated columns
               (genre, file, year, id, score, sentence 1, sentence 2)
    wordsim    read_word_pairs: word1<TAB>word2<TAB>score lines;
               find_wordsim_sets: the WORDSIM_FILES of a directory
               (SimLex-999, WS-353, MEN, RG-65, MC-30)
    tweeteval  read_tweeteval: a TweetEval task directory, with
               <split>_text.txt and <split>_labels.txt aligned by line and
               mapping.txt (label id<TAB>name)
"""
import csv
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple

from .corpora import PathLike
from .errors import Errors, SpacyCtxError

# File names of the word-similarity sets (as in wordvectors.org's collection).
WORDSIM_FILES = {
    "SimLex-999": "EN-SIMLEX-999.txt",
    "WS-353-ALL": "EN-WS-353-ALL.txt",
    "WS-353-SIM": "EN-WS-353-SIM.txt",
    "WS-353-REL": "EN-WS-353-REL.txt",
    "MEN": "EN-MEN-TR-3k.txt",
    "RG-65": "EN-RG-65.txt",
    "MC-30": "EN-MC-30.txt",
}


class ScoredPair(NamedTuple):
    """Two texts (sentences or words) and their gold similarity."""

    a: str
    b: str
    gold: float


# Similarity benchmarks


def read_sts(path: PathLike, limit: Optional[int] = None) -> List[ScoredPair]:
    """STS Benchmark pairs: 7 tab-separated columns, the score (0-5) fifth.
    Sentences hold quote characters, so no CSV quoting is applied."""
    pairs = []
    with Path(path).open(encoding="utf8", newline="") as file_:
        for n, row in enumerate(csv.reader(file_, delimiter="\t", quoting=csv.QUOTE_NONE)):
            if len(row) < 7:
                raise SpacyCtxError(Errors.E301.format(path=path, line=n + 1, n=len(row)))
            pairs.append(ScoredPair(row[5], row[6], float(row[4])))
            if limit is not None and len(pairs) >= limit:
                break
    return pairs


def read_word_pairs(path: PathLike) -> List[ScoredPair]:
    """`word1<TAB>word2<TAB>score` lines (blank lines skipped)."""
    pairs = []
    with Path(path).open(encoding="utf8") as file_:
        for n, line in enumerate(file_):
            if not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            try:
                pairs.append(ScoredPair(fields[0].strip(), fields[1].strip(), float(fields[2])))
            except (IndexError, ValueError):
                raise SpacyCtxError(Errors.E302.format(path=path, line=n + 1)) from None
    return pairs


def find_wordsim_sets(directory: PathLike) -> Dict[str, Path]:
    """{set name: path} of the WORDSIM_FILES present in `directory`."""
    directory = Path(directory)
    found = {name: directory / f for name, f in WORDSIM_FILES.items() if (directory / f).is_file()}
    if not found:
        raise SpacyCtxError(Errors.E303.format(path=directory, names=", ".join(WORDSIM_FILES.values())))
    return found


# Text classification


def read_tweeteval(directory: PathLike, split: str = "train") -> List[Tuple[str, str]]:
    """(text, label name) pairs of a TweetEval task directory: one tweet per
    line of `<split>_text.txt`, its label id on the same line of
    `<split>_labels.txt`, the names in `mapping.txt` ("0<TAB>negative").
    Lines end at "\n" only: a tweet may hold U+2028 or a form feed, which
    str.splitlines would take for line ends, shifting texts against labels."""
    directory = Path(directory)
    names = {}
    for line in _lines(directory / "mapping.txt"):
        if line.strip():
            label_id, name = line.split("\t", 1)
            names[label_id.strip()] = name.strip()
    text_path = directory / f"{split}_text.txt"
    texts = _lines(text_path)
    labels = _lines(directory / f"{split}_labels.txt")
    if len(texts) != len(labels):
        reason = f"{len(texts)} texts but {len(labels)} labels"
        raise SpacyCtxError(Errors.E200.format(id=min(len(texts), len(labels)), path=text_path, reason=reason))
    for n, label in enumerate(labels):
        if label.strip() not in names:
            reason = f"label '{label.strip()}' is not in mapping.txt"
            raise SpacyCtxError(Errors.E200.format(id=n, path=text_path, reason=reason))
    return [(text, names[label.strip()]) for text, label in zip(texts, labels)]


def _lines(path: Path) -> List[str]:
    """The lines of a text file, split at "\n" alone (universal newlines
    have already turned "\r\n" into it)."""
    lines = path.read_text(encoding="utf8").split("\n")
    return lines[:-1] if lines[-1] == "" else lines
