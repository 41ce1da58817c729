"""Fine-tuning the encoder with spaCy's one optimizer: discriminative
learning rates (`spacy_ctx.DiscriminativeAdam.v1`) and gradual unfreezing
(`spacy_ctx.gradual_unfreezing.v1`)."""
from .depths import encoder_depths, register_encoder
from .optimizer import DiscriminativeOptimizer, create_discriminative_adam_v1
from .unfreezing import create_gradual_unfreezing_v1

__all__ = [
    "DiscriminativeOptimizer",
    "create_discriminative_adam_v1",
    "create_gradual_unfreezing_v1",
    "encoder_depths",
    "register_encoder",
]
