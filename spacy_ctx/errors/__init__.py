"""Every user-facing message of spacy-ctx, in one place, in spaCy's style.

The code of a message is its attribute name: `Errors.E002` reads
"[spacy-ctx E002] ...". Raise user errors as `SpacyCtxError`, which the CLI
shows as a clean message.
"""
from .analysis import AnalysisErrors
from .data import DataErrors
from .encoder import EncoderErrors
from .training import TrainingErrors


class SpacyCtxError(ValueError):
    """A user-facing error of spacy-ctx: bad input, settings or data."""


class _WithCodes(type):
    def __getattribute__(self, code: str) -> str:
        # Names with a leading underscore are not messages of their own
        # (e.g. a prefix that says where an error happened): no code.
        msg = super().__getattribute__(code)
        if code.startswith("_"):
            return msg
        return f"[spacy-ctx {code}] {msg}"


class Warnings(metaclass=_WithCodes):
    """Warnings, numbered by the ranges of `Errors`."""

    W001 = (
        "Component '{name}' has normalize = true but no fitted "
        "normalizer: vectors stay in the raw space. Fit one with "
        "`python -m spacy_ctx fit-normalizer`."
    )
    W060 = (
        "Encoder precision '{precision}' is not native on this {device} "
        "({reason}): the encoder runs in fp32, which is faster here."
    )
    W061 = (
        "oneDNN's fused linear failed on this CPU ({error}): the encoder "
        "runs torch's own linear layers, which give the same outputs."
    )
    W062 = (
        "The encoder's model type '{family}' has no padding-free forward "
        "({reason}): it runs the model's own padded forward, which computes "
        "its padding too."
    )
    W200 = "{n} records failed: see {path}."
    W300 = "No labels in the data for: {names}."
    W401 = (
        "Resuming from {path}: its settings win over the ones given for "
        "{settings}. Only the number of epochs can change when resuming: "
        "pass it as epochs (--epochs)."
    )


class Errors(EncoderErrors, TrainingErrors, DataErrors, AnalysisErrors, metaclass=_WithCodes):
    """Errors by code range (`_IN_COMPONENT` is a prefix, not an error):

    - E001-E019: the ctx_encoder component, its listeners, layer settings and wordpiece windows;
    - E020-E039: finding, loading and saving Hugging Face encoders;
    - E040-E059: fine-tuning: discriminative rates, unfreezing and LoRA;
    - E060-E069: reduced-precision inference;
    - E070-E079: optional packages and loading pipelines for the commands;
    - E100-E199: the WSD head, WordNet and sense-annotated data;
    - E200-E219: corpus reading and embedding at scale;
    - E300-E319: similarity benchmarks and static vectors distilled from layers;
    - E400-E419: the ELMo encoder and its pretraining;
    - E420-E439: masked-language-model pretraining;
    - E500-E539: rendering and the explorer;
    - A001-A099: analysis tools: normalizers, probes and the corpora they read.

    The messages live by job in errors/encoder.py (E001-E039, E060-E069),
    errors/training.py (E040-E059, E400-E439), errors/data.py (E070-E219)
    and errors/analysis.py (E300-E319, E500-E539, A001-A099).
    """

    _IN_COMPONENT = "In component '{name}': {error}"
