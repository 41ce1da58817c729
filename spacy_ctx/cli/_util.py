"""Helpers shared by the CLI commands."""
from contextlib import contextmanager
from typing import Iterator, List, Optional

from wasabi import msg

from ..errors import SpacyCtxError
from ..util import load_pipeline, normalize_layers  # noqa: F401 (the commands' loader)


def parse_layers(layers: Optional[str], n_layers: int) -> List[int]:
    """'0,6' / '-1' / 'all' / None -> checked positive layer indices."""
    if layers is None or not layers.strip():
        return []
    if layers.strip() == "all":
        return list(range(n_layers))
    return normalize_layers([int(x) for x in layers.split(",")], n_layers, "--layers")


@contextmanager
def user_errors() -> Iterator[None]:
    """Show spacy-ctx's own errors (SpacyCtxError: bad data, bad settings) as
    a clean message and exit code 1; let any other error raise with its
    traceback."""
    try:
        yield
    except SpacyCtxError as err:
        msg.fail(str(err), exits=1)
