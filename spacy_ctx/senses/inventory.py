"""The part of WordNet that prediction needs, small enough to save with a pipeline.

A trained ctx_wsd needs, for any lemma and POS it meets, the candidate sense
keys in WordNet order, their tagged counts (the sense prior) and WordNet's
morphology (exception lists and suffix rules, for inflected lemmas). A
``SenseInventory`` holds exactly that for all of WordNet (206,978 keys):
built from a WordNet directory at initialize
(:meth:`WordNetInventory.sense_inventory`), then saved and loaded with the
component, so a trained pipeline predicts with no WordNet directory and
without nltk. Glosses and relations, which only initialize needs, stay with
:class:`~spacy_ctx.senses.wordnet.WordNetInventory`.
"""
import zlib
from functools import lru_cache
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy
import srsly

# Coarse POS (UPOS or Raganato) -> WordNet POS letters. ADJ covers satellites.
POS_TO_WN = {
    "NOUN": ("n",), "PROPN": ("n",), "VERB": ("v",), "AUX": ("v",),
    "ADJ": ("a", "s"), "ADV": ("r",),
    "n": ("n",), "v": ("v",), "a": ("a", "s"), "s": ("a", "s"), "r": ("r",),
}
# The ss_type digit of a sense key -> WordNet POS letter.
SS_TYPE_TO_POS = {"1": "n", "2": "v", "3": "a", "4": "r", "5": "s"}
# The POS letters the index is kept under: satellites (s) live with "a", as
# in WordNet's index.adj.
INDEX_POS = ("n", "v", "a", "r")


def normalize_lemma(lemma: str) -> str:
    """WordNet spelling of a lemma: lower case, spaces as underscores."""
    return "_".join(lemma.strip().lower().split())


def key_lemma_pos(key: str) -> Tuple[str, str]:
    """Lemma and WordNet POS letter written in a sense key."""
    lemma, _, rest = key.partition("%")
    return lemma, SS_TYPE_TO_POS.get(rest[:1], "")


class SenseInventory:
    """Candidate sense keys, sense counts and morphology of WordNet.

    ``candidates`` gives the keys nltk's WordNet reader gives (the keys of
    the lemma's synsets written with that lemma), in WordNet's sense order,
    so the first is the most frequent sense.
    """

    def __init__(
        self,
        index: Dict[str, Dict[str, List[str]]],
        counts: Dict[str, int],
        exceptions: Dict[str, Dict[str, List[str]]],
        substitutions: Dict[str, Sequence[Tuple[str, str]]],
    ):
        """index: WordNet POS letter (n, v, a, r) -> lemma -> its sense keys
        in WordNet order, each without the "lemma%" that starts it (so
        "bank%1:14:00::" is "1:14:00::" under "bank"). counts: sense key ->
        tagged count (zeros may be left out). exceptions: POS -> inflected form
        -> base forms (WordNet's *.exc files). substitutions: POS -> morphy's
        (suffix, replacement) rules.
        """
        self.index = index
        self.counts = counts
        self.exceptions = exceptions
        self.substitutions = {pos: [tuple(rule) for rule in rules] for pos, rules in substitutions.items()}
        # Bounded: prediction on open text meets ever new word forms.
        self._candidates = lru_cache(maxsize=200_000)(self._lookup)
        self._log_prior = lru_cache(maxsize=200_000)(self._compute_log_prior)

    def __len__(self) -> int:
        """The number of sense keys."""
        return sum(len(keys) for by_lemma in self.index.values() for keys in by_lemma.values())

    def __reduce__(self):
        return (SenseInventory.from_bytes, (self.to_bytes(),))

    def keys(self) -> Iterator[str]:
        """Every sense key, POS by POS, lemma by lemma, in WordNet order."""
        for by_lemma in self.index.values():
            for lemma, rests in by_lemma.items():
                yield from (f"{lemma}%{rest}" for rest in rests)

    def candidates(self, lemma: str, pos: Optional[str] = None) -> Tuple[str, ...]:
        """Sense keys of a lemma (and coarse POS, or any POS if None), MFS first.

        Unknown lemmas get WordNet's morphological base form (morphy) as a
        second try. An unknown POS (DET, PUNCT...) has no candidates.
        """
        if not lemma:
            return ()
        return self._candidates(normalize_lemma(lemma), pos)

    def _lookup(self, lemma: str, pos: Optional[str]) -> Tuple[str, ...]:
        if pos is None:
            # Any POS: each POS's own candidates (a surface form such as
            # "sat" is a noun as is, and a verb through its base form "sit").
            return tuple(dict.fromkeys(k for p in INDEX_POS for k in self._lookup(lemma, p)))
        wn_pos = POS_TO_WN.get(pos)
        if not wn_pos:
            return ()
        base = self.morphy(lemma, wn_pos[0])
        if base is None:
            return ()
        return tuple(f"{base}%{rest}" for rest in self.index[wn_pos[0]][base])

    def morphy(self, form: str, pos: str) -> Optional[str]:
        """WordNet's base form of a lower-case word form for a POS letter, as
        nltk's morphy finds it: the form itself if WordNet has it, else the
        first of its exception-list bases or suffix rewrites that WordNet has;
        None if none."""
        pos = "a" if pos == "s" else pos
        by_lemma = self.index[pos]
        if form in by_lemma:
            return form
        if form in self.exceptions[pos]:
            forms = self.exceptions[pos][form]
        else:
            forms = [form[: -len(old)] + new for old, new in self.substitutions[pos] if form.endswith(old)]
        return next((f for f in forms if f in by_lemma), None)

    def is_first_sense(self, key: str) -> bool:
        """Whether a sense key is WordNet's first (most frequent) sense of
        the lemma and POS written in it: the MFS/LFS split of scoring."""
        lemma, pos = key_lemma_pos(key)
        keys = self.candidates(lemma, pos) if pos else ()
        return bool(keys) and keys[0] == key

    def count(self, key: str) -> int:
        """Tagged frequency of a sense (WordNet's cntlist)."""
        return self.counts.get(key, 0)

    def log_prior(self, keys: Tuple[str, ...]) -> numpy.ndarray:
        """Sense-frequency log prior over a candidate list (add-one counts;
        WordNet order breaks ties, so the argmax is WordNet's first sense)."""
        return self._log_prior(tuple(keys))

    def _compute_log_prior(self, keys: Tuple[str, ...]) -> numpy.ndarray:
        counts = numpy.asarray([self.count(k) for k in keys], dtype="f") + 1.0
        prior = numpy.log(counts / counts.sum())
        return (prior - 1e-3 * numpy.arange(len(keys), dtype="f")).astype("f")

    key_lemma_pos = staticmethod(key_lemma_pos)
    normalize_lemma = staticmethod(normalize_lemma)

    def to_bytes(self) -> bytes:
        """msgpack, zlib-compressed (about 5 MB to 1.5 MB)."""
        msg = {
            "index": self.index,
            "counts": self.counts,
            "exceptions": self.exceptions,
            "substitutions": self.substitutions,
        }
        return zlib.compress(srsly.msgpack_dumps(msg))

    @classmethod
    def from_bytes(cls, data: bytes) -> "SenseInventory":
        msg = srsly.msgpack_loads(zlib.decompress(data))
        return cls(msg["index"], msg["counts"], msg["exceptions"], msg["substitutions"])
