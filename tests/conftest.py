"""Shared fixtures. The encoder is the real bundled MiniLM, loaded once."""
import os
from pathlib import Path

import pytest
import spacy

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("SPACY_CTX_DATA", ROOT.parent / "shared" / "data"))

# Opt-in GPU run: SPACY_CTX_TEST_GPU=1 puts every test on thinc's CupyOps (and
# torch on cuda) from the start; without a usable GPU the session stops here.
if os.environ.get("SPACY_CTX_TEST_GPU") == "1":
    try:
        spacy.require_gpu()
        import torch

        if not torch.cuda.is_available():
            raise ValueError("torch sees no CUDA device")
    except Exception as err:
        raise RuntimeError(f"SPACY_CTX_TEST_GPU=1 but no usable GPU: {err!r}") from err


@pytest.fixture(scope="session")
def nlp():
    """A blank English pipeline with the default ctx_encoder."""
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder")
    return nlp


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or a skip with the reason when it is absent."""
    if not (SHARED_DATA / "MANIFEST.md").exists():
        pytest.skip(f"needs the shared corpora in {SHARED_DATA} (absent here)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
