"""Deprecated location: the Normalizer is runtime state of the ctx_encoder
and lives in `spacy_ctx.models.normalizer`. These names stay importable."""
from ..models.normalizer import FORMAT_VERSION, METHODS, Normalizer

__all__ = ["FORMAT_VERSION", "METHODS", "Normalizer"]
