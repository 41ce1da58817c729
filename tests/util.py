"""What several test modules share: repository paths, arrays on any device, and small data more than one writes."""
import contextlib
import os
from pathlib import Path

import numpy
import pytest
import spacy
import torch
from spacy.training import Example

from spacy_ctx.embed.blocks import JobSpec

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("SPACY_CTX_DATA", ROOT.parent / "shared" / "data"))


# Arrays on any device

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@contextlib.contextmanager
def gpu_ops():
    """Thinc's GPU ops (and with them torch's default device) inside the block."""
    from thinc.api import get_current_ops, require_gpu, set_current_ops

    before = get_current_ops()
    require_gpu()
    try:
        yield
    finally:
        set_current_ops(before)


def to_numpy(array) -> numpy.ndarray:
    """A NumPy copy of a NumPy or CuPy array (the suite also runs on GPU)."""
    return numpy.asarray(array.get() if hasattr(array, "get") else array)


def assert_allclose(actual, desired, **kwargs) -> None:
    """numpy.testing.assert_allclose for arrays on any device."""
    numpy.testing.assert_allclose(to_numpy(actual), to_numpy(desired), **kwargs)


def assert_array_equal(actual, desired, **kwargs) -> None:
    """numpy.testing.assert_array_equal for arrays on any device."""
    numpy.testing.assert_array_equal(to_numpy(actual), to_numpy(desired), **kwargs)


# A tiny ELMo: models/, pretraining/ and cli/test_pretrain_elmo

# Small sizes so that the tests run in seconds on a busy CPU.
TINY_ELMO = {
    "char_dim": 8,
    "filters": [[1, 8], [2, 8], [3, 16]],
    "n_highway": 1,
    "projection_dim": 16,
    "hidden_size": 16,
}

ELMO_SENTENCES = [
    "the cat sat on the mat .",
    "the dog sat on the log .",
    "a cat saw a dog .",
    "the dog saw the cat on the mat .",
    "a bird sat on a log .",
    "the bird saw a cat .",
]


# A tagger on the listener: models/test_listener, pipeline/test_inference

TAGGER_TRAIN = [
    ("The cat sat on the mat .", "DET NOUN VERB ADP DET NOUN PUNCT"),
    ("A dog ran to the park .", "DET NOUN VERB ADP DET NOUN PUNCT"),
    ("I like green apples .", "PRON VERB ADJ NOUN PUNCT"),
    ("She reads long books .", "PRON VERB ADJ NOUN PUNCT"),
]


def tagger_config(**listener):
    return {
        "model": {
            "@architectures": "spacy.Tagger.v2",
            "nO": None,
            "tok2vec": {"@architectures": "spacy_ctx.CtxListener.v1", **listener},
        }
    }


def tagger_examples(nlp):
    examples = []
    for text, tags in TAGGER_TRAIN:
        doc = nlp.make_doc(text)
        examples.append(Example.from_dict(doc, {"tags": tags.split()}))
    return examples


# ctx_wsd on corpus/wsd-*: pipeline/test_wsd, senses/, cli/test_predict_wsd


def wsd_nlp(wordnet_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder")
    nlp.add_pipe("ctx_wsd", config={"wordnet_path": wordnet_path})
    return nlp


def dev_docs(nlp, corpus):
    examples = list(corpus["dev"](nlp))
    docs = list(nlp.pipe([eg.predicted for eg in examples]))
    return docs, examples


# A Raganato-format sample: senses/test_raganato, senses/test_scoring, cli/test_convert_wsd

RAGANATO_XML = """<?xml version="1.0" encoding="UTF-8" ?>
<corpus lang="en" source="test">
<text id="d000">
<sentence id="d000.s000">
<wf lemma="she" pos="PRON">She</wf>
<instance id="d000.s000.t000" lemma="deposit" pos="VERB">deposited</instance>
<wf lemma="the" pos="DET">the</wf>
<instance id="d000.s000.t001" lemma="money" pos="NOUN">money</instance>
<wf lemma="in" pos="ADP">in</wf>
<instance id="d000.s000.t002" lemma="new_york" pos="NOUN">New York</instance>
<wf lemma="." pos=".">.</wf>
</sentence>
<sentence id="d000.s001">
<wf lemma="price" pos="NOUN">Prices</wf>
<instance id="d000.s001.t000" lemma="rise" pos="VERB">rose</instance>
<instance id="d000.s001.t001" lemma="quickly" pos="ADV">quickly</instance>
</sentence>
</text>
</corpus>
"""
RAGANATO_KEYS = """d000.s000.t000 deposit%2:40:00::
d000.s000.t001 money%1:21:00::
d000.s000.t002 new_york%1:15:01::
d000.s001.t000 rise%2:30:00::
d000.s001.t001 quickly%4:02:00:: quickly%4:02:02::
"""


# Similarity benchmark files: cli/test_similarity, test_distill_static, test_fit_normalizer

STS_SAMPLE = [
    ("A man is playing a guitar.", "A man plays the guitar.", 4.8),
    ("A cat sleeps on the sofa.", "The stock market fell sharply.", 0.2),
    ("A woman is cooking dinner.", "A woman is slicing an onion.", 2.6),
    ("The river bank flooded.", "She put money in the bank.", 0.8),
    ("Two dogs run in a field.", "Two dogs are running through grass.", 4.2),
    ("A child rides a horse.", "A kid is riding a pony.", 4.0),
]
WORDSIM_SAMPLE = [("bank", "money", 5.0), ("river", "bank", 6.0), ("guitar", "river", 0.5), ("dog", "cat", 7.0), ("money", "dog", 1.0)]


# An embedding job: embed/test_blocks, embed/test_ray

# "bank" by a river and at a bank: what the rendering tests show.
BANK_TEXTS = [
    "The boat drifted toward the river bank.",
    "She paid the cheque in at the bank.",
    "We had a picnic on the bank of the river.",
]
EMBED_TEXTS = [f"Sentence {n} is about the {'river' if n % 2 else 'money'} bank." for n in range(10)]


def job_spec(model_dir, **kwargs):
    values = dict(model=str(model_dir), layers=(0, 6), mix=True, dtype="float32", width=384, block_size=3, batch_size=3)
    return JobSpec(**{**values, **kwargs})
