"""spacy-ctx: contextual token embeddings for spaCy.

Importing the package registers the ctx_* extensions. Components and
architectures are found through entry points, so `spacy.load` and
`spacy train` need no `--code`.
"""
from .extensions import register_extensions, restore_doc, set_vector_hooks
from .embed.writers import read_docbin
from .models.listener import CtxListener, build_ctx_listener_v1
from .models.elmo import build_elmo_encoder_v1
from .models.scalar_mix import build_scalar_mix_v1
from .models.transformer import build_transformer_encoder_v1
from .models.types import LayerRequest
from .pipeline.encoder import CtxEncoder

__version__ = "0.1.0"

__all__ = [
    "CtxEncoder",
    "CtxListener",
    "LayerRequest",
    "build_ctx_listener_v1",
    "build_scalar_mix_v1",
    "build_elmo_encoder_v1",
    "build_transformer_encoder_v1",
    "read_docbin",
    "register_extensions",
    "restore_doc",
    "set_vector_hooks",
]
