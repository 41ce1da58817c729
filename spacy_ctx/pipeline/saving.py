"""Saving and loading the ctx_encoder: its cfg, the encoder model, the
inference mix and the normalizer."""
from pathlib import Path
from typing import Callable, Dict, Optional, Union

import srsly
from spacy import util
from thinc.api import Model

from ..normalizer import Normalizer
from ..util import normalize_layers
from .frozen_cache import FrozenCache

# The mix's settings that define its parameters: when one in the config
# differs from the saved mix's, the mix starts anew from the config.
MIX_PARAM_SETTINGS = ("layers", "initial_weights", "initial_gamma")


class SavedEncoder:
    """`to_bytes` / `from_bytes` / `to_disk` / `from_disk` of the ctx_encoder.

    A subclass has `cfg`, `model`, `mix`, `normalizer` and `frozen_cache`, and
    implements `load_model` and `_bind`, which loading the encoder's weights
    calls to bind the component to them.

    The pipeline's config.cfg built the component and stays the source of
    truth (a user may edit it, or override it in `spacy.load(path,
    config=...)`): the saved cfg only fills gaps, and the saved mix brings
    back its weights only where the config's mix settings are the saved ones.
    """

    cfg: Dict
    model: Model
    mix: Model
    normalizer: Optional[Normalizer]
    frozen_cache: FrozenCache
    _loaded: bool

    def load_model(self) -> None:
        raise NotImplementedError

    def _bind(self) -> None:
        raise NotImplementedError

    def to_bytes(self, *, exclude=tuple()) -> bytes:
        self.load_model()
        serialize = {
            "cfg": lambda: srsly.json_dumps(self.cfg),
            "model": lambda: self.model.to_bytes(),
            "mix": lambda: self.mix.to_bytes(),
            "normalizer": lambda: self.normalizer.to_bytes() if self.normalizer else b"",
        }
        return util.to_bytes(serialize, exclude)

    def from_bytes(self, bytes_data: bytes, *, exclude=tuple()) -> "SavedEncoder":
        deserialize = {
            "cfg": lambda b: self._merge_cfg(srsly.json_loads(b)),
            "model": self._load_model_bytes,
            "mix": lambda b: self._load_mix(lambda: self.mix.from_bytes(b)),
            "normalizer": self._load_normalizer,
        }
        util.from_bytes(bytes_data, deserialize, exclude)
        return self

    def to_disk(self, path: Union[str, Path], *, exclude=tuple()) -> None:
        self.load_model()
        serialize = {
            "cfg": lambda p: srsly.write_json(p, self.cfg),
            "model": lambda p: self.model.to_disk(p),
            "mix": lambda p: self.mix.to_disk(p),
        }
        if self.normalizer is not None:
            serialize["normalizer"] = lambda p: p.write_bytes(self.normalizer.to_bytes())
        util.to_disk(path, serialize, exclude)

    def from_disk(self, path: Union[str, Path], *, exclude=tuple()) -> "SavedEncoder":
        deserialize = {
            "cfg": lambda p: self._merge_cfg(srsly.read_json(p)),
            "model": lambda p: self._load_model_bytes(p.read_bytes()),
            "mix": lambda p: self._load_mix(lambda: self.mix.from_disk(p)),
            "normalizer": lambda p: p.exists() and self._load_normalizer(p.read_bytes()),
        }
        util.from_disk(path, deserialize, exclude)
        self.frozen_cache.clear()
        return self

    def _load_model_bytes(self, data: bytes) -> None:
        self.model.from_bytes(data)
        self._loaded = True
        self._bind()

    def _load_mix(self, load: Callable[[], object]) -> None:
        # thinc restores a model's attrs with its params: put the config's
        # settings back, and its initial weights where they define others.
        configured = dict(self.mix.attrs)
        load()
        saved = dict(self.mix.attrs)
        self.mix.attrs.update(configured)
        n_layers = self.mix.get_dim("nL")
        if any(_setting(configured, key, n_layers) != _setting(saved, key, n_layers) for key in MIX_PARAM_SETTINGS):
            self.mix.initialize()
        if getattr(self, "is_bound", False):
            self._bind()

    def _merge_cfg(self, saved: dict) -> None:
        # The pipeline's config.cfg built this component and stays the source
        # of truth (a user may edit it); the saved cfg only fills gaps.
        for key, value in saved.items():
            self.cfg.setdefault(key, value)

    def _load_normalizer(self, data: bytes) -> None:
        self.normalizer = Normalizer.from_bytes(data) if data else None


def _setting(attrs: dict, key: str, n_layers: int):
    """A mix setting, with layer indices made positive so that [-1] and the
    saved [n_layers - 1] compare equal."""
    value = attrs.get(key)
    if key == "layers":
        return normalize_layers(value, n_layers, "components.ctx_encoder.mix.layers")
    return value
