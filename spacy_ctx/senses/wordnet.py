"""The WordNet 3.0 sense inventory, read with nltk's WordNet corpus reader."""
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import nltk
from nltk.corpus.reader.wordnet import Lemma, Synset, WordNetCorpusReader

from ..errors import Errors, SpacyCtxError

# WordNet files the reader needs; checked up front for a clear error.
REQUIRED_FILES = ("index.sense", "lexnames", "data.noun", "index.noun", "data.verb")

# Coarse POS (UPOS or Raganato) -> WordNet POS letters. ADJ covers satellites.
POS_TO_WN = {
    "NOUN": ("n",), "PROPN": ("n",), "VERB": ("v",), "AUX": ("v",),
    "ADJ": ("a", "s"), "ADV": ("r",),
    "n": ("n",), "v": ("v",), "a": ("a", "s"), "s": ("a", "s"), "r": ("r",),
}
# The ss_type digit of a sense key -> WordNet POS letter.
SS_TYPE_TO_POS = {"1": "n", "2": "v", "3": "a", "4": "r", "5": "s"}


class _LocalWordNetReader(WordNetCorpusReader):
    """nltk's reader on a dict directory of our own.

    nltk 3.10's constructor calls ``map_wn()``, which loads nltk's own
    downloaded ``wordnet`` corpus to map OMW data; we use no OMW data, so it
    returns None and no nltk download is needed.
    """

    def map_wn(self, version="oewn"):
        return None


class WordNetInventory:
    """Candidate senses, sense frequency order, glosses and relations.

    Senses are WordNet sense keys (``bank%1:14:00::``). Candidates of a lemma
    and coarse POS come in WordNet's order, which is sense frequency order
    (tagged counts, then lexicographer order), so the first is the MFS.
    """

    def __init__(self, path: Union[str, Path]):
        self.path = Path(path).expanduser().resolve()
        missing = [f for f in REQUIRED_FILES if not (self.path / f).exists()]
        if not self.path.is_dir() or missing:
            raise SpacyCtxError(Errors.E101.format(path=path, missing=", ".join(missing)))
        # nltk opens corpus files through nltk.data: the directory's parent
        # must be on its search path, or reads fail with a lookup error.
        parent = str(self.path.parent)
        if parent not in nltk.data.path:
            nltk.data.path.append(parent)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "multilingual functions not available"
            self.reader = _LocalWordNetReader(str(self.path), None)
        self._candidates = lru_cache(maxsize=200_000)(self._candidates_uncached)
        self._lemma_cache: Dict[str, Optional[Lemma]] = {}
        self._count_cache: Dict[str, int] = {}

    def __reduce__(self):
        return (WordNetInventory, (str(self.path),))

    @staticmethod
    def normalize_lemma(lemma: str) -> str:
        """WordNet spelling of a lemma: lower case, spaces as underscores."""
        return "_".join(lemma.strip().lower().split())

    def candidates(self, lemma: str, pos: Optional[str] = None) -> Tuple[str, ...]:
        """Sense keys of a lemma (and coarse POS, or any POS if None), MFS first.

        Unknown lemmas get WordNet's morphological base form (morphy) as a
        second try. An unknown POS (DET, PUNCT...) has no candidates.
        """
        if not lemma:
            return ()
        return self._candidates(self.normalize_lemma(lemma), pos)

    def _candidates_uncached(self, lemma: str, pos: Optional[str]) -> Tuple[str, ...]:
        if pos is None:
            # Any POS: each POS's own candidates (a surface form such as
            # "sat" is a noun as is, and a verb through its base form "sit").
            keys = [k for p in ("n", "v", "a", "r") for k in self._candidates_uncached(lemma, p)]
            return tuple(dict.fromkeys(keys))
        wn_pos = POS_TO_WN.get(pos, ())
        keys = [
            lem.key()
            for synset in self._synsets(lemma, wn_pos)
            for lem in synset.lemmas()
            if lem.name().lower() == lemma
        ]
        if not keys and wn_pos:
            base = self.reader.morphy(lemma, wn_pos[0])
            if base and base != lemma:
                return self._candidates_uncached(base, pos)
        return tuple(dict.fromkeys(keys))

    def _synsets(self, lemma: str, wn_pos) -> List[Synset]:
        out: List[Synset] = []
        for p in wn_pos:
            if p == "s":
                continue  # nltk returns satellites under "a" lookups
            try:
                out.extend(self.reader.synsets(lemma, pos=p))
            except Exception:  # nltk raises on odd characters in lemmas
                continue
        return out

    def lemma(self, key: str) -> Optional[Lemma]:
        """The nltk Lemma of a sense key, or None if WordNet lacks it."""
        if key not in self._lemma_cache:
            try:
                self._lemma_cache[key] = self.reader.lemma_from_key(key)
            except Exception:
                self._lemma_cache[key] = self._find_lemma(key)
        return self._lemma_cache[key]

    def _find_lemma(self, key: str) -> Optional[Lemma]:
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

    def synset(self, key: str) -> Optional[Synset]:
        lem = self.lemma(key)
        return lem.synset() if lem is not None else None

    def count(self, key: str) -> int:
        """Tagged frequency of a sense (WordNet's cntlist)."""
        if key not in self._count_cache:
            lem = self.lemma(key)
            self._count_cache[key] = int(lem.count()) if lem is not None else 0
        return self._count_cache[key]

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

    def related(self, key: str) -> List[Synset]:
        """Hypernyms (and instance hypernyms) of the sense's synset."""
        synset = self.synset(key)
        if synset is None:
            return []
        return synset.hypernyms() + synset.instance_hypernyms()

    def synset_keys(self, synset: Synset) -> List[str]:
        return [lem.key() for lem in synset.lemmas()]

    @staticmethod
    def key_lemma_pos(key: str) -> Tuple[str, str]:
        """Lemma and WordNet POS letter written in a sense key."""
        lemma, _, rest = key.partition("%")
        return lemma, SS_TYPE_TO_POS.get(rest[:1], "")


@lru_cache(maxsize=4)
def _load_inventory(path: str) -> WordNetInventory:
    return WordNetInventory(path)


def get_inventory(path: Union[str, Path]) -> WordNetInventory:
    """A WordNetInventory shared by every user of the same directory in this
    process (nltk's reader takes seconds to index WordNet)."""
    return _load_inventory(str(Path(path).expanduser().resolve()))
