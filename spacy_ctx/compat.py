"""Optional dependencies: import them on use, and say which extra to install."""
import importlib
from types import ModuleType

from .errors import Errors, SpacyCtxError


def require(module: str, extra: str, feature: str = "") -> ModuleType:
    """Import an optional dependency, or fail with the pip command that
    installs it: `pip install 'spacy-ctx[extra]'`.

    module: the import name ("ray", "pyarrow.parquet").
    extra: the spacy-ctx extra that provides it ("ray", "embed").
    feature: what needs it, for the message ("--ray"); default: the module.
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise SpacyCtxError(
            Errors.E070.format(
                feature=feature or module, module=module.split(".")[0], extra=extra, err=err
            )
        ) from None
