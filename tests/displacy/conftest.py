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
