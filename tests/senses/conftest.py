"""Fixtures of the sense tests: WordNet 3.0 of ../shared/data as the WordNetInventory."""
import pytest

from spacy_ctx.senses.wordnet import get_inventory


@pytest.fixture(scope="module")
def wordnet(shared_data):
    """The WordNetInventory of ../shared/data/wordnet30 (one per process: get_inventory caches it)."""
    return get_inventory(shared_data / "wordnet30" / "dict")
