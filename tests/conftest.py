"""Shared fixtures. The encoder is the real bundled MiniLM, loaded once."""
import os
from pathlib import Path

import pytest
import spacy

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("SPACY_CTX_DATA", ROOT.parent / "shared" / "data"))


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
