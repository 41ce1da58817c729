"""Helpers shared by the CLI commands."""
from contextlib import contextmanager
from typing import Iterator, List, Optional, Union

from wasabi import msg

from ..errors import SpacyCtxError


def parse_layers(layers: Optional[str]) -> Union[str, List[int], None]:
    """The --layers option as the library takes it: '0,6' / '-1' -> [0, 6] /
    [-1], 'all' -> "all", empty or None -> None. The library checks them
    against the encoder."""
    if layers is None or not layers.strip():
        return None
    if layers.strip() == "all":
        return "all"
    return [int(x) for x in layers.split(",") if x.strip()]


@contextmanager
def user_errors() -> Iterator[None]:
    """Show spacy-ctx's own errors (SpacyCtxError: bad data, bad settings) as
    a clean message and exit code 1; let any other error raise with its
    traceback."""
    try:
        yield
    except SpacyCtxError as err:
        msg.fail(str(err), exits=1)
