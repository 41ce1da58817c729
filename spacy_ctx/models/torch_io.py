"""Shared glue between thinc's PyTorchWrapper_v2 and the encoders' modules."""
from typing import Callable, List

from spacy.tokens import Doc
from thinc.api import ArgsKwargs, Model
from thinc.shims.pytorch import PyTorchShim


def planned_inputs(planner: Callable) -> Callable:
    """A `convert_inputs` for PyTorchWrapper_v2: `planner(docs)` returns a
    plan (a tokenization dataclass) whose `to_torch(device)` gives the
    module's keyword arguments. Docs are not differentiable, so the input
    gradient is nothing."""

    def convert_inputs(model: Model, docs: List[Doc], is_train: bool):
        shim = model.shims[0]
        device = shim.device if isinstance(shim, PyTorchShim) else None
        return ArgsKwargs(args=(), kwargs=planner(docs).to_torch(device)), no_input_gradient

    return convert_inputs


def no_input_gradient(d_inputs) -> list:
    """The input gradient of docs: nothing."""
    return []
