"""ELMo's scalar mix as a thinc layer: gamma * sum_j softmax(s)_j * h_j."""
from typing import Callable, List, Optional, Tuple

from thinc.api import Model
from thinc.types import Floats1d, Floats3d

from ..errors import Errors, SpacyCtxError
from .types import DocLayers, DocVectors

# The small constant AllenNLP adds to the variance in its layer norm.
LAYER_NORM_EPS = 1e-12


def build_scalar_mix_v1(
    layers: Optional[List[int]] = None,
    initial_weights: Optional[List[float]] = None,
    gamma: float = 1.0,
    layer_norm: bool = False,
    dropout: float = 0.0,
) -> Model[DocLayers, DocVectors]:
    """Mix the layers of each doc into one vector per token.

    layers: which input layers to mix (None = all). The weights cover only
        these; the other layers get no gradient.
    initial_weights: the unnormalised weights s (None = zeros, a plain mean).
    gamma: the initial scale.
    layer_norm: normalise each layer of each doc over all its values before
        mixing (AllenNLP's `do_layer_norm`). Per doc rather than per batch, so
        the result does not depend on how docs are batched.
    dropout: during training, drop each layer with this probability (at least
        one layer is always kept) and renormalise over the rest.

    Input, per doc: [n_layers, n_tokens, width]. Output: [n_tokens, width].
    Params: "weights" [n_mixed] and "gamma" [1]. Dim "nL" is the number of
    input layers; it is inferred from data when not set.
    """
    if not 0.0 <= dropout < 1.0:
        raise SpacyCtxError(Errors.E012.format(value=dropout))
    return Model(
        "scalar_mix",
        forward,
        init=init,
        dims={"nL": None},
        params={"weights": None, "gamma": None},
        attrs={
            "layers": None if layers is None else list(layers),
            "initial_weights": initial_weights,
            "initial_gamma": gamma,
            "layer_norm": layer_norm,
            "dropout": dropout,
        },
    )


def init(model: Model, X: Optional[DocLayers] = None, Y=None) -> None:
    if not model.has_dim("nL") and X:
        model.set_dim("nL", X[0].shape[0])
    n_layers = model.get_dim("nL")
    layers = model.attrs["layers"]
    n_mixed = n_layers if layers is None else len(layers)
    initial = model.attrs["initial_weights"]
    if initial is None:
        weights = model.ops.alloc1f(n_mixed)
    elif len(initial) != n_mixed:
        raise SpacyCtxError(Errors.E009.format(got=len(initial), n=n_mixed))
    else:
        weights = model.ops.asarray1f(initial)
    model.set_param("weights", weights)
    model.set_param("gamma", model.ops.asarray1f([model.attrs["initial_gamma"]]))


def token_layers_by_depth(n_layers: int) -> List[int]:
    """The layers that token-level vectors read by default on an encoder
    with `n_layers` outputs (layer 0 = the embeddings): layer round(depth / 3)
    and the top layer, depth = n_layers - 1. Their plain mean beats the top
    layer on word similarity on MiniLM (6 layers: 2 and 6) and on
    all-mpnet-base-v2 (12 layers: 4 and 12); docs/similarity.md has the
    figures. depth / 3 is never a half, so round() is unambiguous."""
    depth = n_layers - 1
    return sorted({round(depth / 3), depth})


def mixed_layers(model: Model) -> List[int]:
    """The input layers that the mix reads, as positive indices."""
    layers = model.attrs["layers"]
    return list(range(model.get_dim("nL"))) if layers is None else list(layers)


def mix_stored(model: Model, X, layer_ids: List[int], chunk: int = 4096):
    """The mix of one doc at inference, from an array that holds only some
    layers: row k of X ([len(layer_ids), n_tokens, width], float32 or
    float16) is layer layer_ids[k]. `chunk` tokens at a time, so a long doc
    needs no float32 copy of a whole layer. Equals `model.predict([full])[0]`
    up to float rounding.
    """
    xp = model.ops.xp
    probs, _ = _layer_probs(model, False)
    gamma = float(model.get_param("gamma")[0])
    rows = [layer_ids.index(layer) for layer in mixed_layers(model)]
    weights = [gamma * p for p in model.ops.to_numpy(probs).tolist()]
    shifts = [0.0] * len(rows)
    if model.attrs["layer_norm"] and X.shape[1]:
        # Each layer is normalised over all of its values: the statistics
        # first (numpy and cupy accumulate float16 means in float32).
        for k, row in enumerate(rows):
            mean = float(X[row].mean(dtype="f"))
            std = float(xp.sqrt(xp.square(X[row], dtype="f").mean() - mean**2 + LAYER_NORM_EPS))
            shifts[k] = mean
            weights[k] /= std
    out = xp.zeros(X.shape[1:], dtype="f")
    for start in range(0, X.shape[1], chunk):
        part = out[start : start + chunk]
        for row, weight, shift in zip(rows, weights, shifts):
            H = X[row, start : start + chunk].astype("f")
            if shift:
                H -= shift
            H *= weight
            part += H
    return out


def forward(
    model: Model[DocLayers, DocVectors], Xs: DocLayers, is_train: bool
) -> Tuple[DocVectors, Callable]:
    xp = model.ops.xp
    layers = mixed_layers(model)
    gamma = model.get_param("gamma")
    probs, _ = _layer_probs(model, is_train)
    # Doc by doc: concatenating the docs first would copy every layer again.
    normed, backprop_norms = [], []
    for X in Xs:
        H, backprop_norm = _select_and_norm(model, X, layers)
        normed.append(H)  # [n_mixed, n_tokens, width]
        backprop_norms.append(backprop_norm)
    mixed = [xp.tensordot(probs, H, axes=(0, 0)) for H in normed]  # [n_tokens, width]
    Ys = [gamma[0] * m for m in mixed]

    def backprop(dYs: DocVectors) -> DocLayers:
        d_gamma = 0.0
        d_probs = xp.zeros(probs.shape, dtype="f")
        dXs = []
        for dY, H, m, backprop_norm in zip(dYs, normed, mixed, backprop_norms):
            d_gamma += float((dY * m).sum())
            d_probs += gamma[0] * xp.tensordot(H, dY, axes=([1, 2], [0, 1]))
            dXs.append(backprop_norm(gamma[0] * probs[:, None, None] * dY[None, :, :]))
        # Softmax Jacobian: ds = p * (dp - sum(p * dp)). Dropped layers have p=0.
        d_weights = probs * (d_probs - (probs * d_probs).sum())
        model.inc_grad("weights", d_weights.astype("f"))
        model.inc_grad("gamma", xp.asarray([d_gamma], dtype="f"))
        return dXs

    return Ys, backprop


def _layer_probs(model: Model, is_train: bool) -> Tuple[Floats1d, Floats1d]:
    """softmax(s) over the kept layers; dropped layers get probability 0."""
    xp = model.ops.xp
    s = model.get_param("weights")
    keep = xp.ones(s.shape, dtype="bool")
    rate = model.attrs["dropout"]
    if is_train and rate > 0:
        keep = xp.random.uniform(0, 1, s.shape) >= rate
        if not keep.any():
            keep[xp.random.randint(0, s.shape[0])] = True
    shifted = xp.where(keep, s - s[keep].max(), -xp.inf)
    exp = xp.exp(shifted)
    return (exp / exp.sum()).astype("f"), keep


def _select_and_norm(
    model: Model, X: Floats3d, layers: List[int]
) -> Tuple[Floats3d, Callable]:
    """Pick the mixed layers of one doc and, if asked, layer-normalise them."""
    xp = model.ops.xp
    # Plain indexing with a list copies: skip it when every layer is mixed.
    H = X if layers == list(range(X.shape[0])) else X[layers]

    def scatter(dH: Floats3d) -> Floats3d:
        dX = xp.zeros(X.shape, dtype="f")
        for k, layer in enumerate(layers):  # a layer may be listed twice
            dX[layer] += dH[k]
        return dX

    if not model.attrs["layer_norm"] or H.size == 0:
        return H, scatter
    # Each layer is normalised over all of its n_tokens * width values.
    mean = H.mean(axis=(1, 2), keepdims=True)
    centered = H - mean
    std = xp.sqrt((centered**2).mean(axis=(1, 2), keepdims=True) + LAYER_NORM_EPS)
    normed = centered / std

    def backprop_norm(dN: Floats3d) -> Floats3d:
        # d/dx of (x - mean) / std over one layer's values.
        dH = (
            dN
            - dN.mean(axis=(1, 2), keepdims=True)
            - normed * (dN * normed).mean(axis=(1, 2), keepdims=True)
        ) / std
        return scatter(dH)

    return normed, backprop_norm
