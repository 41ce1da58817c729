"""Command-line interface: `python -m spacy_ctx COMMAND`.

Each command lives in its own module in this package and registers itself
on the shared app; every module here is imported, so adding a command is
adding a file.
"""
import importlib
import pkgutil

from ._app import app

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["app"]
