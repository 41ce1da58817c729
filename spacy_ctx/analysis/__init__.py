"""Looking inside the encoder: linear probes per layer, anisotropy measures
and the post-hoc corrections (normalizers) the ctx_encoder can apply.

Modules: `features` (read corpora, collect every layer's vectors),
`probing`, `anisotropy`, `polysemy`, `normalizers`, `report` (Markdown
tables) and `plots` (PNG). The CLI commands `probe`, `anisotropy` and
`fit-normalizer` are thin shells over them.

Only the Normalizer is imported here: a saved pipeline loads it, and it
should not pay for importing scikit-learn.
"""
from ..models.normalizer import METHODS, Normalizer

__all__ = ["METHODS", "Normalizer"]
