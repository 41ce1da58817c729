"""What the transformer tests share: the tiny random-weight models of
spacy_ctx.testing (every family, built once per session by the `tiny_model`
fixture), `reference_layers`, the independent computation the encoder is
checked against, and helpers for arrays on any device.
"""
import contextlib
import functools
from pathlib import Path
from typing import Callable, Tuple

import numpy
import pytest
import torch

from spacy_ctx.testing import FAMILY, FAMILY_NAMES, build_family, sentences  # noqa: F401 (FAMILY_NAMES: test_families')


@functools.lru_cache(maxsize=1)
def _training_texts() -> Tuple[str, ...]:
    return tuple(sentences())


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op torch thread while a module runs: for width-32 models a
    second thread only adds synchronisation, which costs seconds on a shared,
    busy machine. (Autouse where a test module imports it.)"""
    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n_threads)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Callable[[str], Path]:
    """`tiny_model(name)`: the directory of a family's tiny model, built on
    first use and kept for the session (shared by every test module)."""
    base = tmp_path_factory.getbasetemp() / "tiny_models"

    def get(name: str) -> Path:
        directory = base / name
        if not (directory / "tokenizer_config.json").exists():
            build_family(FAMILY[name], directory, list(_training_texts()))
        return directory

    return get


def load_reference(directory: Path):
    """The tokenizer and model straight from transformers, as a user would
    load them (T5 as T5EncoderModel)."""
    from transformers import AutoConfig, AutoModel, AutoTokenizer, T5EncoderModel

    config = AutoConfig.from_pretrained(directory)
    model_cls = T5EncoderModel if config.model_type == "t5" else AutoModel
    tokenizer = AutoTokenizer.from_pretrained(directory)
    return tokenizer, model_cls.from_pretrained(directory).eval()


def reference_layers(tokenizer, model, doc, pooling: str = "mean") -> numpy.ndarray:
    """Raw transformers hidden states of the whole text in one pass, pooled
    to spaCy tokens by character offsets: [n_layers, n_tokens, width]."""
    import torch

    enc = tokenizer(doc.text, return_offsets_mapping=True, return_tensors="pt")
    offsets = enc.pop("offset_mapping")[0].tolist()
    with torch.no_grad():
        out = model(**enc, output_hidden_states=True)
    hidden = torch.stack(out.hidden_states)[:, 0].numpy()  # [n_layers, seq, width]
    result = numpy.zeros((hidden.shape[0], len(doc), hidden.shape[-1]), dtype="f")
    for token in doc:
        start, end = token.idx, token.idx + len(token)
        pieces = [j for j, (s, e) in enumerate(offsets) if e > s and s < end and e > start]
        if not pieces:
            continue
        rows = hidden[:, pieces]
        if pooling == "mean":
            result[:, token.i] = rows.mean(axis=1)
        elif pooling == "max":
            result[:, token.i] = rows.max(axis=1)
        elif pooling == "first":
            result[:, token.i] = rows[:, 0]
        else:
            result[:, token.i] = rows[:, -1]
    return result


needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@contextlib.contextmanager
def gpu_ops():
    """Thinc's GPU ops (and with them torch's default device) inside the block."""
    from thinc.api import get_current_ops, require_gpu, set_current_ops

    before = get_current_ops()
    require_gpu()
    try:
        yield
    finally:
        set_current_ops(before)


def to_numpy(array) -> numpy.ndarray:
    """A NumPy copy of a NumPy or CuPy array (the suite also runs on GPU)."""
    return numpy.asarray(array.get() if hasattr(array, "get") else array)


def assert_allclose(actual, desired, **kwargs) -> None:
    """numpy.testing.assert_allclose for arrays on any device."""
    numpy.testing.assert_allclose(to_numpy(actual), to_numpy(desired), **kwargs)


def assert_array_equal(actual, desired, **kwargs) -> None:
    """numpy.testing.assert_array_equal for arrays on any device."""
    numpy.testing.assert_array_equal(to_numpy(actual), to_numpy(desired), **kwargs)
