"""`spacy_ctx.DiscriminativeAdam.v1`: one Adam for the whole pipeline, with
the encoder's own learning rate, decayed layer by layer down the encoder.

spaCy trains every component with one optimizer. At a rate that suits
freshly initialised heads (1e-3) a pretrained transformer is wrecked; at a
transformer's rate (5e-5) the heads crawl. This optimizer gives the
encoder's torch parameters `encoder_learn_rate`, times `layer_decay` for
each block below the top (Howard & Ruder 2018, Sun et al. 2019), and every
other parameter `learn_rate`.

With a `learn_rate` schedule, the encoder follows its decay: its rate is
`encoder_learn_rate` times the schedule's current value over the highest
value it has reached so far. So a schedule's warm-up does not hold the
encoder back (while the rate climbs, the current value is the highest); the
encoder warms up on its own instead (`encoder_warmup_steps`, counted from
its first update), since with gradual unfreezing it starts late.
"""
from typing import Optional, Union

from thinc.api import Optimizer
from thinc.optimizers import ADAM_DEFAULTS

from ..errors import Errors, SpacyCtxError
from .depths import encoder_depths


class DiscriminativeOptimizer(Optimizer):
    """thinc's Adam with a learning-rate scale per encoder parameter (see
    the module docstring)."""

    def __init__(
        self,
        learn_rate,
        *,
        encoder_learn_rate: float,
        layer_decay: float = 1.0,
        encoder_warmup_steps: int = 0,
        **kwargs,
    ):
        super().__init__(learn_rate, **kwargs)
        if encoder_learn_rate < 0:
            raise SpacyCtxError(Errors.E040.format(setting="encoder_learn_rate", allowed=">= 0", value=encoder_learn_rate))
        if not 0.0 < layer_decay <= 1.0:
            raise SpacyCtxError(Errors.E040.format(setting="layer_decay", allowed="in (0, 1]", value=layer_decay))
        if encoder_warmup_steps < 0:
            raise SpacyCtxError(Errors.E040.format(setting="encoder_warmup_steps", allowed=">= 0", value=encoder_warmup_steps))
        self.encoder_learn_rate = encoder_learn_rate
        self.layer_decay = layer_decay
        self.encoder_warmup_steps = encoder_warmup_steps
        # Steps in which the encoder got an update, and whether this one did.
        self.encoder_steps = 0
        self._encoder_updated = False
        # The highest learn_rate so far: the encoder follows the schedule's decay from it.
        self.peak_learn_rate = float(self.learn_rate)

    def encoder_rate(self, depth: int, top: int) -> float:
        """The learning rate of an encoder parameter at `depth` now."""
        if self.peak_learn_rate <= 0:
            return 0.0
        warm = 1.0
        if self.encoder_warmup_steps:
            warm = min(1.0, (self.encoder_steps + 1) / self.encoder_warmup_steps)
        decayed = self.learn_rate / self.peak_learn_rate
        return self.encoder_learn_rate * self.layer_decay ** (top - depth) * warm * decayed

    def encoder_scale(self, depth: int, top: int) -> float:
        """The encoder parameter's rate as a multiple of `learn_rate` now."""
        return self.encoder_rate(depth, top) / self.learn_rate if self.learn_rate > 0 else 0.0

    def __call__(self, key, weights, gradient, *, lr_scale: float = 1.0):
        depths = encoder_depths(key)
        if depths is not None:
            self._encoder_updated = True
            lr_scale = lr_scale * self.encoder_scale(*depths)
        return super().__call__(key, weights, gradient, lr_scale=lr_scale)

    def step_schedules(self):
        super().step_schedules()
        self.peak_learn_rate = max(self.peak_learn_rate, float(self.learn_rate))
        if self._encoder_updated:
            self.encoder_steps += 1
            self._encoder_updated = False


def create_discriminative_adam_v1(
    learn_rate: Union[float, object] = 0.001,
    encoder_learn_rate: float = 5e-5,
    layer_decay: float = 1.0,
    encoder_warmup_steps: int = 0,
    *,
    L2: float = ADAM_DEFAULTS["L2"],
    beta1: float = ADAM_DEFAULTS["beta1"],
    beta2: float = ADAM_DEFAULTS["beta2"],
    eps: float = ADAM_DEFAULTS["eps"],
    grad_clip: float = ADAM_DEFAULTS["grad_clip"],
    L2_is_weight_decay: bool = True,
    use_averages: bool = False,
) -> DiscriminativeOptimizer:
    """Adam with `learn_rate` (a float or a schedule) for the heads and
    `encoder_learn_rate` for the top of the encoder, `layer_decay` per block
    below it, and an optional warm-up of the encoder's own.

    use_averages is off by default: parameter averages of a transformer's
    weights double its memory and lag behind a short fine-tuning run.
    """
    return DiscriminativeOptimizer(
        learn_rate,
        encoder_learn_rate=encoder_learn_rate,
        layer_decay=layer_decay,
        encoder_warmup_steps=encoder_warmup_steps,
        L2=L2,
        beta1=beta1,
        beta2=beta2,
        eps=eps,
        grad_clip=grad_clip,
        L2_is_weight_decay=L2_is_weight_decay,
        use_averages=use_averages,
    )
