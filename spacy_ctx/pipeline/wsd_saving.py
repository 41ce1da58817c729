"""Saving and loading ctx_wsd: its cfg (with the sense table's keys), the
sense inventory and the model weights."""
from pathlib import Path
from typing import Callable, Dict, List, Optional, Union

import srsly
from spacy import util
from thinc.api import Model

from ..senses.inventory import SenseInventory


class SavedWSD:
    """`to_bytes` / `from_bytes` / `to_disk` / `from_disk` of ctx_wsd. A
    subclass has `cfg`, `model` and `_inventory`, and implements
    `_set_senses`, which loading the cfg calls with the sense table's keys."""

    cfg: Dict
    model: Model
    _inventory: Optional[SenseInventory]

    def _set_senses(self, senses: List[str]) -> None:
        raise NotImplementedError

    def to_bytes(self, *, exclude=tuple()) -> bytes:
        serialize = {
            "cfg": lambda: srsly.json_dumps(self.cfg),
            "inventory": lambda: self._inventory.to_bytes() if self._inventory is not None else b"",
            "model": lambda: self.model.to_bytes(),
        }
        return util.to_bytes(serialize, exclude)

    def from_bytes(self, bytes_data: bytes, *, exclude=tuple()) -> "SavedWSD":
        deserialize = {
            "cfg": self._load_cfg,
            "inventory": self._load_inventory,
            "model": self._load_model(self.model.from_bytes),
        }
        util.from_bytes(bytes_data, deserialize, exclude)
        return self

    def to_disk(self, path: Union[str, Path], *, exclude=tuple()) -> None:
        serialize = {
            "cfg": lambda p: srsly.write_json(p, self.cfg),
            "model": lambda p: self.model.to_disk(p),
        }
        if self._inventory is not None:
            serialize["inventory"] = lambda p: p.write_bytes(self._inventory.to_bytes())
        util.to_disk(path, serialize, exclude)

    def from_disk(self, path: Union[str, Path], *, exclude=tuple()) -> "SavedWSD":
        deserialize = {
            "cfg": lambda p: self._load_cfg(srsly.read_json(p)),
            # A component saved before initialize has no inventory yet.
            "inventory": lambda p: self._load_inventory(p.read_bytes() if p.exists() else b""),
            "model": self._load_model(self.model.from_disk),
        }
        util.from_disk(path, deserialize, exclude)
        return self

    def _load_cfg(self, cfg) -> None:
        if isinstance(cfg, (bytes, str)):
            cfg = srsly.json_loads(cfg)
        self.cfg.update(cfg)
        self._set_senses(self.cfg["senses"])

    def _load_inventory(self, data: bytes) -> None:
        self._inventory = SenseInventory.from_bytes(data) if data else None

    def _load_model(self, load: Callable) -> Callable:
        def load_model(data):
            self.model.set_dim("nS", len(self.cfg["senses"]), force=True)
            load(data)

        return load_model
