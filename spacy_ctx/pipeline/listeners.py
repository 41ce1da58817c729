"""Listener bookkeeping of the ctx_encoder (spaCy's ListenedToComponent)."""
from typing import Dict, List

from thinc.api import Model

from ..models.listener import CtxListener


class ListenedTo:
    """The listener registry spaCy expects of an upstream component:
    `listener_map`, `listeners`, `listening_components`, `add_listener`,
    `remove_listener` and `find_listeners` (`Language.replace_listeners`
    and `spacy train` call them).

    A subclass sets `self.listener_map = {}` and implements `is_bound` and
    `_connect(listener, component_name)`, which checks a listener's layers
    against the encoder and connects it once the encoder's depth is known.
    """

    name: str
    listener_map: Dict[str, List[CtxListener]]

    @property
    def is_bound(self) -> bool:
        raise NotImplementedError

    def _connect(self, listener: CtxListener, component_name: str) -> None:
        raise NotImplementedError

    @property
    def listeners(self) -> List[CtxListener]:
        return [m for c in self.listening_components for m in self.listener_map[c]]

    @property
    def listening_components(self) -> List[str]:
        return list(self.listener_map.keys())

    def add_listener(self, listener: CtxListener, component_name: str) -> None:
        """Register a listener. It is connected (its layers checked against
        this encoder) as soon as the encoder's depth is known."""
        listener.attach(self.name)
        self.listener_map.setdefault(component_name, [])
        if listener not in self.listener_map[component_name]:
            self.listener_map[component_name].append(listener)
        if self.is_bound:
            self._connect(listener, component_name)

    def remove_listener(self, listener: Model, component_name: str) -> bool:
        """Disconnect a listener. Returns whether it was connected."""
        if listener in self.listener_map.get(component_name, []):
            self.listener_map[component_name].remove(listener)
            if not self.listener_map[component_name]:
                del self.listener_map[component_name]
            return True
        return False

    def find_listeners(self, component) -> None:
        """Connect every CtxListener in a downstream component's model whose
        upstream is this component's name or '*'."""
        names = ("*", self.name)
        if isinstance(getattr(component, "model", None), Model):
            for node in component.model.walk():
                if isinstance(node, CtxListener) and node.upstream_name in names:
                    self.add_listener(node, component.name)

    def _connect_all(self) -> None:
        """Connect every listener registered so far."""
        for component_name, listeners in self.listener_map.items():
            for listener in listeners:
                self._connect(listener, component_name)
