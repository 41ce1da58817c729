"""spacy_ctx.senses.wordnet: the WordNetInventory's candidates, glosses and relations, and its errors."""
import pytest


@pytest.mark.data
def test_candidates_in_frequency_order(wordnet):
    keys = wordnet.candidates("bank", "NOUN")
    assert keys[:2] == ("bank%1:17:01::", "bank%1:14:00::")
    assert len(keys) == 10
    counts = [wordnet.count(k) for k in keys]
    assert counts[0] >= counts[1] >= counts[-1]
    # Adjectives include satellites; an unknown POS has no candidates.
    assert "good%5:00:00:ample:00" in wordnet.candidates("good", "ADJ")
    assert wordnet.candidates("the", "DET") == ()
    assert wordnet.candidates("", "NOUN") == ()


@pytest.mark.data
def test_candidates_morphy_and_multiword(wordnet):
    assert wordnet.candidates("primary election", "NOUN") == ("primary_election%1:04:00::",)
    assert wordnet.candidates("geese", "NOUN")[0].startswith("goose%1:")


@pytest.mark.data
def test_glosses_and_relations(wordnet):
    assert wordnet.gloss("bank%1:14:00::").startswith("a financial institution")
    hypernyms = {s.name() for s in wordnet.related("bank%1:14:00::")}
    assert "financial_institution.n.01" in hypernyms
    assert wordnet.lexname("bank%1:14:00::") == "noun.group"
    assert wordnet.key_lemma_pos("good%5:00:00:ample:00") == ("good", "s")
    # Capitalised WordNet lemmas (nltk's lemma_from_key misses them) resolve too.
    sun = wordnet.lemma("sun%1:17:02::")
    assert sun is not None and sun.name() == "Sun" and sun.synset().name() == "sun.n.01"
    assert wordnet.gloss_text("sun%1:17:02::").startswith("sun, Sun - the star that is the source of light")


def test_bad_wordnet_path_is_a_clear_error(tmp_path):
    from spacy_ctx.senses.wordnet import WordNetInventory

    with pytest.raises(ValueError, match="E101"):
        WordNetInventory(tmp_path / "nowhere")
