"""Render contextual vectors in displaCy's style: `render` returns HTML (and
shows it inline in Jupyter), `serve` serves it on a local web server.

Styles and their options:

- "layers": one word across docs; per layer and for the mix, the cosine
  between its occurrences as a chart with the random-pair baseline (same-
  and cross-sense means when the pipeline has ctx_wsd), and as tables,
  raw and with the pipeline's normalizer.
  Options: "target" (the word, required), "nlp" (for ctx_wsd's senses and
  the normalizer).
- "sensemap": one word's occurrences projected to 2-D per layer (PCA), with
  a layer slider, coloured by ctx_wsd's senses (else k-means clusters), and
  how well they separate per layer (`sensemap` module). Options: "target"
  (required), "nlp" (for ctx_wsd), "corpus" (an embedded corpus: its
  occurrences too), "limit" (500 occurrences at most).
- "tokens": a token x layer grid of each token's cosine to one token.
  Options: "query" ((doc index, token index), required).
- "mix": every head's learned scalar-mix weights. Options: "nlp" (required);
  docs are not read.
- "senses": ctx_wsd's senses with gloss, score and runner-up. Options: "nlp"
  (required, with a ctx_wsd).
- "neighbors": a token's nearest neighbours in a corpus written by `embed`.
  Options: "query" (required), "corpus" (a path or an `EmbeddedCorpus`,
  required), "k" (5), "threshold" (see `neighbors.DEFAULT_THRESHOLD`).

The numbers come from `views` and `sensemap` (numpy); `html` escapes all
text. Charts are SVG drawn by static/charts.js, inlined in the HTML that
`render` returns (so the slider works in Jupyter and in a saved page).
"""
from typing import Any, Dict, Iterable, Optional, Union

from spacy.tokens import Doc
from spacy.util import is_in_jupyter

from ..errors import Errors, SpacyCtxError
from ..pipeline.loading import find_encoder
from .html import fragment_html, page_html, view_html
from .neighbors import DEFAULT_THRESHOLD, EmbeddedCorpus, neighbors_view
from .sensemap import MAX_POINTS, sensemap_view
from .views import View, layers_view, mix_view, occurrence_senses, senses_view, tokens_view

STYLES = ("layers", "sensemap", "tokens", "mix", "senses", "neighbors")

__all__ = ["STYLES", "EmbeddedCorpus", "compute", "render", "serve"]


def compute(docs: Union[Doc, Iterable[Doc]], style: str = "layers", options: Optional[Dict[str, Any]] = None) -> View:
    """The numbers of a style for docs (see the module doc for the options)."""
    docs = [docs] if isinstance(docs, Doc) else list(docs or [])
    options = dict(options or {})
    if style not in STYLES:
        raise SpacyCtxError(Errors.E509.format(style=style, options=", ".join(STYLES)))
    if style == "layers":
        nlp = options.get("nlp")
        target = _option(options, style, "target", "the word to follow")
        senses = occurrence_senses(nlp, docs, target) if nlp else None
        return layers_view(docs, target, find_encoder(nlp) if nlp else None, senses)
    if style == "sensemap":
        corpus = options.get("corpus")
        if corpus is not None and not isinstance(corpus, EmbeddedCorpus):
            corpus = EmbeddedCorpus(corpus, options.get("threshold", DEFAULT_THRESHOLD))
        target = _option(options, style, "target", "the word to map")
        return sensemap_view(docs, target, options.get("nlp"), corpus, int(options.get("limit", MAX_POINTS)))
    if style == "tokens":
        return tokens_view(docs, _option(options, style, "query", "(doc index, token index)"))
    if style == "mix":
        return mix_view(_option(options, style, "nlp", "the trained pipeline"))
    if style == "senses":
        return senses_view(_option(options, style, "nlp", "the pipeline with ctx_wsd"), docs)
    corpus = _option(options, style, "corpus", "the Parquet output of `python -m spacy_ctx embed`")
    if not isinstance(corpus, EmbeddedCorpus):
        corpus = EmbeddedCorpus(corpus, options.get("threshold", DEFAULT_THRESHOLD))
    query = _option(options, style, "query", "(doc index, token index)")
    return neighbors_view(corpus, docs, query, int(options.get("k", 5)))


def _option(options: Dict[str, Any], style: str, name: str, what: str) -> Any:
    if options.get(name) is None:
        raise SpacyCtxError(Errors.E510.format(style=style, option=name, what=what))
    return options[name]


def render(
    docs: Union[Doc, Iterable[Doc]],
    style: str = "layers",
    options: Optional[Dict[str, Any]] = None,
    page: bool = False,
    jupyter: Optional[bool] = None,
) -> Optional[str]:
    """Render a style as HTML, like `spacy.displacy.render`.

    docs: a Doc or Docs encoded by a pipeline with a ctx_encoder.
    style: one of STYLES; options: that style's options (module doc).
    page: a whole HTML page, not a fragment.
    jupyter: show the result inline in Jupyter (None: when running in one);
        then, as in displaCy, nothing is returned.
    """
    html = view_html(compute(docs, style, options))
    html = page_html(html, f"spacy-ctx {style}") if page else fragment_html(html)
    if jupyter or (jupyter is None and is_in_jupyter()):
        from IPython.display import HTML, display

        return display(HTML(html))
    return html


def serve(
    docs: Union[Doc, Iterable[Doc]],
    style: str = "layers",
    options: Optional[Dict[str, Any]] = None,
    port: int = 5000,
    host: str = "127.0.0.1",
    allow_hosts: Iterable[str] = (),
) -> None:
    """Render a style as a page and serve it at http://host:port until
    interrupted, like `spacy.displacy.serve` (but bound to this machine
    unless `host` says otherwise; binding 0.0.0.0 needs the names it
    answers in `allow_hosts`, as the explorer does)."""
    from .server import serve_page

    html = render(docs, style, options, page=True, jupyter=False)
    serve_page(html, host=host, port=port, style=style, allow_hosts=allow_hosts)
