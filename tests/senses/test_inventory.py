"""The SenseInventory (what a trained ctx_wsd keeps of WordNet) against nltk's WordNet reader, and finding WordNet."""
import pickle
import random
import zipfile

import numpy
import pytest

from spacy_ctx.errors import SpacyCtxError
from spacy_ctx.senses.inventory import POS_TO_WN, SenseInventory
from spacy_ctx.senses.raganato import read_raganato
from spacy_ctx.senses.wordnet import find_wordnet, get_inventory

nltk = pytest.importorskip("nltk")
pytestmark = pytest.mark.data

# Words whose synsets hold the lemma twice ("sun" and "Sun"), inflected forms
# (exception lists and suffix rules), multiwords and non-words.
SPECIAL = [
    "sun", "earth", "moon", "kb", "ddc", "a", "geese", "mice", "went", "better", "closed",
    "running", "churches", "aardwolves", "primary_election", "new york", "xyzzyq", "",
]


@pytest.fixture(scope="module")
def inventory(wordnet):
    return wordnet.senses


def nltk_candidates(reader, lemma, pos):
    """Candidates straight from nltk: the keys of the lemma's synsets that
    are written with the lemma; else those of its morphy base form."""
    if pos is None:
        return tuple(dict.fromkeys(k for p in "nvar" for k in nltk_candidates(reader, lemma, p)))
    wn_pos = POS_TO_WN.get(pos, ())
    keys = [
        lem.key()
        for p in wn_pos
        if p != "s"  # nltk's "a" synsets include the satellites
        for synset in reader.synsets(lemma, pos=p)
        for lem in synset.lemmas()
        if lem.name().lower() == lemma
    ]
    if not keys and wn_pos:
        base = reader.morphy(lemma, wn_pos[0])
        if base and base != lemma:
            return nltk_candidates(reader, base, pos)
    return tuple(dict.fromkeys(keys))


def sample_words(wordnet, root, n=150):
    words = set(SPECIAL)
    for name in ("train", "dev"):
        for sentence in read_raganato(root / "corpus" / f"wsd-{name}.data.xml"):
            words.update(w.lower() for w in sentence.words + sentence.lemmas)
    rng = random.Random(0)
    for pos in "nvar":
        names = sorted(wordnet.reader.all_lemma_names(pos))
        for name in rng.sample(names, n):
            words.update([name, name + "s", name + "ed", name + "er", name[:-1]])
    return sorted(words)


def test_candidates_and_counts_are_nltks(wordnet, inventory, root):
    words = sample_words(wordnet, root)
    checked = 0
    for word in words:
        lemma = "_".join(word.split())
        for pos in ("NOUN", "VERB", "ADJ", "ADV", "DET", None):
            expected = nltk_candidates(wordnet.reader, lemma, pos) if lemma else ()
            assert inventory.candidates(word, pos) == expected, (word, pos)
            checked += len(expected) > 0
    assert checked > 800
    assert inventory.candidates("sun", "NOUN")[:2] == ("sun%1:17:00::", "sun%1:17:02::")
    keys = {k for word in words for k in inventory.candidates(word)}
    counts = {k: wordnet.lemma(k).count() for k in keys}
    assert {k: inventory.count(k) for k in keys} == counts
    assert sum(c > 0 for c in counts.values()) > 200


def test_morphy_is_nltks(wordnet, inventory):
    rng = random.Random(1)
    for pos in "nvar":
        forms = rng.sample(sorted(inventory.exceptions[pos]), min(300, len(inventory.exceptions[pos])))
        forms += [w + "s" for w in rng.sample(sorted(wordnet.reader.all_lemma_names(pos)), 300)]
        for form in forms:
            assert inventory.morphy(form, pos) == wordnet.reader.morphy(form, pos), (form, pos)


def test_log_prior_follows_the_counts(inventory):
    keys = inventory.candidates("bank", "NOUN")
    counts = numpy.asarray([inventory.count(k) for k in keys]) + 1.0
    prior = inventory.log_prior(keys)
    # Add-one counts, normalised; minus 0.001 per rank to break ties.
    expected = numpy.log(counts / counts.sum()) - 1e-3 * numpy.arange(len(keys))
    assert prior.dtype == "float32"
    numpy.testing.assert_allclose(prior, expected, rtol=1e-6, atol=1e-6)


def test_bytes_and_pickle_round_trip(inventory):
    data = inventory.to_bytes()
    assert len(data) < 2_000_000  # all of WordNet's keys, counts and morphology
    for copy in (SenseInventory.from_bytes(data), pickle.loads(pickle.dumps(inventory))):
        assert len(copy) == len(inventory) == 206_949
        assert copy.index == inventory.index
        assert copy.counts == inventory.counts
        assert copy.candidates("geese", "NOUN") == inventory.candidates("geese", "NOUN")


def test_find_wordnet_path_or_nltk_location(shared_data, tmp_path, monkeypatch):
    dict_dir = shared_data / "wordnet30" / "dict"
    assert find_wordnet(str(dict_dir)) == dict_dir.resolve()
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    with pytest.raises(SpacyCtxError, match="E107"):
        find_wordnet(None)
    (tmp_path / "corpora").mkdir()
    (tmp_path / "corpora" / "wordnet").symlink_to(dict_dir)
    assert find_wordnet("") == dict_dir.resolve()
    assert get_inventory().candidates("bank", "NOUN")[0] == "bank%1:17:01::"
    with pytest.raises(SpacyCtxError, match="E101"):
        get_inventory(tmp_path / "nowhere")


@pytest.mark.slow
def test_nltks_zipped_wordnet(shared_data, tmp_path, monkeypatch, inventory):
    """nltk's downloader may leave WordNet as corpora/wordnet.zip."""
    corpora = tmp_path / "corpora"
    corpora.mkdir()
    with zipfile.ZipFile(corpora / "wordnet.zip", "w") as zip_:
        for path in sorted((shared_data / "wordnet30" / "dict").iterdir()):
            zip_.write(path, f"wordnet/{path.name}")
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    zipped = get_inventory()
    assert zipped.senses.to_bytes() == inventory.to_bytes()
    assert zipped.gloss_text("bank%1:14:00::").startswith("depository financial institution, bank")


@pytest.mark.slow
def test_all_of_wordnet_is_nltks(wordnet, inventory):
    """Every lemma of every POS, and its -s form, as nltk gives them."""
    for pos in "nvar":
        for name in sorted(wordnet.reader.all_lemma_names(pos)):
            for word in (name, name + "s"):
                assert inventory.candidates(word, pos) == nltk_candidates(wordnet.reader, word, pos), (word, pos)


def test_first_sense_is_wordnets_first_of_the_keys_lemma(inventory):
    assert inventory.is_first_sense("bank%1:17:01::")  # sloping land is bank.n.01
    assert not inventory.is_first_sense("bank%1:14:00::")  # the institution is bank.n.02
    assert inventory.is_first_sense("good%3:00:01::") and not inventory.is_first_sense("good%5:00:00:ample:00")
    first = inventory.candidates("bank", "NOUN")[0]
    assert inventory.is_first_sense(first)
    assert not any(inventory.is_first_sense(k) for k in inventory.candidates("bank", "NOUN")[1:])
    assert inventory.is_first_sense(inventory.candidates("good", "ADJ")[0])
    assert not inventory.is_first_sense("nosuchword%1:00:00::")
