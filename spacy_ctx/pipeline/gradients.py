"""Fan-in of the listeners' gradients into one encoder backprop."""
from typing import Callable, Dict, List, Optional

from thinc.api import Ops, Optimizer

from ..models.types import DocLayers


class ListenerGradients:
    """Sums what each listener sends back for one training batch; the last
    listener's call runs the encoder's backprop once, with the sum.

    outputs: what the encoder sent (one array per doc), for the shapes of
        the gradients of docs no listener sent anything for.
    backprop: the encoder's backprop callback.
    finish: called with the optimizer after the backprop (the component's
        finish_update), if an optimizer is given.
    losses, name: the squared gradient norm is added to losses[name].
    """

    def __init__(
        self,
        outputs: DocLayers,
        backprop: Callable[[DocLayers], object],
        ops: Ops,
        losses: Dict[str, float],
        name: str,
        finish: Callable[[Optimizer], None],
        sgd: Optional[Optimizer],
    ):
        self.outputs = outputs
        self.backprop = backprop
        self.ops = ops
        self.losses = losses
        self.name = name
        self.finish = finish
        self.sgd = sgd
        self.d_outputs: List[Optional[object]] = [None] * len(outputs)

    def accumulate(self, one_d_outputs: Optional[DocLayers]) -> list:
        """Add one listener's gradient (None: a frozen listener, nothing)."""
        if one_d_outputs is None:
            return []
        for i, d in enumerate(one_d_outputs):
            self.d_outputs[i] = d if self.d_outputs[i] is None else self.d_outputs[i] + d
        # One device-to-host sync per listener, not one per doc.
        self.losses[self.name] += float(sum((d**2).sum() for d in one_d_outputs))
        return []

    def accumulate_and_backprop(self, one_d_outputs: Optional[DocLayers]) -> list:
        """Add the last listener's gradient and run the encoder's backprop."""
        self.accumulate(one_d_outputs)
        if any(d is not None for d in self.d_outputs):
            filled = [
                d if d is not None else self.ops.alloc3f(*x.shape)
                for d, x in zip(self.d_outputs, self.outputs)
            ]
            self.backprop(filled)
            if self.sgd is not None:
                self.finish(self.sgd)
        return []
