"""The WordNet 3.0 sense inventory, read with nltk's WordNet corpus reader.

nltk (the ``wsd`` extra) and WordNet are needed to initialize a ctx_wsd, not
to run a trained one: that uses the :class:`~spacy_ctx.senses.inventory.SenseInventory`
built here and saved with the pipeline.
"""
import warnings
from collections import defaultdict
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from ..compat import require
from ..errors import Errors, SpacyCtxError
from .inventory import INDEX_POS, POS_TO_WN, SS_TYPE_TO_POS, SenseInventory, key_lemma_pos, normalize_lemma

if TYPE_CHECKING:
    from nltk.corpus.reader.wordnet import Lemma, Synset

__all__ = ["POS_TO_WN", "SS_TYPE_TO_POS", "WordNetInventory", "find_wordnet", "get_inventory"]

DATA_FILES = {"n": "data.noun", "v": "data.verb", "a": "data.adj", "r": "data.adv"}
EXC_FILES = {"n": "noun.exc", "v": "verb.exc", "a": "adj.exc", "r": "adv.exc"}
# WordNet files the reader needs; checked up front for a clear error.
REQUIRED_FILES = ("index.sense", "cntlist.rev", "lexnames", "index.noun", *DATA_FILES.values(), *EXC_FILES.values())
# Where nltk's downloader puts WordNet 3.0 (`python -m nltk.downloader wordnet`),
# unzipped or not, under any nltk.data.path directory.
NLTK_RESOURCES = ("corpora/wordnet", "corpora/wordnet.zip/wordnet/")


def _nltk():
    return require("nltk", "wsd", "ctx_wsd")


@lru_cache(maxsize=1)
def _reader_class():
    """nltk's reader on a dict directory of our own.

    nltk 3.10's constructor calls ``map_wn()``, which loads nltk's own
    downloaded ``wordnet`` corpus to map OMW data; we use no OMW data, so it
    returns None and no nltk download is needed.
    """
    reader = require("nltk.corpus.reader.wordnet", "wsd", "ctx_wsd").WordNetCorpusReader

    class LocalWordNetReader(reader):
        def map_wn(self, version="oewn"):
            return None

    return LocalWordNetReader


def find_wordnet(path: Optional[Union[str, Path]] = None):
    """The WordNet 3.0 to read: ``path`` when given (a dict directory), else
    nltk's downloaded ``wordnet`` corpus (a directory, or nltk's pointer into
    its zip file). Fails with how to get WordNet when there is none."""
    if path:
        return Path(path).expanduser().resolve()
    nltk = _nltk()
    for resource in NLTK_RESOURCES:
        try:
            pointer = nltk.data.find(resource)
        except LookupError:
            continue
        return Path(pointer.path).resolve() if isinstance(pointer, nltk.data.FileSystemPathPointer) else pointer
    raise SpacyCtxError(Errors.E107.format(searched=", ".join(map(str, nltk.data.path))))


class WordNetInventory:
    """Candidate senses, sense frequency order, glosses and relations.

    Senses are WordNet sense keys (``bank%1:14:00::``). Candidates of a lemma
    and coarse POS come in WordNet's order, which is sense frequency order
    (tagged counts, then lexicographer order), so the first is the MFS.
    """

    def __init__(self, path):
        """path: a WordNet 3.0 dict directory, or an nltk path pointer to one
        (see find_wordnet)."""
        nltk = _nltk()
        is_dir = not isinstance(path, nltk.data.PathPointer)
        self.path = Path(path).expanduser().resolve() if is_dir else path
        missing = [f for f in REQUIRED_FILES if not _has_file(self.path, f)]
        if (is_dir and not self.path.is_dir()) or missing:
            raise SpacyCtxError(Errors.E101.format(path=path, missing=", ".join(missing)))
        if is_dir:
            # nltk opens corpus files through nltk.data: the directory's
            # parent must be on its search path, or reads fail with a lookup error.
            parent = str(self.path.parent)
            if parent not in nltk.data.path:
                nltk.data.path.append(parent)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "multilingual functions not available"
            self.reader = _reader_class()(str(self.path) if is_dir else self.path, None)
        self._senses: Optional[SenseInventory] = None
        self._lemma_cache: Dict[str, Optional["Lemma"]] = {}

    def __reduce__(self):
        return (WordNetInventory, (self.path,))

    normalize_lemma = staticmethod(normalize_lemma)
    key_lemma_pos = staticmethod(key_lemma_pos)

    def open(self, name: str):
        """Open one of WordNet's files (``index.sense``) as text."""
        if isinstance(self.path, Path):
            return (self.path / name).open(encoding="utf8")
        return self.reader.open(name)  # inside nltk's zip file

    def sense_inventory(self) -> SenseInventory:
        """What prediction needs of this WordNet, to save with a pipeline.

        Candidates are nltk's (the keys of the lemma's synsets written with
        that lemma, in WordNet's sense order), read from index.sense in a
        second or two instead of from nltk's synsets."""
        found: Dict[str, Dict[str, list]] = {pos: defaultdict(list) for pos in INDEX_POS}
        by_ss_type = {digit: found["a" if pos == "s" else pos] for digit, pos in SS_TYPE_TO_POS.items()}
        twins = self._case_twins()
        with self.open("index.sense") as file_:
            # sense_key synset_offset sense_number tag_cnt; keys are stored
            # without the "lemma%" they start with.
            for line in file_:
                key, offset, number, _ = line.split()
                lemma, _, rest = key.partition("%")
                rests = twins.get((offset, lemma), (rest,))
                by_ss_type[rest[0]][lemma].append((int(number), rests))
        index = {
            pos: {lemma: list(_in_sense_order(senses)) for lemma, senses in by_lemma.items()}
            for pos, by_lemma in found.items()
        }
        with self.open("cntlist.rev") as file_:
            # sense_key sense_number tag_cnt, read as nltk's Lemma.count() does
            counts = {parts[0]: int(parts[2]) for parts in map(str.split, file_) if int(parts[2])}
        exceptions = {}
        for pos, name in EXC_FILES.items():
            with self.open(name) as file_:
                exceptions[pos] = {parts[0]: parts[1:] for parts in map(str.split, file_) if parts}
        substitutions = {pos: self.reader.MORPHOLOGICAL_SUBSTITUTIONS[pos] for pos in INDEX_POS}
        return SenseInventory(index, counts, exceptions, substitutions)

    def _case_twins(self) -> Dict[Tuple[str, str], List[str]]:
        """(synset offset, lemma) -> keys without "lemma%", for the 37 synsets
        that hold one lemma in two spellings ("sun" and "Sun"): index.sense
        has one key of the two, nltk's synsets (and sense-annotated corpora)
        both."""
        twins: Dict[Tuple[str, str], List[str]] = {}
        for pos, name in DATA_FILES.items():
            with self.open(name) as file_:
                for line in file_:
                    if line.startswith(" "):
                        continue  # the licence header
                    # offset lex_filenum ss_type w_cnt (hex) word lex_id ...
                    parts = line.split()
                    words = [w.partition("(")[0].lower() for w in parts[4 : 4 + 2 * int(parts[3], 16) : 2]]
                    if len(set(words)) == len(words):
                        continue
                    for lem in self.reader.synset_from_pos_and_offset(pos, int(parts[0])).lemmas():
                        lemma, _, rest = lem.key().partition("%")
                        twins.setdefault((parts[0], lemma), []).append(rest)
        return twins

    @property
    def senses(self) -> SenseInventory:
        """This WordNet's SenseInventory (built on first use)."""
        if self._senses is None:
            self._senses = self.sense_inventory()
        return self._senses

    def candidates(self, lemma: str, pos: Optional[str] = None) -> Tuple[str, ...]:
        """Sense keys of a lemma (and coarse POS, or any POS if None), MFS
        first; see SenseInventory.candidates."""
        return self.senses.candidates(lemma, pos)

    def lemma(self, key: str) -> Optional["Lemma"]:
        """The nltk Lemma of a sense key, or None if WordNet lacks it."""
        if key not in self._lemma_cache:
            try:
                self._lemma_cache[key] = self.reader.lemma_from_key(key)
            except Exception:
                self._lemma_cache[key] = self._find_lemma(key)
        return self._lemma_cache[key]

    def _find_lemma(self, key: str) -> Optional["Lemma"]:
        # nltk's lemma_from_key misses keys whose WordNet lemma is capitalised
        # ("sun%1:17:02::" is the lemma "Sun"): look through the synsets of
        # the key's lemma for the Lemma that writes this key.
        name = key.partition("%")[0]
        try:
            synsets = self.reader.synsets(name)
        except Exception:
            return None
        for synset in synsets:
            for lem in synset.lemmas():
                if lem.key() == key:
                    return lem
        return None

    def synset(self, key: str) -> Optional["Synset"]:
        lem = self.lemma(key)
        return lem.synset() if lem is not None else None

    def count(self, key: str) -> int:
        """Tagged frequency of a sense (WordNet's cntlist)."""
        return self.senses.count(key)

    def gloss(self, key: str) -> str:
        """The definition of the sense's synset, '' if unknown."""
        synset = self.synset(key)
        if synset is None:
            return ""
        return synset.definition()

    def gloss_text(self, key: str, n_examples: int = 2) -> str:
        """The sense's synset as a text to encode, as LMMS does for its gloss
        embeddings: lemma names, definition and up to `n_examples` examples,
        e.g. "bank, depository financial institution - a financial institution
        that accepts deposits ... ; he cashed a check at the bank". '' if
        unknown."""
        synset = self.synset(key)
        if synset is None:
            return ""
        names = ", ".join(lem.name().replace("_", " ") for lem in synset.lemmas())
        examples = synset.examples()[:n_examples]
        return f"{names} - {synset.definition()}" + "".join(f" ; {ex}" for ex in examples)

    def lexname(self, key: str) -> str:
        synset = self.synset(key)
        return synset.lexname() if synset is not None else ""

    def related(self, key: str) -> List["Synset"]:
        """Hypernyms (and instance hypernyms) of the sense's synset."""
        synset = self.synset(key)
        if synset is None:
            return []
        return synset.hypernyms() + synset.instance_hypernyms()

    def synset_keys(self, synset: "Synset") -> List[str]:
        return [lem.key() for lem in synset.lemmas()]


def _in_sense_order(senses: List[Tuple[int, Sequence[str]]]) -> Iterator[str]:
    if len(senses) > 1:
        senses = sorted(senses)
    seen = set()
    for _, rests in senses:
        for rest in rests:
            if rest not in seen:  # a twin's key comes once
                seen.add(rest)
                yield rest


def _has_file(root, name: str) -> bool:
    if isinstance(root, Path):
        return (root / name).exists()
    try:  # an nltk path pointer: join() fails for a missing entry
        root.join(name)
    except OSError:
        return False
    return True


# find_wordnet's answer -> WordNetInventory, the last few (insertion order).
_INVENTORIES: Dict[str, WordNetInventory] = {}


def get_inventory(path: Optional[Union[str, Path]] = None) -> WordNetInventory:
    """The WordNetInventory of ``find_wordnet(path)``, shared by every user of
    the same WordNet in this process (nltk's reader takes seconds to index
    WordNet). A directory that has gone away is an error, not a cache hit."""
    root = find_wordnet(path)
    if isinstance(root, Path) and not root.is_dir():
        return WordNetInventory(root)  # raises the clear error
    key = str(root)
    if key not in _INVENTORIES:
        if len(_INVENTORIES) >= 4:
            _INVENTORIES.pop(next(iter(_INVENTORIES)))
        _INVENTORIES[key] = WordNetInventory(root)
    return _INVENTORIES[key]
