"""Every style's rendered numbers equal cosines and weights computed here by hand."""
import re
from types import SimpleNamespace

import numpy
import pyarrow.parquet as pq
import pytest
import spacy
from spacy.training import Example

from spacy_ctx import displacy
from spacy_ctx.displacy.html import charts_js, format_number
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


def layer_vectors(docs, refs):
    """Per key (every layer, then the mix), the vectors of the tokens refs."""
    out = [[docs[d]._.ctx_layers[k, i] for d, i in refs] for k in range(len(docs[0]._.ctx_layer_ids))]
    return out + [[docs[d].tensor[i] for d, i in refs]]


def baseline_by_hand(docs, skip, k):
    """The mean cosine over every pair of non-punctuation tokens from two
    different docs, the `skip` tokens left out (k: the layer row, or the mix)."""
    def vec(d, i):
        return docs[d].tensor[i] if k == len(docs[0]._.ctx_layer_ids) else docs[d]._.ctx_layers[k, i]

    tokens = [(d, t.i) for d, doc in enumerate(docs) for t in doc if not t.is_punct and (d, t.i) not in skip]
    return numpy.mean([cos(vec(*a), vec(*b)) for a in tokens for b in tokens if a[0] < b[0]])


def test_layers_chart_is_a_line_per_pair_and_the_baseline_with_its_numbers_under_it(docs):
    refs = bank_refs(docs)
    view = displacy.compute(docs, "layers", {"target": "Bank"})
    (figure,) = view.figures
    per_key = layer_vectors(docs, refs)
    assert figure["kind"] == "lines" and figure["x"] == [f"layer {k}" for k in range(7)] + ["mix (doc.tensor)"]
    pairs = [(0, 1), (0, 2), (1, 2)]
    series = figure["series"]
    assert [s["role"] for s in series] == ["pair"] * 3 + ["baseline"]
    for (a, b), line in zip(pairs, series):
        assert line["values"] == pytest.approx([cos(v[a], v[b]) for v in per_key], rel=1e-9)
        assert line["name"].startswith(f"{refs[a][0]}:{refs[a][1]} ") and f" ~ {refs[b][0]}:{refs[b][1]} " in line["name"]
    expected = [baseline_by_hand(docs, set(refs), k) for k in range(len(per_key))]
    assert series[-1]["values"] == pytest.approx(expected, rel=1e-6)
    # The numbers are in the table under the chart, row by row.
    html = displacy.render(docs, "layers", {"target": "Bank"}, jupyter=False)
    assert_cells(html, [v for line in series for v in line["values"]])
    assert html.index("data-ctx-figure=") < html.index("<table>") < html.index("<script>")
    # The river banks are closer to each other than to the money bank in the last layer;
    # every pair of "bank"s is far above two unrelated tokens.
    last = per_key[-2]
    assert cos(last[0], last[2]) > cos(last[0], last[1])
    assert min(min(line["values"]) for line in series[:3]) > max(series[-1]["values"]) + 0.3


def test_layers_chart_with_senses_is_same_against_cross_sense_means(docs):
    refs = bank_refs(docs)
    view = displacy.views.layers_view(docs, "bank", senses=["river", "money", "river"])
    same, cross, baseline = view.figures[0]["series"]
    per_key = layer_vectors(docs, refs)
    assert (same["role"], cross["role"], baseline["role"]) == ("same", "cross", "baseline")
    assert same["values"] == pytest.approx([cos(v[0], v[2]) for v in per_key], rel=1e-9)
    assert cross["values"] == pytest.approx([(cos(v[0], v[1]) + cos(v[1], v[2])) / 2 for v in per_key], rel=1e-9)
    # The table keeps every pair under the means.
    (panel,) = view.panels
    assert len(panel.rows) == 3 + 3
    assert panel.values[3] == pytest.approx([cos(v[0], v[1]) for v in per_key], rel=1e-9)


def test_layers_with_a_normalizer_adds_the_corrected_cosines(docs):
    refs = bank_refs(docs)
    data = {"mix": numpy.concatenate([doc.tensor for doc in docs])}
    data["layer6"] = numpy.concatenate([doc._.ctx_layers[6] for doc in docs])
    normalizer = Normalizer("center").fit(data)
    encoder = SimpleNamespace(normalizer=normalizer, cfg={"normalize": False})
    view = displacy.views.layers_view(docs, "bank", encoder)
    panel = view.panels[-1]
    assert panel.title == "corrected with the pipeline's normalizer (center)"
    assert panel.cols == ["layer 6", "mix (doc.tensor)"]
    centered = [docs[d]._.ctx_layers[6, i] - normalizer.params["layer6"]["mean"] for d, i in refs]
    expected = [cos(centered[a], centered[b]) for a, b in [(0, 1), (0, 2), (1, 2)]]
    assert [row[0] for row in panel.values] == pytest.approx(expected, rel=1e-6)


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
    docs = [nlp("bank <script>window.__pwned=1</script> bank")]
    html = displacy.render(docs, "sensemap", {"target": "bank"}, page=True, jupyter=False)
    assert html.startswith("<!DOCTYPE html>")
    # The one script is the page's own drawing code; the user's is text.
    assert html.count("<script") == 1 and html.count("</script") == 1
    script = html[html.index("<script>") + len("<script>") : html.index("</script>")]
    assert script == charts_js()
    assert "__pwned=1&lt;/script" in html and "<script>window" not in html


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
