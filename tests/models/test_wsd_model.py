"""The spacy_ctx.WSDScorer.v1 thinc model: exact forward values and gradients."""
import inspect

import numpy
import pytest
import spacy
from spacy.tokens import Doc
from thinc.api import Adam, Config, NumpyOps

from spacy_ctx.models.listener import build_ctx_listener_v1
from spacy_ctx.models.wsd import WSDBatch, build_wsd_scorer_v1, segment_softmax

from ..util import to_numpy

N_LAYERS, WIDTH = 2, 4


def make_model(n_senses=5, train_senses=True):
    tok2vec = build_ctx_listener_v1(grad_factor=0.0, mix_dropout=0.0)
    tok2vec.connect(N_LAYERS, WIDTH, list(range(N_LAYERS)))
    model = build_wsd_scorer_v1(tok2vec, scale=2.0, prior_weight=0.5, train_senses=train_senses)
    model.set_dim("nS", n_senses)
    model.initialize()
    rng = numpy.random.default_rng(0)
    model.set_param("E", model.ops.asarray2f(rng.normal(size=(n_senses, WIDTH)).astype("f")))
    return model


def make_batch():
    vocab = spacy.blank("en").vocab
    rng = numpy.random.default_rng(1)
    docs = []
    for words in (["a", "b", "c"], ["d", "e"]):
        doc = Doc(vocab, words=words)
        doc._.ctx_layers = rng.normal(size=(N_LAYERS, len(words), WIDTH)).astype("f")
        doc._.ctx_layer_ids = list(range(N_LAYERS))
        docs.append(doc)
    return WSDBatch(
        docs=docs,
        targets=[(0, 1, 3), (1, 0, 1)],  # a two-token span, then one token
        rows=numpy.asarray([0, 2, 4, 1, 3], dtype="i"),
        lengths=numpy.asarray([3, 2], dtype="i"),
        log_prior=numpy.log(numpy.asarray([0.5, 0.3, 0.2, 0.9, 0.1], dtype="f")),
    )


def test_forward_matches_the_formula():
    model, batch = make_model(), make_batch()
    scores = to_numpy(model.predict(batch))
    E, b = to_numpy(model.get_param("E")), to_numpy(model.get_param("b"))
    # Uniform scalar mix (gamma 1) of two layers, mean over the span, L2 norm.
    h = batch.docs[0]._.ctx_layers.mean(axis=0)[1:3].mean(axis=0)
    h = h / numpy.linalg.norm(h)
    expected = [2.0 * h @ E[r] + b[r] + 0.5 * p for r, p in zip([0, 2, 4], batch.log_prior[:3])]
    numpy.testing.assert_allclose(scores[:3], expected, rtol=1e-5, atol=1e-6)
    assert scores.shape == (5,)


@pytest.mark.parametrize("param", ["W", "E", "b", "lam"])
def test_gradients_match_finite_differences(param):
    model, batch = make_model(), make_batch()
    weights = model.ops.asarray1f([1.0, -2.0, 0.5, 3.0, -1.0])
    scores, backprop = model.begin_update(batch)
    backprop(weights)
    grad = to_numpy(model.get_grad(param)).copy()
    value = model.get_param(param)
    eps = 1e-2
    for index in list(numpy.ndindex(value.shape))[:6]:
        for sign in (1, -1):
            value[index] += sign * eps
            if sign == 1:
                up = float(model.predict(batch) @ weights)
            else:
                down = float(model.predict(batch) @ weights)
            value[index] -= sign * eps
        assert grad[index] == pytest.approx((up - down) / (2 * eps), rel=1e-2, abs=1e-3)


def test_a_fixed_sense_table_gets_no_gradient():
    model, batch = make_model(train_senses=False), make_batch()
    E = to_numpy(model.get_param("E")).copy()
    scores, backprop = model.begin_update(batch)
    backprop(model.ops.xp.ones_like(scores))
    assert not model.has_grad("E") and model.has_grad("W")
    model.finish_update(Adam(0.1))
    numpy.testing.assert_array_equal(to_numpy(model.get_param("E")), E)


def test_python_defaults_are_the_shipped_config_defaults(root):
    """build_wsd_scorer_v1's defaults equal ctx_wsd's default model and
    configs/wsd.cfg, so a config that leaves a value out means the same."""
    from spacy_ctx.pipeline.wsd import DEFAULT_WSD_MODEL

    defaults = {
        name: param.default
        for name, param in inspect.signature(build_wsd_scorer_v1).parameters.items()
        if param.default is not inspect.Parameter.empty
    }
    assert defaults == {"scale": 10.0, "prior_weight": 0.5, "train_senses": False}
    shipped = Config().from_disk(root / "configs" / "wsd.cfg")["components"]["ctx_wsd"]["model"]
    for block in (Config().from_str(DEFAULT_WSD_MODEL)["model"], shipped):
        assert {name: block[name] for name in defaults} == defaults


def test_segment_softmax_per_target():
    ops = NumpyOps()
    scores = numpy.asarray([1.0, 2.0, 3.0, 1000.0, 1000.0], dtype="f")
    probs = segment_softmax(ops, scores, numpy.asarray([3, 2], dtype="i"))
    e = numpy.exp([1.0, 2.0, 3.0])
    numpy.testing.assert_allclose(probs, [*(e / e.sum()), 0.5, 0.5], rtol=1e-6)


def test_no_targets_gives_no_scores():
    model, batch = make_model(), make_batch()
    batch.targets, batch.rows, batch.lengths = [], numpy.zeros(0, "i"), numpy.zeros(0, "i")
    batch.log_prior = numpy.zeros(0, "f")
    assert model.predict(batch).shape == (0,)


def test_given_sense_rows_replace_the_table_and_get_no_gradient():
    model, batch = make_model(train_senses=True), make_batch()
    E = to_numpy(model.get_param("E"))
    plain = to_numpy(model.predict(batch))
    batch.sense_rows = E[batch.rows] * 2.0  # [n_candidates, width]
    scores, backprop = model.begin_update(batch)
    b, lam = to_numpy(model.get_param("b")), float(to_numpy(model.get_param("lam"))[0])
    # The similarity part doubles: (scores - b - lam * prior) is twice the plain one.
    rest = b[batch.rows] + lam * batch.log_prior
    numpy.testing.assert_allclose(to_numpy(scores) - rest, 2 * (plain - rest), rtol=1e-5, atol=1e-5)
    backprop(model.ops.asarray1f(numpy.ones_like(plain)))
    assert not model.has_grad("E")
    assert to_numpy(model.get_grad("W")).any()
