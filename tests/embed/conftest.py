"""Fixtures of the embedding tests: a saved pipeline and a small text corpus."""
import pytest

from ..util import EMBED_TEXTS


@pytest.fixture(scope="module")
def model_dir(nlp, tmp_path_factory):
    """A saved pipeline: blank English + the default ctx_encoder."""
    path = tmp_path_factory.mktemp("pipeline")
    nlp.to_disk(path)
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """in.txt: util.EMBED_TEXTS, with an empty line after the fourth."""
    path = tmp_path_factory.mktemp("corpus") / "in.txt"
    path.write_text("\n".join(EMBED_TEXTS[:4] + [""] + EMBED_TEXTS[4:]) + "\n", encoding="utf8")
    return path
