"""LMMS-style sense embeddings: corpus means, propagated through WordNet,
and gloss embeddings. ctx_wsd starts its sense table from them.

Loureiro & Jorge (2019): a sense seen in annotated data gets the mean of its
contextual vectors; an unseen sense takes, in this order, the mean of its
synset's seen senses, of the synsets around its hypernyms (the hypernyms and
their other hyponyms), or of its lexicographer file (supersense). A sense's
gloss embedding is the mean vector of its synset's text (lemma names,
definition and examples).
"""
import zlib
from collections import defaultdict
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Callable, Dict, Iterable, List, NamedTuple, Optional, Sequence, Union

import numpy
from spacy.tokens import Doc
from spacy.training import Example
from thinc.api import Model
from tqdm import tqdm

from .gloss_cache import GlossCache
from .targets import gold_targets
from .wordnet import WordNetInventory


def _unit(vec: numpy.ndarray) -> numpy.ndarray:
    return vec / (numpy.linalg.norm(vec) + 1e-8)


def mean_sense_table(
    tok2vec: Model,
    examples: Iterable[Example],
    senses: Sequence[str],
    wordnet: WordNetInventory,
    *,
    spans_key: str,
    encoder=None,
    batch_size: int = 64,
) -> numpy.ndarray:
    """The LMMS table: one unit row per sense key, [len(senses), width].

    tok2vec: the model whose vectors are averaged (ctx_wsd's listener).
    examples: sense-annotated, gold senses in reference.spans[spans_key].
    encoder: the ctx_encoder the listener reads from, run on docs that have no
        layers yet (through its frozen cache, which then serves the first
        epoch of training too).
    A sense with no vector seen or propagated has a zero row.
    """
    width = tok2vec.get_dim("nO")
    sums: Dict[str, numpy.ndarray] = defaultdict(lambda: numpy.zeros((width,), "f"))
    counts: Dict[str, int] = defaultdict(int)
    examples = iter(examples)
    while True:
        chunk = list(islice(examples, batch_size))
        if not chunk:
            break
        docs = [eg.predicted for eg in chunk]
        if encoder is not None and any(doc._.ctx_layers is None for doc in docs):
            encoder.set_annotations(docs, encoder.cached_predict(docs))
        vectors = [tok2vec.ops.to_numpy(h) for h in tok2vec.predict(docs)]  # [n_tokens, width] per doc
        for eg, doc_vectors in zip(chunk, vectors):
            for target, keys in zip(*gold_targets(eg, spans_key)):
                vec = _unit(doc_vectors[target.start : target.end].mean(axis=0))
                for key in keys:
                    sums[key] += vec
                    counts[key] += 1
    seen = {key: sums[key] / counts[key] for key in counts}
    table = propagate_sense_embeddings(wordnet, seen, senses)
    E = numpy.zeros((len(senses), width), dtype="f")
    for i, key in enumerate(senses):
        if table[key] is not None:
            E[i] = _unit(table[key])
    return E


def gloss_table(
    tok2vec: Model,
    encoder,
    make_doc: Callable[[str], Doc],
    senses: Sequence[str],
    wordnet: WordNetInventory,
    batch_size: int = 256,
    cache: Optional[GlossCache] = None,
) -> numpy.ndarray:
    """Unit gloss embeddings, [len(senses), width]: tok2vec's vectors of each
    sense's ``gloss_text``, averaged over its tokens, after the encoder's own
    pipe (not its frozen cache: glosses are not training docs). Senses of
    one synset share a text, which is encoded once; a sense without a gloss
    has a zero row.

    cache: rows of texts encoded before by the same encoder and listener
    state (see senses/gloss_cache.py); only the texts it lacks are encoded,
    then added to it. With a cache every row is its float16 value, so the
    first and later tables are equal."""
    texts: Dict[str, List[int]] = defaultdict(list)
    for i, key in enumerate(senses):
        text = wordnet.gloss_text(key)
        if text:
            texts[text].append(i)
    G = numpy.zeros((len(senses), tok2vec.get_dim("nO")), dtype="f")
    known = cache.read(texts) if cache is not None else {}
    for text, row in known.items():
        G[texts[text]] = row
    # Sorted by length so that each encoder batch pads little.
    ordered = sorted((text for text in texts if text not in known), key=len)
    # Minutes for a SemCor-sized table: show progress on a terminal.
    bar = tqdm(total=len(ordered), desc="Encoding WordNet glosses", unit="gloss", disable=None, leave=False)
    new: Dict[str, numpy.ndarray] = {}
    for start in range(0, len(ordered), batch_size):
        chunk = ordered[start : start + batch_size]
        docs = list(encoder.pipe((make_doc(text) for text in chunk), batch_size=len(chunk)))
        for text, vectors in zip(chunk, tok2vec.predict(docs)):
            new[text] = _unit(tok2vec.ops.to_numpy(vectors).mean(axis=0))
        bar.update(len(chunk))
    bar.close()
    if cache is not None:
        cache.add(new)
        new = {text: row.astype("float16") for text, row in new.items()}
    for text, row in new.items():
        G[texts[text]] = row
    return G


def propagate_sense_embeddings(
    inventory: WordNetInventory,
    seen: Dict[str, numpy.ndarray],
    keys: Iterable[str],
) -> Dict[str, Optional[numpy.ndarray]]:
    """Embeddings for ``keys``: ``seen[key]`` when given, else propagated.

    A key with no seen vector anywhere near it (nor in its lexname) maps to None.
    """
    propagator = SensePropagator(inventory, seen)
    return {key: propagator.get(key) for key in keys}


class SensePropagator:
    """Looks up LMMS-style embeddings of any sense key, given the seen ones."""

    def __init__(self, inventory: WordNetInventory, seen: Dict[str, numpy.ndarray]):
        self.inventory = inventory
        self.seen = seen
        by_synset: Dict[str, list] = defaultdict(list)
        by_lexname: Dict[str, list] = defaultdict(list)
        for key, vec in seen.items():
            synset = inventory.synset(key)
            if synset is not None:
                by_synset[synset.name()].append(vec)
                by_lexname[synset.lexname()].append(vec)
        self.synset_vec = {n: numpy.mean(v, axis=0) for n, v in by_synset.items()}
        self.lexname_vec = {n: numpy.mean(v, axis=0) for n, v in by_lexname.items()}

    def get(self, key: str) -> Optional[numpy.ndarray]:
        if key in self.seen:
            return self.seen[key]
        synset = self.inventory.synset(key)
        if synset is None:
            return None
        if synset.name() in self.synset_vec:
            return self.synset_vec[synset.name()]
        near = []
        for hyper in synset.hypernyms() + synset.instance_hypernyms():
            for other in [hyper] + hyper.hyponyms() + hyper.instance_hyponyms():
                if other.name() in self.synset_vec:
                    near.append(self.synset_vec[other.name()])
        if near:
            return numpy.mean(near, axis=0)
        return self.lexname_vec.get(synset.lexname())


class SenseTable(NamedTuple):
    """ctx_wsd's starting tables: E [nS, width]; the gloss embeddings G
    [nS, width] when they are kept apart from E (else None, and E holds
    them); the cross-fitted rows [2, nS, width] float16, or None."""

    E: numpy.ndarray
    glosses: Optional[numpy.ndarray]
    cross_rows: Optional[numpy.ndarray]


def initial_sense_table(
    tok2vec: Model,
    encoder,
    nlp,
    senses: Sequence[str],
    wordnet: WordNetInventory,
    get_examples: Callable[[], Iterable[Example]],
    *,
    spans_key: str,
    gloss_weight: float,
    from_data: bool,
    cross_fit: bool,
    separate_glosses: bool = False,
    gloss_cache: Optional[Union[str, Path]] = None,
) -> SenseTable:
    """ctx_wsd's starting sense table [nS, width]: `gloss_weight` times the
    gloss embeddings (first: the slow part; read from `gloss_cache`, a
    folder, where it holds them), plus the training means (`from_data`).
    With `separate_glosses`, the weighted glosses are returned apart and E
    holds the means only. With `cross_fit`, also the tables each half of the
    training data trains against, [2, nS, width] in float16: fold k's rows
    hold the means of the other fold, so no instance is scored against a
    row made from itself."""
    G = numpy.zeros((len(senses), tok2vec.get_dim("nO")), dtype="f")
    if gloss_weight:
        cache = GlossCache.for_listener(gloss_cache, nlp, encoder, tok2vec) if gloss_cache else None
        G += gloss_weight * gloss_table(tok2vec, encoder, nlp.make_doc, senses, wordnet, cache=cache)
    E, glosses = (numpy.zeros_like(G), G) if separate_glosses else (G, None)
    if not from_data:
        return SenseTable(E, glosses, None)
    means = partial(mean_sense_table, tok2vec, senses=senses, wordnet=wordnet, spans_key=spans_key, encoder=encoder)
    cross_rows = None
    if cross_fit:
        cross_rows = numpy.stack([E + means(eg for eg in get_examples() if fold(eg) != k) for k in (0, 1)]).astype("float16")
    return SenseTable(E + means(get_examples()), glosses, cross_rows)


def fold(eg: Example) -> int:
    """The half of the training data an example is in, by its text (stable
    across epochs and corpus readers)."""
    return zlib.crc32(eg.reference.text.encode("utf8")) % 2
