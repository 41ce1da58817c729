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


def make_model(n_senses=5, train_senses=True, **settings):
    tok2vec = build_ctx_listener_v1(grad_factor=0.0, mix_dropout=0.0)
    tok2vec.connect(N_LAYERS, WIDTH, list(range(N_LAYERS)))
    model = build_wsd_scorer_v1(tok2vec, scale=2.0, prior_weight=0.5, train_senses=train_senses, **settings)
    model.set_dim("nS", n_senses)
    model.initialize()
    rng = numpy.random.default_rng(0)
    model.set_param("E", model.ops.asarray2f(rng.normal(size=(n_senses, WIDTH)).astype("f")))
    if settings.get("gloss_projection"):
        model.set_param("G", model.ops.asarray2f(rng.normal(size=(n_senses, WIDTH)).astype("f")))
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


@pytest.mark.parametrize(
    "param,settings",
    [(p, {}) for p in ("W", "E", "b", "lam")]
    + [(p, {"gloss_projection": True}) for p in ("W", "Pc", "Pg", "b")]
    + [(p, {"gloss_projection": True, "identity_l2": 0.3}) for p in ("W", "Pc", "Pg")],
)
def test_gradients_match_finite_differences(param, settings):
    """The loss is weights @ scores (+ the pull's (l2 / 2) ||M - M0||^2)."""
    model, batch = make_model(**settings), make_batch()
    rng = numpy.random.default_rng(2)
    for name in ("W", "Pc", "Pg"):  # away from the initial matrices, so the pull acts
        if model.has_param(name):
            model.set_param(name, model.get_param(name) + model.ops.asarray2f(rng.normal(size=(WIDTH, WIDTH)).astype("f")))
    l2 = settings.get("identity_l2", 0.0)
    initial = {"W": 2.0 * numpy.eye(WIDTH), "Pc": 2.0 * numpy.eye(WIDTH), "Pg": numpy.eye(WIDTH)}

    def loss():
        pull = sum(((to_numpy(model.get_param(n)) - initial[n]) ** 2).sum() for n in initial if model.has_param(n))
        return float(model.predict(batch) @ weights) + 0.5 * l2 * pull

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
                up = loss()
            else:
                down = loss()
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
    assert defaults == {
        "scale": 10.0, "prior_weight": 0.5, "train_senses": False, "gloss_projection": False, "identity_l2": 0.0,
    }
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


def test_gloss_projection_starts_at_the_scores_of_the_summed_table():
    """Pc = scale * identity and Pg = identity: <W h, E[s]> + <Pc h, Pg G[s]>
    is <W h, E[s] + G[s]>, the score of a table holding the glosses."""
    projected, batch = make_model(gloss_projection=True), make_batch()
    summed = make_model()
    E, G = to_numpy(projected.get_param("E")), to_numpy(projected.get_param("G"))
    summed.set_param("E", summed.ops.asarray2f(E + G))
    numpy.testing.assert_allclose(to_numpy(projected.predict(batch)), to_numpy(summed.predict(batch)), rtol=1e-5, atol=1e-5)
    numpy.testing.assert_array_equal(to_numpy(projected.get_param("Pc")), 2.0 * numpy.eye(WIDTH))
    numpy.testing.assert_array_equal(to_numpy(projected.get_param("Pg")), numpy.eye(WIDTH))


def test_the_identity_pull_adds_l2_times_the_distance_from_the_start():
    """With identity_l2, W's gradient is the scores' plus l2 * (W - scale * I)."""
    grads = {}
    for l2 in (0.0, 0.25):
        model, batch = make_model(identity_l2=l2), make_batch()
        W = to_numpy(model.get_param("W")) + numpy.arange(WIDTH * WIDTH, dtype="f").reshape(WIDTH, WIDTH) / 10
        model.set_param("W", model.ops.asarray2f(W))
        scores, backprop = model.begin_update(batch)
        backprop(model.ops.asarray1f([1.0, -2.0, 0.5, 3.0, -1.0]))
        grads[l2] = to_numpy(model.get_grad("W")).copy()
    numpy.testing.assert_allclose(grads[0.25] - grads[0.0], 0.25 * (W - 2.0 * numpy.eye(WIDTH)), rtol=1e-5, atol=1e-6)


def test_the_gloss_table_is_fixed_and_the_projections_save_and_load():
    model, batch = make_model(gloss_projection=True, train_senses=False), make_batch()
    G = to_numpy(model.get_param("G")).copy()
    scores, backprop = model.begin_update(batch)
    backprop(model.ops.xp.ones_like(scores))
    assert not model.has_grad("G") and model.has_grad("Pc") and model.has_grad("Pg")
    model.finish_update(Adam(0.1))
    numpy.testing.assert_array_equal(to_numpy(model.get_param("G")), G)
    assert not numpy.allclose(to_numpy(model.get_param("Pg")), numpy.eye(WIDTH))
    copy = make_model(gloss_projection=True).from_bytes(model.to_bytes())
    for name in ("W", "E", "G", "Pc", "Pg", "b", "lam"):
        numpy.testing.assert_array_equal(to_numpy(copy.get_param(name)), to_numpy(model.get_param(name)))
    numpy.testing.assert_array_equal(to_numpy(copy.predict(batch)), to_numpy(model.predict(batch)))
