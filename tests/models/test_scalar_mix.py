"""Exact forward and gradient values of spacy_ctx.ScalarMix.v1."""
import numpy
import pytest
from numpy.testing import assert_allclose

from spacy_ctx.models.scalar_mix import build_scalar_mix_v1, mix_stored, token_layers_by_depth


def _mix(**kwargs):
    mix = build_scalar_mix_v1(**kwargs)
    mix.set_dim("nL", 3)
    mix.initialize()
    return mix


def _run(mix, Xs, is_train):
    """Call the mix on NumPy arrays on whatever device its ops use (the
    suite also runs on GPU), and give NumPy arrays back."""
    ops = mix.ops
    Ys, backprop = mix([ops.asarray(X) for X in Xs], is_train)

    def backprop_numpy(dYs):
        return [ops.to_numpy(dX) for dX in backprop([ops.asarray(dY) for dY in dYs])]

    return [ops.to_numpy(Y) for Y in Ys], backprop_numpy


def _grad(mix, name):
    return mix.ops.to_numpy(mix.get_grad(name))


def _layers():
    # One doc, 3 layers, 2 tokens, width 2: layer j is filled with j + 1,
    # except for a distinct first token, so every value can be checked.
    X = numpy.zeros((3, 2, 2), dtype="f")
    for j in range(3):
        X[j] = j + 1
    X[:, 0, 0] = [10.0, 20.0, 30.0]
    return X


def test_forward_and_gradient_exact():
    mix = _mix(initial_weights=[0.0, numpy.log(2.0), numpy.log(5.0)], gamma=2.0)
    X = _layers()
    # softmax([0, log 2, log 5]) = [1, 2, 5] / 8
    p = numpy.array([1, 2, 5], dtype="f") / 8
    (Y,), backprop = _run(mix, [X], True)
    expected = 2.0 * (p[0] * X[0] + p[1] * X[1] + p[2] * X[2])
    assert_allclose(Y, expected, rtol=1e-6)
    assert_allclose(Y[1, 1], 2.0 * (1 * 1 + 2 * 2 + 5 * 3) / 8, rtol=1e-6)  # 5.0

    dY = numpy.ones((2, 2), dtype="f")
    (dX,) = backprop([dY])
    # dX_j = gamma * p_j * dY
    assert_allclose(dX, 2.0 * p[:, None, None] * numpy.ones((3, 2, 2)), rtol=1e-6)
    # d gamma = sum(dY * sum_j p_j X_j)
    d_gamma = _grad(mix, "gamma")
    assert_allclose(d_gamma, [(expected / 2.0).sum()], rtol=1e-6)
    # d p_j = gamma * sum(dY * X_j); ds = p * (dp - sum(p * dp))
    dp = 2.0 * X.sum(axis=(1, 2))
    assert_allclose(_grad(mix, "weights"), p * (dp - (p * dp).sum()), rtol=1e-5)


def test_gradient_matches_finite_differences_with_layer_norm():
    mix = _mix(initial_weights=[0.3, -0.2, 0.1], gamma=1.5, layer_norm=True)
    rng = numpy.random.default_rng(0)
    X = rng.normal(size=(3, 4, 5)).astype("f")
    dY = rng.normal(size=(4, 5)).astype("f")
    (Y,), backprop = _run(mix, [X], True)
    (dX,) = backprop([dY])

    def loss(X_):
        (Y_,), _ = _run(mix, [X_.astype("f")], False)
        return float((Y_ * dY).sum())

    eps = 1e-2
    for index in [(0, 0, 0), (1, 2, 3), (2, 3, 4)]:
        X_plus, X_minus = X.astype("f8"), X.astype("f8")
        X_plus[index] += eps
        X_minus[index] -= eps
        numeric = (loss(X_plus) - loss(X_minus)) / (2 * eps)
        assert dX[index] == pytest.approx(numeric, rel=2e-2, abs=2e-3)


def test_layer_norm_normalises_each_layer_of_each_doc():
    mix = _mix(layer_norm=True, initial_weights=[0.0, -1e9, -1e9])
    X = _layers() * 7.0 + 3.0
    (Y,), _ = _run(mix, [X], False)
    assert abs(float(Y.mean())) < 1e-5
    assert float(Y.std()) == pytest.approx(1.0, rel=1e-4)


def test_layer_selection_gives_zero_gradient_elsewhere():
    mix = build_scalar_mix_v1(layers=[0, 2])
    mix.set_dim("nL", 3)
    mix.initialize()
    X = _layers()
    (Y,), backprop = _run(mix, [X], True)
    assert_allclose(Y, (X[0] + X[2]) / 2, rtol=1e-6)
    (dX,) = backprop([numpy.ones((2, 2), dtype="f")])
    assert not dX[1].any()
    assert_allclose(dX[0], 0.5)


def test_layer_dropout_keeps_at_least_one_layer_and_only_in_training():
    mix = _mix(dropout=0.99)
    X = _layers()
    for _ in range(20):
        (Y,), _ = _run(mix, [X], True)
        # The output is always a convex mix of whole layers: never all zeros.
        assert numpy.abs(Y).sum() > 0
    (Y,), _ = _run(mix, [X], False)
    assert_allclose(Y, X.mean(axis=0), rtol=1e-6)


def test_several_docs_and_empty_doc():
    mix = _mix()
    X = _layers()
    empty = numpy.zeros((3, 0, 2), dtype="f")
    Ys, backprop = _run(mix, [X, empty, X], True)
    assert [y.shape for y in Ys] == [(2, 2), (0, 2), (2, 2)]
    dXs = backprop([numpy.ones_like(y) for y in Ys])
    assert [d.shape for d in dXs] == [(3, 2, 2), (3, 0, 2), (3, 2, 2)]


def test_bad_initial_weights_and_dropout():
    with pytest.raises(ValueError, match="E009"):
        _mix(initial_weights=[0.0, 1.0])
    with pytest.raises(ValueError, match="E012"):
        build_scalar_mix_v1(dropout=1.0)


@pytest.mark.parametrize("layer_norm", [False, True])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_mix_of_stored_layers_equals_the_mix_of_all(layer_norm, dtype):
    # What ctx_encoder stores: some rows of the layers (here 0, 2, 3 of 4),
    # maybe in float16; the inference mix from them, in small chunks of
    # tokens, equals the layer's own forward over every layer.
    rng = numpy.random.default_rng(0)
    X = (rng.normal(size=(4, 10, 6)) * [[[1.0]], [[3.0]], [[0.5]], [[2.0]]] + 0.3).astype(dtype)
    mix = build_scalar_mix_v1(layers=[2, 0], initial_weights=[0.4, -0.2], gamma=1.5, layer_norm=layer_norm)
    mix.set_dim("nL", 4)
    mix.initialize()
    expected = mix.ops.to_numpy(mix.predict([mix.ops.asarray(X.astype("f"))])[0])
    got = mix.ops.to_numpy(mix_stored(mix, mix.ops.asarray(X[[0, 2, 3]]), [0, 2, 3], chunk=3))
    assert got.dtype == numpy.float32
    assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "n_layers,expected",
    # MiniLM-L6, all-mpnet-base-v2 and BERT-base, a 24-layer model, ELMo
    # (a character CNN and two LSTM layers), a one-layer encoder.
    [(7, [2, 6]), (13, [4, 12]), (25, [8, 24]), (3, [1, 2]), (2, [0, 1])],
)
def test_token_layers_by_depth_are_a_third_of_the_way_up_and_the_top(n_layers, expected):
    assert token_layers_by_depth(n_layers) == expected
