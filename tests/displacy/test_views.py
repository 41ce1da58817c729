"""Every style's rendered numbers equal cosines and weights computed here by hand."""
import re
from types import SimpleNamespace

import numpy
import pyarrow.parquet as pq
import pytest
import spacy
from spacy.training import Example

from spacy_ctx import displacy
from spacy_ctx.displacy.html import format_number
from spacy_ctx.errors import SpacyCtxError
from spacy_ctx.normalizer import Normalizer

CELL = re.compile(r'<td class="cell" data-value="([^"]+)"[^>]*>(?:<span[^>]*></span>)?([^<]+)</td>')


def cells(html):
    """(value, shown text) of every number cell, in document order."""
    return [(float(value), text) for value, text in CELL.findall(html)]


def cos(a, b):
    a, b = numpy.asarray(a, "float64"), numpy.asarray(b, "float64")
    return float(a @ b / (numpy.linalg.norm(a) * numpy.linalg.norm(b)))


def assert_cells(html, expected):
    found = cells(html)
    assert len(found) == len(expected)
    for (value, text), want in zip(found, expected):
        assert value == pytest.approx(want, rel=1e-9, abs=1e-12)
        assert text == format_number(value)


def bank_refs(docs):
    return [(d, t.i) for d, doc in enumerate(docs) for t in doc if t.lower_ == "bank"]


def test_layers_heatmaps_are_the_cosines_of_the_occurrences(docs):
    html = displacy.render(docs, "layers", {"target": "Bank"}, jupyter=False)
    refs = bank_refs(docs)
    expected = []
    for k in range(len(docs[0]._.ctx_layer_ids)):
        vectors = [docs[d]._.ctx_layers[k, i] for d, i in refs]
        expected += [cos(a, b) for a in vectors for b in vectors]
    vectors = [docs[d].tensor[i] for d, i in refs]
    expected += [cos(a, b) for a in vectors for b in vectors]
    assert_cells(html, expected)
    # The river banks are closer to each other than to the money bank in the last layer.
    last = [docs[d]._.ctx_layers[-1, i] for d, i in refs]
    assert cos(last[0], last[2]) > cos(last[0], last[1])


def test_layers_with_a_normalizer_adds_the_corrected_cosines(docs):
    refs = bank_refs(docs)
    data = {"mix": numpy.concatenate([doc.tensor for doc in docs])}
    data["layer6"] = numpy.concatenate([doc._.ctx_layers[6] for doc in docs])
    normalizer = Normalizer("center").fit(data)
    encoder = SimpleNamespace(normalizer=normalizer, cfg={"normalize": False})
    view = displacy.views.layers_view(docs, "bank", encoder)
    titles = [panel.title for panel in view.panels]
    assert titles[-2:] == ["mix (doc.tensor)", "mix (doc.tensor), center"]
    assert "layer 6, center" in titles and "layer 5, center" not in titles
    centered = [docs[d]._.ctx_layers[6, i] - normalizer.params["layer6"]["mean"] for d, i in refs]
    panel = view.panels[titles.index("layer 6, center")]
    expected = [cos(a, b) for a in centered for b in centered]
    assert numpy.ravel(panel.values) == pytest.approx(expected, rel=1e-6)


def test_tokens_grid_is_each_tokens_cosine_to_the_query(docs):
    html = displacy.render(docs, "tokens", {"query": (1, 7)}, jupyter=False)
    q_layers, q_mix = docs[1]._.ctx_layers[:, 7], docs[1].tensor[7]
    expected = []
    for doc in docs:
        for t in doc:
            expected += [cos(doc._.ctx_layers[k, t.i], q_layers[k]) for k in range(len(q_layers))]
            expected.append(cos(doc.tensor[t.i], q_mix))
    assert_cells(html, expected)
    assert "doc 1: She paid the cheque in at the bank." in html


@pytest.fixture(scope="module")
def tagger_nlp():
    """The default encoder and a tagger on a CtxListener over layers -2, -1."""
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder")
    listener = {"@architectures": "spacy_ctx.CtxListener.v1", "upstream": "*", "layers": [-2, -1]}
    nlp.add_pipe("tagger", config={"model": {"@architectures": "spacy.Tagger.v2", "tok2vec": listener}})
    example = Example.from_dict(nlp.make_doc("I saw it"), {"tags": ["PRP", "VBD", "PRP"]})
    nlp.initialize(lambda: [example])
    return nlp


def test_mix_bars_are_the_softmaxed_weights_of_each_listener(tagger_nlp):
    listener = tagger_nlp.get_pipe("ctx_encoder").listeners[0]
    mix = listener.get_ref("mix")
    mix.set_param("weights", mix.ops.asarray1f([0.5, -1.0]))
    mix.set_param("gamma", mix.ops.asarray1f([2.0]))
    html = displacy.render([], "mix", {"nlp": tagger_nlp}, jupyter=False)
    e = numpy.exp([0.5, -1.0])
    # The inference mix (the top layer alone), then the listener's two layers.
    assert_cells(html, [1.0] + list(e / e.sum()))
    assert "tagger, gamma 2.000" in html and "layer 5" in html
    assert "E507" not in html


def test_mix_without_heads_says_so(nlp):
    html = displacy.render([], "mix", {"nlp": nlp}, jupyter=False)
    assert "E507" in html
    assert_cells(html, [1.0])
    assert "layer 6" in html


def _corpus_rows(corpus_path, key):
    table = pq.read_table(corpus_path)
    columns = [table.column(name).to_pylist() for name in ("text", "doc", "i")]
    return (*columns, numpy.asarray(table.column(key).to_pylist(), "float64"))


@pytest.mark.parametrize("threshold", [10**6, 0], ids=["brute-force", "usearch"])
def test_neighbors_are_the_nearest_corpus_tokens_by_cosine(docs, corpus_path, threshold):
    if threshold == 0:
        pytest.importorskip("usearch")
    options = {"corpus": corpus_path, "query": (0, 6), "k": 3, "threshold": threshold}
    html = displacy.render(docs, "neighbors", options, jupyter=False)
    view = displacy.compute(docs, "neighbors", options)
    keys = [f"layer{j}" for j in docs[0]._.ctx_layer_ids] + ["mix"]
    assert len(view.panels) == len(keys)
    expected = []
    for k, (key, panel) in enumerate(zip(keys, view.panels)):
        texts, doc_ids, token_ids, X = _corpus_rows(corpus_path, key)
        q = docs[0]._.ctx_layers[k, 6] if key != "mix" else docs[0].tensor[6]
        scores = [cos(x, q) for x in X]
        best = numpy.argsort(scores)[::-1][:3]
        expected += [scores[j] for j in best]
        # Each row names the neighbour (marked in its context), its doc and index.
        for (context, doc_id, token_id, _), j in zip(panel.values, best):
            assert f"[{texts[j]}]" in context
            assert (doc_id, token_id) == (doc_ids[j], str(token_ids[j]))
    assert_cells(html, expected)
    # The query's "bank" is by a river: its nearest corpus token in the top layer is a "bank".
    assert "[bank]" in view.panels[-2].values[0][0]


def test_render_escapes_user_text_and_makes_pages(nlp):
    docs = [nlp("<script>window.__pwned=1</script> bank")]
    html = displacy.render(docs, "layers", {"target": "bank"}, page=True, jupyter=False)
    assert html.startswith("<!DOCTYPE html>")
    assert "</script" not in html and "__pwned=1&lt;/script" in html


@pytest.mark.parametrize(
    "style,options,code",
    [
        ("nope", {}, "E509"),
        ("layers", {}, "E510"),
        ("layers", {"target": "cheque book"}, "E505"),
        ("tokens", {"query": (5, 0)}, "E503"),
        ("tokens", {"query": (0, 99)}, "E504"),
        ("senses", {"nlp": "nlp"}, "E506"),
        ("neighbors", {"query": (0, 0)}, "E510"),
    ],
)
def test_bad_options_raise_clear_errors(nlp, docs, style, options, code):
    options = {key: (nlp if value == "nlp" else value) for key, value in options.items()}
    with pytest.raises(SpacyCtxError, match=code):
        displacy.render(docs, style, options, jupyter=False)


def test_docs_without_layers_are_refused(docs):
    with pytest.raises(SpacyCtxError, match="E511"):
        displacy.render([spacy.blank("en")("a bank")], "layers", {"target": "bank"}, jupyter=False)
