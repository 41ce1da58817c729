"""The sense map's numbers: projections, labels and separation, checked
against PCA, k-means and silhouettes computed here."""
import base64
import hashlib
import json
import re
from html import unescape

import numpy
import pytest
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import silhouette_score

from spacy_ctx import displacy
from spacy_ctx.displacy.html import charts_js
from spacy_ctx.displacy.sensemap import aligned_projections, kmeans_labels, separation
from spacy_ctx.errors import SpacyCtxError

FIGURE = re.compile(r'data-ctx-figure="([^"]*)"')


def unit(X):
    X = numpy.asarray(X, "float64")
    return X / numpy.linalg.norm(X, axis=1, keepdims=True)


def silhouette_by_hand(X, labels):
    """Rousseeuw's silhouette with cosine distance, from its definition."""
    U = unit(X)
    D = 1 - U @ U.T
    labels = numpy.asarray(labels)
    scores = []
    for i in range(len(U)):
        own = labels == labels[i]
        if own.sum() == 1:
            scores.append(0.0)
            continue
        a = D[i, own & (numpy.arange(len(U)) != i)].mean()
        b = min(D[i, labels == other].mean() for other in set(labels.tolist()) if other != labels[i])
        scores.append((b - a) / max(a, b))
    return float(numpy.mean(scores))


@pytest.fixture(scope="module")
def bank_docs(nlp):
    texts = [
        "The boat drifted toward the river bank.",
        "She paid the cheque in at the bank.",
        "We had a picnic on the bank of the river.",
        "The bank raised its interest rates.",
        "Reeds grew thick along the muddy bank.",
        "He opened an account at the bank on Monday.",
    ]
    return list(nlp.pipe(texts))


def test_projection_is_pca_of_the_unit_vectors_per_layer_with_signs_kept(bank_docs):
    view = displacy.compute(bank_docs, "sensemap", {"target": "bank"})
    (figure,) = view.figures
    refs = [(d, t.i) for d, doc in enumerate(bank_docs) for t in doc if t.text == "bank"]
    assert len(figure["labels"]) == len(refs) == 6
    previous = None
    for k, key in enumerate(figure["keys"]):
        X = [bank_docs[d].tensor[i] if key == "mix" else bank_docs[d]._.ctx_layers[k, i] for d, i in refs]
        expected = PCA(n_components=2).fit_transform(unit(X))
        coords = numpy.asarray(figure["coords"][k])
        for a in range(2):  # equal up to each axis's sign
            sign = numpy.sign(coords[:, a] @ expected[:, a])
            assert coords[:, a] == pytest.approx(sign * expected[:, a], abs=1e-5)
            if previous is not None:
                assert coords[:, a] @ previous[:, a] >= 0  # no flip from the key before
        previous = coords


def test_signs_follow_the_layer_below_even_when_pca_flips():
    rng = numpy.random.default_rng(0)
    X = rng.normal(size=(20, 8)) * numpy.array([5, 3, 1, 1, 1, 1, 1, 1]) + 10
    coords = aligned_projections({"layer0": X, "layer1": X.copy(), "layer2": -X + 20})
    assert coords["layer1"] == pytest.approx(coords["layer0"])
    for a in range(2):
        assert coords["layer2"][:, a] @ coords["layer1"][:, a] > 0


def test_without_wsd_colours_are_the_kmeans_clusters_of_best_silhouette(bank_docs):
    figure = displacy.compute(bank_docs, "sensemap", {"target": "bank"}).figures[0]
    refs = [(d, t.i) for d, doc in enumerate(bank_docs) for t in doc if t.text == "bank"]
    mix = unit([bank_docs[d].tensor[i] for d, i in refs])
    scores = {}
    for k in range(2, 6):  # at most n - 1 = 5 clusters of 6 points
        labels = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(mix)
        scores[k] = silhouette_score(mix, labels, metric="cosine")
    best = max(scores, key=scores.get)
    assert figure["labelled_by"].startswith("k-means") and f"k = {best}" in figure["labelled_by"]
    assert len(figure["label_names"]) == best
    assert figure["labels"] == KMeans(n_clusters=best, n_init=10, random_state=0).fit_predict(mix).tolist()


def test_separation_is_the_cosine_silhouette_of_the_labels_in_all_dimensions(bank_docs):
    view = displacy.compute(bank_docs, "sensemap", {"target": "bank"})
    figure = view.figures[0]
    refs = [(d, t.i) for d, doc in enumerate(bank_docs) for t in doc if t.text == "bank"]
    for k, key in enumerate(figure["keys"]):
        X = [bank_docs[d].tensor[i] if key == "mix" else bank_docs[d]._.ctx_layers[k, i] for d, i in refs]
        assert figure["separation"][k] == pytest.approx(silhouette_by_hand(X, figure["labels"]), abs=1e-9)
    # The best layer is the layer (not the mix) of the highest separation; the table has them all.
    layers = figure["separation"][:-1]
    assert figure["best"] == int(numpy.argmax(layers))
    assert [row[0] for row in view.panels[0].values] == figure["separation"]
    # Unlabelled points (-1) are left out; one label has no silhouette.
    X = numpy.random.default_rng(0).normal(size=(6, 4))
    assert separation(X, [0, 0, 1, 1, -1, -1]) == pytest.approx(silhouette_by_hand(X[:4], [0, 0, 1, 1]))
    assert separation(X, [0] * 6) is None


def test_kmeans_of_too_few_points_is_one_group():
    labels, k = kmeans_labels(numpy.eye(2, 4))
    assert k == 1 and labels.tolist() == [0, 0]


def test_corpus_occurrences_come_after_the_docs_and_the_limit_says_so(bank_docs, corpus_path):
    import pyarrow.parquet as pq

    table = pq.read_table(corpus_path)
    texts = table.column("text").to_pylist()
    rows = [r for r, text in enumerate(texts) if text.lower() == "bank"]
    view = displacy.compute(bank_docs[:1], "sensemap", {"target": "bank", "corpus": corpus_path})
    figure = view.figures[0]
    assert len(figure["labels"]) == 1 + len(rows)
    assert figure["where"][0] == "doc 0, token 6"
    assert figure["where"][1].startswith("corpus.parquet: doc ")
    assert figure["contexts"][0] == ["The boat drifted toward the river ", "bank", "."]
    assert [c[1] for c in figure["contexts"]] == ["bank"] * len(figure["labels"])
    layer6 = numpy.asarray(table.column("layer6").to_pylist())[rows]
    expected = PCA(n_components=2).fit_transform(unit(numpy.concatenate([[bank_docs[0]._.ctx_layers[6, 6]], layer6])))
    coords = numpy.asarray(figure["coords"][6])
    assert numpy.abs(coords) == pytest.approx(numpy.abs(expected), abs=1e-5)
    limited = displacy.compute(bank_docs, "sensemap", {"target": "bank", "corpus": corpus_path, "limit": 4})
    assert len(limited.figures[0]["labels"]) == 4 and "E527" in limited.notes[0]
    exact = displacy.compute(bank_docs, "sensemap", {"target": "bank", "corpus": corpus_path, "limit": 6 + len(rows)})
    assert len(exact.figures[0]["labels"]) == 6 + len(rows) and not exact.notes
    with pytest.raises(SpacyCtxError, match="E505"):
        displacy.compute(bank_docs, "sensemap", {"target": "heron", "corpus": corpus_path})


def test_render_inline_and_as_a_page_carries_its_own_script(bank_docs):
    inline = displacy.render(bank_docs, "sensemap", {"target": "bank"}, jupyter=False)
    assert inline.startswith("<style>") and inline.endswith(f"<script>{charts_js()}</script>")
    figure = json.loads(unescape(FIGURE.search(inline).group(1)))
    assert figure == json.loads(json.dumps(displacy.compute(bank_docs, "sensemap", {"target": "bank"}).figures[0]))
    page = unescape(displacy.render(bank_docs, "sensemap", {"target": "bank"}, page=True, jupyter=False))
    digest = base64.b64encode(hashlib.sha256(charts_js().encode("utf-8")).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in page and "unsafe-inline" not in page.split("script-src")[1].split(";")[0]
    # Without figures, no script at all.
    tokens = unescape(displacy.render(bank_docs, "tokens", {"query": (0, 0)}, page=True, jupyter=False))
    assert "<script" not in tokens and "script-src 'none'" in tokens
