"""Deprecated location of `spacy_ctx.pretraining.elmo`; the names stay importable."""
from .pretraining.elmo import *  # noqa: F401,F403
