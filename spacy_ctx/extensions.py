"""Doc, Span and Token extensions, and the hooks that make vectors contextual.

Storage, per Doc (it survives pickling and `DocBin(store_user_data=True)`):
- `doc._.ctx_layers`: [n_stored_layers, n_tokens, width], float32 or float16;
- `doc._.ctx_layer_ids`: which encoder layers those are;
- `doc.tensor`: the encoder's scalar mix, [n_tokens, width], float32: the
  sentence-level mix, which doc and span vectors read;
- `doc._.ctx_token_mix`: the token mix, [n_tokens, width], float32, which
  token vectors read (None on docs annotated before it existed: token
  vectors then read `doc.tensor`).

Everything else is a view computed from those. DocBin does not store
`doc.tensor`: `spacy_ctx.embed.writers.DocBinWriter` copies the mix into `doc._.ctx_mix`
first, and `restore_doc` (used by `spacy_ctx.embed.writers.read_docbin`) puts it back.
"""
import numpy
from spacy.tokens import Doc, Span, Token

from .errors import Errors, SpacyCtxError


def _doc_vector(doc: Doc):
    return _mean_rows(doc.tensor, len(doc))


def _span_layers(span: Span):
    layers = span.doc._.ctx_layers
    return None if layers is None else layers[:, span.start : span.end]


def _span_vector(span: Span):
    return _mean_rows(span.doc.tensor[span.start : span.end], len(span))


def _token_layers(token: Token):
    layers = token.doc._.ctx_layers
    return None if layers is None else layers[:, token.i]


def _token_rows(doc: Doc):
    """What token vectors read: the token mix, or doc.tensor without one."""
    rows = doc._.ctx_token_mix
    return doc.tensor if rows is None else rows


def _token_vector(token: Token):
    rows = _token_rows(token.doc)
    return rows[token.i] if rows.size else None


def _mean_rows(rows, n: int):
    if not rows.size:
        return None
    if n == 0:
        return numpy.zeros(rows.shape[-1], dtype="float32")
    return rows.mean(axis=0)


def register_extensions(force: bool = False) -> None:
    """Register the ctx_* extensions. Called on import of spacy_ctx."""
    Doc.set_extension("ctx_layers", default=None, force=force)
    Doc.set_extension("ctx_layer_ids", default=None, force=force)
    Doc.set_extension("ctx_mix", default=None, force=force)
    Doc.set_extension("ctx_token_mix", default=None, force=force)
    Doc.set_extension("ctx_vector", getter=_doc_vector, force=force)
    Span.set_extension("ctx_layers", getter=_span_layers, force=force)
    Span.set_extension("ctx_vector", getter=_span_vector, force=force)
    Token.set_extension("ctx_layers", getter=_token_layers, force=force)
    Token.set_extension("ctx_vector", getter=_token_vector, force=force)


# The user hooks route .vector, .vector_norm, .has_vector and .similarity
# through the mixes even when the vocab has static vectors: tokens read the
# token mix, docs and spans (sentences are spans) the sentence mix in
# doc.tensor. They are module-level functions so that a Doc carrying them can
# still be pickled.


def _require_tensor(doc: Doc) -> None:
    if not doc.tensor.size and len(doc):
        raise SpacyCtxError(Errors.E008)


def _vector_of(obj) -> numpy.ndarray:
    doc = obj if isinstance(obj, Doc) else obj.doc
    _require_tensor(doc)
    if isinstance(obj, Token):
        return _token_rows(doc)[obj.i]
    rows = doc.tensor if isinstance(obj, Doc) else doc.tensor[obj.start : obj.end]
    if not len(rows):
        return numpy.zeros(doc.tensor.shape[-1] if doc.tensor.ndim == 2 else 0, "f")
    return rows.mean(axis=0)


def _vector_norm(obj) -> float:
    return float(numpy.sqrt((_vector_of(obj) ** 2).sum()))


def _has_vector(obj) -> bool:
    if isinstance(obj, Token):
        return bool(_token_rows(obj.doc).size)
    doc = obj if isinstance(obj, Doc) else obj.doc
    return bool(doc.tensor.size)


def _similarity(obj, other) -> float:
    """Cosine similarity of contextual vectors; 0.0 when either is all zeros."""
    a = _vector_of(obj)
    # The other side uses its own hooks, or spaCy's fallback when it comes
    # from a pipeline without ctx_encoder.
    b = other.vector
    # spaCy's own GPU components leave cupy arrays in doc.tensor.
    b = numpy.asarray(b.get() if hasattr(b, "get") else b)
    norm = float(numpy.linalg.norm(a) * numpy.linalg.norm(b))
    return float(numpy.dot(a, b) / norm) if norm else 0.0


def restore_doc(doc: Doc) -> Doc:
    """Bring back the mix and vector hooks of a doc read from a DocBin that
    `spacy_ctx.embed.writers.DocBinWriter` wrote (it keeps the mix in doc._.ctx_mix)."""
    mix = doc._.ctx_mix
    if mix is not None:
        doc.tensor = numpy.asarray(mix, dtype="float32")
        doc._.ctx_mix = None
        set_vector_hooks(doc)
    return doc


def set_vector_hooks(doc: Doc) -> None:
    """Make `.vector`, `.vector_norm`, `.has_vector` and `.similarity()` of the
    doc and its spans use the contextual mix in `doc.tensor`, and those of its
    tokens the token mix in `doc._.ctx_token_mix` (`doc.tensor` without one).

    The ctx_encoder calls this on every doc it annotates. Hooks are not stored
    by DocBin or `Doc.to_bytes`: call it again after loading such docs if the
    vocab has static vectors (without static vectors spaCy already falls back
    to `doc.tensor`).
    """
    for hooks in (doc.user_hooks, doc.user_span_hooks, doc.user_token_hooks):
        hooks["vector"] = _vector_of
        hooks["vector_norm"] = _vector_norm
        hooks["has_vector"] = _has_vector
        hooks["similarity"] = _similarity
