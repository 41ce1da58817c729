"""Looking inside the encoder: linear probes per layer, anisotropy measures
and the post-hoc corrections (normalizers) the ctx_encoder can apply.

Modules: `features` (read corpora, collect every layer's vectors),
`probing`, `anisotropy`, `polysemy`, `normalizers`, `similarity` (STS-B and
word-similarity scoring), `static` (static vectors distilled from contextual
ones), `report` (JSON, Markdown and PNG) and `plots`. The CLI commands
`probe`, `anisotropy`, `fit-normalizer`, `similarity` and `distill-static`
are thin shells over them.

Only the Normalizer is imported here: a saved pipeline loads it, and it
should not pay for importing scikit-learn.
"""
from ..models.normalizer import METHODS, Normalizer

__all__ = ["METHODS", "Normalizer"]
