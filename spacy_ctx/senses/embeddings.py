"""LMMS-style sense embeddings: corpus means, propagated through WordNet.

Loureiro & Jorge (2019): a sense seen in annotated data gets the mean of its
contextual vectors; an unseen sense takes, in this order, the mean of its
synset's seen senses, of the synsets around its hypernyms (the hypernyms and
their other hyponyms), or of its lexicographer file (supersense).
"""
from collections import defaultdict
from typing import Dict, Iterable, Optional

import numpy

from .wordnet import WordNetInventory


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
