"""The numbers behind each style, computed with numpy from what a pipeline stored.

A view is a list of `Panel`s: a grid of numbers (a heatmap or bars) or a
table, and of figures: the data of a chart (a dict with its "kind", drawn
in SVG by static/charts.js). `html.py` renders panels for `render`, and the
explorer sends them as JSON to its page, so both show the numbers computed here.
"""
from dataclasses import asdict, dataclass, field
from itertools import combinations
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy
from spacy.language import Language
from spacy.tokens import Doc

from ..errors import Errors, SpacyCtxError
from ..models.listener import CtxListener
from ..models.scalar_mix import mixed_layers
from ..normalizer import unit_rows
from ..pipeline.encoder import CtxEncoder
from ..pipeline.loading import find_encoder
from ..pipeline.wsd import CtxWSD
from ..senses.wordnet import get_inventory
from ..util import MIX_KEY, layer_key

# (doc index, token index): one token occurrence among the docs of a view.
TokenRef = Tuple[int, int]


@dataclass
class Panel:
    """One figure: `values[r][c]` for row label `rows[r]` and column label
    `cols[c]`. kind "heatmap" and "bars" hold floats; "table" holds text
    or floats."""

    title: str
    kind: str
    rows: List[str]
    cols: List[str]
    values: List[List[Any]]


@dataclass
class View:
    """What one style shows: its figures (charts, drawn above the panels),
    its panels, and notes (messages from `Errors`) on what it could not show."""

    style: str
    title: str
    panels: List[Panel] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    figures: List[Dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> Dict[str, Any]:
        """As JSON takes it: a number that is not finite becomes None."""
        return json_safe(asdict(self))


def json_safe(value: Any) -> Any:
    """`value` with every NaN or infinite float replaced by None (JSON has neither)."""
    if isinstance(value, float) and not numpy.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def cosine_matrix(A: numpy.ndarray, B: numpy.ndarray) -> numpy.ndarray:
    """Cosine of every row of A with every row of B, in float64 ([len(A), len(B)]);
    a zero row has cosine 0 with everything."""
    return unit_rows(A) @ unit_rows(B).T


def token_label(doc: Doc, i: int, d: Optional[int] = None, window: int = 3) -> str:
    """"d:i left [token] right": a token in a few words of its context."""
    left = " ".join(t.text for t in doc[max(0, i - window) : i])
    right = " ".join(t.text for t in doc[i + 1 : i + 1 + window])
    where = f"{d}:{i}" if d is not None else str(i)
    return " ".join(part for part in (where, left, f"[{doc[i].text}]", right) if part)


def check_token(docs: Sequence[Doc], ref: TokenRef) -> TokenRef:
    """`ref` as ints, or E503/E504 when the docs have no such token."""
    d, i = int(ref[0]), int(ref[1])
    if not 0 <= d < len(docs):
        raise SpacyCtxError(Errors.E503.format(doc=d, n=_count(len(docs), "is 1 doc", "are {n} docs")))
    if not 0 <= i < len(docs[d]):
        raise SpacyCtxError(Errors.E504.format(token=i, doc=d, n=len(docs[d])))
    return d, i


def _count(n: int, one: str, many: str) -> str:
    return one if n == 1 else many.format(n=n)


def stored_layers(docs: Sequence[Doc]) -> List[int]:
    """The layers every doc stores (E511 without any, E512 when they differ)."""
    ids = [list(doc._.ctx_layer_ids or []) for doc in docs if len(doc)]
    if not ids or not ids[0] or any(doc._.ctx_layers is None for doc in docs if len(doc)):
        raise SpacyCtxError(Errors.E511)
    for other in ids[1:]:
        if other != ids[0]:
            raise SpacyCtxError(Errors.E512.format(a=ids[0], b=other))
    return ids[0]


def token_vectors(docs: Sequence[Doc], refs: Sequence[TokenRef]) -> Dict[str, numpy.ndarray]:
    """The vectors of tokens by key ("layer<i>" for each stored layer, then
    "mix" from doc.tensor): [len(refs), width] each."""
    layers = stored_layers(docs)
    out = {
        layer_key(layer): numpy.stack([docs[d]._.ctx_layers[k, i] for d, i in refs])
        for k, layer in enumerate(layers)
    }
    out[MIX_KEY] = numpy.stack([docs[d].tensor[i] for d, i in refs])
    return out


def key_title(key: str) -> str:
    """"layer3" -> "layer 3"; "mix" -> "mix (doc.tensor)"."""
    return "mix (doc.tensor)" if key == MIX_KEY else key.replace("layer", "layer ")


def occurrences(docs: Sequence[Doc], target: str) -> List[TokenRef]:
    """Every token of the docs whose lower-cased text is `target`'s (E505 if none)."""
    refs = [(d, t.i) for d, doc in enumerate(docs) for t in doc if t.lower_ == target.lower()]
    if not refs:
        raise SpacyCtxError(Errors.E505.format(target=target))
    return refs


def random_pair_cosine(docs: Sequence[Doc], skip: Sequence[TokenRef], key: str) -> float:
    """The mean cosine of two tokens from different docs (from one doc when
    there is one), punctuation and the `skip` tokens left out: the cosine
    that two unrelated tokens have in this layer (Ethayarajh 2019), which
    an anisotropic layer puts well above 0. Every such pair counts once."""
    skip = set(skip)
    sums, sizes = [], []
    for d, doc in enumerate(docs):
        refs = [(d, t.i) for t in doc if not t.is_punct and (d, t.i) not in skip]
        if refs:
            U = unit_rows(token_vectors(docs, refs)[key])
            sums.append(U.sum(axis=0))
            sizes.append(len(refs))
    if not sizes:
        return float("nan")
    if len(sizes) == 1:  # pairs within the one doc
        n = sizes[0]
        return float((sums[0] @ sums[0] - n) / (n * (n - 1))) if n > 1 else float("nan")
    total = numpy.sum(sums, axis=0)
    cross = (total @ total - sum(v @ v for v in sums)) / 2
    return float(cross / sum(a * b for a, b in combinations(sizes, 2)))


def _pair_series(
    cos: Dict[str, numpy.ndarray],
    labels: Optional[Sequence[int]],
    pairs: List[Tuple[int, int]],
    names: List[str],
    what: str,
    max_lines: int = 10,
) -> List[Tuple[str, str, List[float]]]:
    """(name, role, value per key): same-label and cross-label means when
    `labels` split the pairs both ways, else one line per pair (up to
    `max_lines`), else the mean over all pairs."""
    keys = list(cos)
    if labels is not None:
        same = [(a, b) for a, b in pairs if labels[a] >= 0 and labels[a] == labels[b]]
        diff = [(a, b) for a, b in pairs if labels[a] >= 0 and labels[b] >= 0 and labels[a] != labels[b]]
        if same and diff:
            return [
                (f"same {what} (mean of {len(same)} pairs)", "same", [float(numpy.mean([cos[k][a, b] for a, b in same])) for k in keys]),
                (f"different {what}s (mean of {len(diff)} pairs)", "cross", [float(numpy.mean([cos[k][a, b] for a, b in diff])) for k in keys]),
            ]
    if len(pairs) <= max_lines:
        return [(f"{names[a]} ~ {names[b]}", "pair", [float(cos[k][a, b]) for k in keys]) for a, b in pairs]
    return [(f"mean of {len(pairs)} pairs", "pair", [float(numpy.mean([cos[k][a, b] for a, b in pairs])) for k in keys])]


def layers_view(
    docs: Sequence[Doc],
    target: str,
    encoder: Optional[CtxEncoder] = None,
    senses: Optional[Sequence[Optional[str]]] = None,
) -> View:
    """For one word across docs: per layer and for the mix, the cosine
    between its occurrences, as one chart over the layers with the
    random-pair baseline (`random_pair_cosine`), and as tables under it.

    With `senses` (one per occurrence, None for none: ctx_wsd's), the chart
    shows the same-sense and cross-sense means; else a line per pair of
    occurrences, up to 10 pairs. The table has every pair (up to 45). When
    `encoder` has a fitted normalizer with a key, a second table gives the
    corrected cosines; when its `normalize` is on, doc.tensor is already
    corrected, and the mix's column says so."""
    refs = occurrences(docs, target)
    names = [token_label(docs[d], i, d, window=1) for d, i in refs]
    normalizer = encoder.normalizer if encoder is not None else None
    corrected_mix = encoder is not None and normalizer is not None and bool(encoder.cfg["normalize"])
    vectors = token_vectors(docs, refs)
    keys = list(vectors)
    cols = [key_title(key) + (", corrected" if key == MIX_KEY and corrected_mix else "") for key in keys]
    cos = {key: cosine_matrix(X, X) for key, X in vectors.items()}
    pairs = list(combinations(range(len(refs)), 2))
    labels = None
    if senses is not None and any(s is not None for s in senses):
        known = sorted({s for s in senses if s is not None})
        labels = [known.index(s) if s is not None else -1 for s in senses]
    series = _pair_series(cos, labels, pairs, names, "sense")
    baseline = [random_pair_cosine(docs, refs, key) for key in keys]
    series.append(("random pair (baseline)", "baseline", baseline))
    view = View("layers", f"'{target}' across the docs: cosine between its occurrences, per layer")
    view.figures.append({
        "kind": "lines",
        "title": f"cosine between occurrences of '{target}'",
        "x": cols,
        "y_label": "cosine",
        "series": [{"name": name, "role": role, "values": values} for name, role, values in series],
    })
    rows = [name for name, _, _ in series]
    values = [list(v) for _, _, v in series]
    if len(pairs) <= 45 and any(role != "pair" for _, role, _ in series[:-1]):
        rows += [f"{names[a]} ~ {names[b]}" for a, b in pairs]
        values += [[float(cos[k][a, b]) for k in keys] for a, b in pairs]
    view.panels.append(Panel("cosine per layer (the chart's numbers)", "table", rows, cols, values))
    fixable = [key for key in keys if normalizer is not None and key in normalizer.keys and not (key == MIX_KEY and corrected_mix)]
    if fixable and len(pairs) <= 45:
        fixed = {key: cosine_matrix(*[normalizer.transform(vectors[key], key)] * 2) for key in fixable}
        view.panels.append(Panel(
            f"corrected with the pipeline's normalizer ({normalizer.method})", "table",
            [f"{names[a]} ~ {names[b]}" for a, b in pairs], [key_title(key) for key in fixable],
            [[float(fixed[k][a, b]) for k in fixable] for a, b in pairs],
        ))
    return view


def tokens_view(docs: Sequence[Doc], query: TokenRef) -> View:
    """Per doc, a token x layer grid: each token's cosine to the query token
    at that layer (and in the mix), to show where context enters."""
    qd, qi = check_token(docs, query)
    q = token_vectors(docs, [(qd, qi)])
    view = View("tokens", f"cosine to {token_label(docs[qd], qi, qd)}, per layer")
    cols = [key_title(key) for key in q]
    for d, doc in enumerate(docs):
        if not len(doc):
            continue
        X = token_vectors(docs, [(d, i) for i in range(len(doc))])
        columns = [cosine_matrix(X[key], q[key])[:, 0] for key in q]
        rows = [f"{i} {t.text}" for i, t in enumerate(doc)]
        view.panels.append(Panel(f"doc {d}: {doc.text}", "heatmap", rows, cols, numpy.stack(columns, 1).tolist()))
    return view


def softmax(x: numpy.ndarray) -> numpy.ndarray:
    x = numpy.asarray(x, dtype="float64")
    e = numpy.exp(x - x.max())
    return e / e.sum()


def mix_weights(mix) -> Optional[Tuple[List[float], float]]:
    """A scalar mix's softmaxed weights and its gamma, or None before it is initialised."""
    if mix.has_param("weights") is not True:
        return None
    weights = softmax(mix.ops.to_numpy(mix.get_param("weights")))
    return weights.tolist(), float(mix.ops.to_numpy(mix.get_param("gamma"))[0])


def mix_view(nlp: Language) -> View:
    """The learned scalar-mix weights of every head's CtxListener, as bars
    per encoder layer, after the ctx_encoder's own inference mix (E507 as a
    note when no head has an initialised listener)."""
    encoder = find_encoder(nlp)
    view = View("mix", "scalar-mix weights (softmax) per encoder layer")
    own = mix_weights(encoder.mix)
    if own is not None:
        weights, gamma = own
        layers = mixed_layers(encoder.mix)
        view.panels.append(_bars(f"{encoder.name} (inference mix), gamma {gamma:.3f}", encoder.name, layers, weights))
    n_heads = 0
    for name, component in nlp.pipeline:
        model = getattr(component, "model", None)
        if component is encoder or model is None or not hasattr(model, "walk"):
            continue
        listeners = [node for node in model.walk() if isinstance(node, CtxListener)]
        for k, listener in enumerate(listeners):
            learned = mix_weights(listener.get_ref("mix")) if listener.is_connected else None
            if learned is None:
                continue
            weights, gamma = learned
            label = name if len(listeners) == 1 else f"{name} #{k}"
            view.panels.append(_bars(f"{label}, gamma {gamma:.3f}", label, listener.selected, weights))
            n_heads += 1
    if not n_heads:
        view.notes.append(Errors.E507)
    return view


def _bars(title: str, label: str, layers: Sequence[int], weights: Sequence[float]) -> Panel:
    return Panel(title, "bars", [label], [key_title(layer_key(layer)) for layer in layers], [list(weights)])


SENSE_COLUMNS = ["sense", "gloss", "score", "runner-up", "runner-up gloss", "runner-up score"]


def find_wsd(nlp: Language) -> CtxWSD:
    """The pipeline's ctx_wsd component (E506 without one)."""
    for _, component in nlp.pipeline:
        if isinstance(component, CtxWSD):
            return component
    raise SpacyCtxError(Errors.E506.format(components=nlp.pipe_names))


def occurrence_senses(nlp: Language, docs: Sequence[Doc], target: str) -> Optional[List[Optional[str]]]:
    """ctx_wsd's sense (token._.sense, None for none) of each occurrence of
    `target`, or None when the pipeline has no ctx_wsd."""
    if not any(isinstance(component, CtxWSD) for _, component in nlp.pipeline):
        return None
    return [docs[d][i]._.sense for d, i in occurrences(docs, target)]


def senses_view(nlp: Language, docs: Sequence[Doc]) -> View:
    """ctx_wsd's sense of every target with its gloss and probability, and
    the runner-up (`CtxWSD.rank`). Glosses come from WordNet when it can be
    read here (a trained pipeline predicts without it); else they are empty."""
    wsd = find_wsd(nlp)
    gloss = gloss_reader(wsd)
    view = View("senses", f"{wsd.name}: predicted senses and runners-up")
    rows, values = [], []
    for d, ranked in enumerate(wsd.rank(docs)):
        for r in ranked:
            second = (r.keys[1], gloss(r.keys[1]), r.scores[1]) if len(r.keys) > 1 else ("", "", "")
            rows.append(token_label(docs[d], r.target.start, d))
            values.append([r.keys[0], gloss(r.keys[0]), r.scores[0], *second])
    if rows:
        view.panels.append(Panel("senses", "table", rows, list(SENSE_COLUMNS), values))
    else:
        view.notes.append(Errors.E518)
    return view


def gloss_reader(wsd: CtxWSD):
    try:
        wordnet = get_inventory(wsd.cfg["wordnet_path"] or None)
    except (SpacyCtxError, ImportError, LookupError, OSError):
        return lambda key: ""
    return wordnet.gloss
