"""The WSD scorer: candidate-restricted sense scores for target spans.

For a target span with contextual vector h (the mean of its tokens' vectors
from the tok2vec, L2-normalised) and a candidate sense s:

    score(s) = <W h, E[s]> + b[s] + lam * log_prior(s)

E is a table of sense embeddings (set after initialize by the component,
from training-data means of h, LMMS-style, and gloss embeddings), b a
per-sense bias, and log_prior a fixed sense-frequency prior, so that the
untrained model already ranks like the most frequent sense. The softmax is
taken over each target's candidates only (``segment_softmax``).

With ``gloss_projection``, the gloss embeddings G are kept apart from E (E
then holds the training means only) and scored through two learned
projections, as BEM scores a context against a gloss but with the glosses
encoded once by the frozen encoder:

    score(s) = <W h, E[s]> + <Pc h, Pg G[s]> + b[s] + lam * log_prior(s)

Pc starts as scale * identity and Pg as identity, so the initial scores
equal the table's (<W h, E[s] + G[s]> with W = scale * identity).
``identity_l2`` adds the gradient of (identity_l2 / 2) * ||M - M0||^2 for
each of W, Pc and Pg: a pull towards the initial matrices M0, which keeps
the 384x384 (or 768x768) projections near a temperature-scaled cosine when
the data are few.
"""
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy
from spacy.tokens import Doc
from thinc.api import Model, Ops
from thinc.types import Floats1d, Floats2d, Ints1d

from .types import DocVectors


@dataclass
class WSDBatch:
    """Input of the scorer. Candidates of all targets are concatenated."""

    docs: List[Doc]
    targets: List[Tuple[int, int, int]]  # (doc index, start token, end token)
    rows: Ints1d  # [n_candidates] row of each candidate in the sense table
    lengths: Ints1d  # [n_targets] number of candidates per target
    log_prior: Floats1d  # [n_candidates]
    # Sense rows to score each candidate against instead of E[rows] (the
    # cross-fitted rows ctx_wsd trains a fixed table with); no gradient.
    sense_rows: Optional[Floats2d] = None  # [n_candidates, nO]


def build_wsd_scorer_v1(
    tok2vec: Model[List[Doc], DocVectors],
    scale: float = 10.0,
    prior_weight: float = 0.5,
    train_senses: bool = False,
    gloss_projection: bool = False,
    identity_l2: float = 0.0,
) -> Model[WSDBatch, Floats1d]:
    """Score the candidate senses of target spans (see the module doc).

    tok2vec: token vectors, e.g. spacy_ctx.CtxListener.v1.
    scale: W starts as scale * identity: the temperature of the cosine
        similarity between a target and the (unit-norm) initial sense rows.
    prior_weight: initial weight of the sense-frequency log prior.
    train_senses: update the sense table E (else only W, b, the prior weight
        and the tok2vec's mix learn).
    gloss_projection: score the gloss embeddings G (param "G", [nS, width],
        fixed) apart from E, through learned projections Pc (of the target)
        and Pg (of the gloss), [width, width] each (see the module doc).
    identity_l2: the weight of an L2 pull of W (and Pc, Pg) towards their
        initial values; 0 = none.

    Set the number of senses before initialize, `model.set_dim("nS", n)`;
    initialize makes E (and G) zeros: give them their rows after, with
    `model.set_param("E", E)` ([nS, width]).
    Output: one score per candidate, concatenated in input order.
    """
    params = {"W": None, "E": None, "b": None, "lam": None}
    if gloss_projection:
        params.update({"G": None, "Pc": None, "Pg": None})
    model = Model(
        "wsd_scorer",
        forward,
        init=init,
        layers=[tok2vec],
        dims={"nI": None, "nO": None, "nS": None},
        params=params,
        attrs={
            "scale": scale,
            "prior_weight": prior_weight,
            "train_senses": train_senses,
            "gloss_projection": gloss_projection,
            "identity_l2": identity_l2,
        },
    )
    model.set_ref("tok2vec", tok2vec)
    return model


def init(model: Model, X: Optional[WSDBatch] = None, Y=None) -> None:
    tok2vec = model.get_ref("tok2vec")
    tok2vec.initialize()
    width = tok2vec.get_dim("nO")
    model.set_dim("nI", width, force=True)
    model.set_dim("nO", width, force=True)
    n_senses = model.get_dim("nS")
    ops = model.ops
    model.set_param("W", ops.asarray2f(numpy.eye(width, dtype="f") * model.attrs["scale"]))
    model.set_param("E", ops.alloc2f(n_senses, width))
    model.set_param("b", ops.alloc1f(n_senses))
    model.set_param("lam", ops.asarray1f([model.attrs["prior_weight"]]))
    if model.attrs["gloss_projection"]:
        model.set_param("G", ops.alloc2f(n_senses, width))
        model.set_param("Pc", ops.asarray2f(numpy.eye(width, dtype="f") * model.attrs["scale"]))
        model.set_param("Pg", ops.asarray2f(numpy.eye(width, dtype="f")))


def initial_value(model: Model, name: str):
    """What init set a projection to (the target of the identity pull)."""
    scale = 1.0 if name == "Pg" else model.attrs["scale"]
    return model.ops.asarray2f(numpy.eye(model.get_dim("nO"), dtype="f") * scale)


def forward(model: Model, batch: WSDBatch, is_train: bool) -> Tuple[Floats1d, callable]:
    ops = model.ops
    xp = ops.xp
    W = model.get_param("W")  # [nO, nI]
    E = model.get_param("E")  # [nS, nO]
    b = model.get_param("b")  # [nS]
    lam = model.get_param("lam")  # [1]
    width = model.get_dim("nI")
    n_t = len(batch.targets)
    # All docs go through the tok2vec, even those without targets: a listener
    # matches the batch its upstream encoder sent by the docs it holds.
    H, bp_tok2vec = model.get_ref("tok2vec")(batch.docs, is_train)
    if n_t == 0:
        return ops.alloc1f(0), lambda d_scores: bp_tok2vec([ops.alloc2f(*h.shape) for h in H])
    X = ops.alloc2f(n_t, width)  # [n_targets, nI] span means
    for i, (d, start, end) in enumerate(batch.targets):
        X[i] = H[d][start:end].mean(axis=0)
    norms = xp.sqrt((X**2).sum(axis=1, keepdims=True)) + 1e-8  # [n_t, 1]
    Xn = X / norms
    Q = Xn @ W.T  # [n_t, nO]
    t_idx = ops.asarray1i(numpy.repeat(numpy.arange(n_t), batch.lengths))  # [n_c] target of each candidate
    rows = ops.asarray(batch.rows, dtype="i")
    prior = ops.asarray1f(batch.log_prior)
    Ec = E[rows] if batch.sense_rows is None else ops.asarray2f(batch.sense_rows)  # [n_c, nO]
    Qc = Q[t_idx]  # [n_c, nO]
    scores = (Qc * Ec).sum(axis=1) + b[rows] + lam[0] * prior
    projected = model.attrs["gloss_projection"]
    if projected:
        Pc, Pg = model.get_param("Pc"), model.get_param("Pg")  # [k, nI], [k, nO]
        Gc = model.get_param("G")[rows]  # [n_c, nO]
        Qg = Xn @ Pc.T  # [n_t, k]
        Gp = Gc @ Pg.T  # [n_c, k]
        Qgc = Qg[t_idx]  # [n_c, k]
        scores = scores + (Qgc * Gp).sum(axis=1)

    def backprop(d_scores: Floats1d) -> List[Doc]:
        d_scores = ops.asarray1f(d_scores)
        if model.attrs["train_senses"] and batch.sense_rows is None:
            dE = xp.zeros_like(E)
            xp.add.at(dE, rows, d_scores[:, None] * Qc)
            model.inc_grad("E", dE)
        db = xp.zeros_like(b)
        xp.add.at(db, rows, d_scores)
        model.inc_grad("b", db)
        model.inc_grad("lam", ops.asarray1f([float((d_scores * prior).sum())]))
        dQ = xp.zeros_like(Q)
        xp.add.at(dQ, t_idx, d_scores[:, None] * Ec)
        model.inc_grad("W", dQ.T @ Xn)
        dXn = dQ @ W  # [n_t, nI]
        if projected:
            dQg = xp.zeros_like(Qg)
            xp.add.at(dQg, t_idx, d_scores[:, None] * Gp)
            model.inc_grad("Pc", dQg.T @ Xn)
            model.inc_grad("Pg", (d_scores[:, None] * Qgc).T @ Gc)
            dXn += dQg @ Pc
        pull = model.attrs["identity_l2"]
        if pull:
            for name in ("W", "Pc", "Pg") if projected else ("W",):
                model.inc_grad(name, pull * (model.get_param(name) - initial_value(model, name)))
        dX = (dXn - Xn * (dXn * Xn).sum(axis=1, keepdims=True)) / norms
        dH = [ops.alloc2f(*h.shape) for h in H]
        for i, (d, start, end) in enumerate(batch.targets):
            dH[d][start:end] += dX[i] / (end - start)
        return bp_tok2vec(dH)

    return scores, backprop


def segment_softmax(ops: Ops, scores: Floats1d, lengths: Ints1d) -> Floats1d:
    """Softmax within each consecutive segment of ``lengths`` scores (each
    target's candidates). Segments must not be empty."""
    lengths = ops.asarray1i(lengths)
    maxes = ops.reduce_max(ops.reshape2f(scores, -1, 1), lengths)[0]  # [n_segments, 1]
    exp = ops.xp.exp(scores - repeat_segments(ops, maxes, lengths))  # [n_scores]
    sums = ops.reduce_sum(ops.reshape2f(exp, -1, 1), lengths)  # [n_segments, 1]
    return exp / repeat_segments(ops, sums, lengths)


def repeat_segments(ops: Ops, values: Floats2d, lengths: Ints1d) -> Floats1d:
    """[n_segments, 1] -> [sum(lengths)]: each segment's value on each of its
    rows (thinc's backprop of a segment sum does exactly that, on any device)."""
    return ops.backprop_reduce_sum(values, ops.asarray1i(lengths))[:, 0]
