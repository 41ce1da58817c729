"""Fixtures of the rendering and explorer tests: encoded docs and an embedded corpus."""
import pytest

from spacy_ctx.embed.writers import doc_outputs, output_names, token_schema, token_table, write_table_atomic

from ..util import BANK_TEXTS

CORPUS_TEXTS = [
    "The bank raised its interest rates.",
    "Fish swim near the muddy bank of the stream.",
    "He opened an account at the bank.",
    "Reeds grow along the river.",
]


@pytest.fixture(scope="session")
def docs(nlp):
    """BANK_TEXTS encoded by the default ctx_encoder: "bank" in two senses."""
    return list(nlp.pipe(BANK_TEXTS))


@pytest.fixture(scope="session")
def corpus_path(nlp, tmp_path_factory):
    """CORPUS_TEXTS as `embed` writes them: every layer and the mix, Parquet."""
    corpus_docs = list(nlp.pipe(CORPUS_TEXTS))
    layers = list(corpus_docs[0]._.ctx_layer_ids)
    names = output_names(layers, mix=True)
    outputs = [doc_outputs(doc, layers, True) for doc in corpus_docs]
    schema = token_schema({name: outputs[0][name].shape[1] for name in names})
    path = tmp_path_factory.mktemp("corpus") / "corpus.parquet"
    write_table_atomic(token_table([str(k) for k in range(len(corpus_docs))], corpus_docs, outputs, schema), path)
    return path


# "bank" by a river and "bank" as money, for the sense map in a browser: the
# page shows these; SENSE_TRAIN (other sentences) teaches ctx_wsd the two senses.
RIVER, MONEY = "bank%1:17:01::", "bank%1:14:00::"
SENSE_TEXTS = [
    "The boat drifted toward the river bank.",
    "We had a picnic on the bank of the river.",
    "Reeds grew thick along the muddy bank.",
    "Fish swim near the steep bank of the stream.",
    "The heron stood still on the far bank.",
    "Flood water spilled over the bank and into the fields.",
    "She paid the cheque in at the bank.",
    "The bank raised its interest rates again.",
    "He opened an account at the bank on Monday.",
    "The bank approved our loan this morning.",
    "My salary goes straight into the bank.",
    "Thieves robbed the bank on Main Street.",
]
SENSE_TRAIN = [
    ("Ducks nested on the grassy bank by the water.", RIVER),
    ("They walked along the bank of the canal.", RIVER),
    ("The canoe scraped the sandy bank.", RIVER),
    ("Willows line the bank of the pond.", RIVER),
    ("I withdrew cash from the bank yesterday.", MONEY),
    ("The bank charged a fee for the transfer.", MONEY),
    ("She works as a teller at the bank.", MONEY),
    ("Our bank offers savings accounts.", MONEY),
]


@pytest.fixture(scope="session")
def sense_nlp(wordnet_path, wsd_corpus):
    """The default encoder and a ctx_wsd initialised (LMMS-style, no updates)
    on corpus/wsd-train and SENSE_TRAIN. Without glosses (gloss_weight 0),
    so that the senses come from the examples: with them, or with
    corpus/wsd-train alone, it calls every "bank" of SENSE_TEXTS a river bank."""
    import spacy
    from spacy.tokens import Span
    from spacy.training import Example

    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder")
    nlp.add_pipe("ctx_wsd", config={"wordnet_path": wordnet_path, "gloss_weight": 0.0})
    examples = list(wsd_corpus["train"](nlp))
    for text, key in SENSE_TRAIN:
        reference = nlp.make_doc(text)
        i = [t.text for t in reference].index("bank")
        reference.spans["wsd"] = [Span(reference, i, i + 1, label=key)]
        examples.append(Example(nlp.make_doc(text), reference))
    nlp.initialize(lambda: examples)
    return nlp
