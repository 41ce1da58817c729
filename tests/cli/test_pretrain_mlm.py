"""The pretrain-mlm command: it trains from scratch and resumes, its output
directory loads in ctx_encoder and travels with a saved pipeline, and bad
input exits with the error that names it."""
import shutil

import pytest

from ..util import ELMO_SENTENCES

pytestmark = pytest.mark.usefixtures("one_thread")

TINY_CFG = """
[pretrain_mlm]
batch_tokens = 120
learning_rate = 0.003
warmup_steps = 1
heldout_fraction = 0.1
max_heldout = 12

[model]
model_type = "bert"
num_hidden_layers = 2
hidden_size = 32
num_attention_heads = 2
intermediate_size = 64
max_position_embeddings = 64
"""


def _invoke(*args):
    from typer.testing import CliRunner

    from spacy_ctx.cli import app

    return CliRunner().invoke(app, ["pretrain-mlm", *map(str, args)])


@pytest.fixture(scope="module")
def mlm_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlm_cli")
    texts = root / "texts.jsonl"
    texts.write_text("".join(f'{{"text": "{s}"}}\n' for s in ELMO_SENTENCES * 5), encoding="utf8")
    config = root / "tiny.cfg"
    config.write_text(TINY_CFG, encoding="utf8")
    return root, texts, config


@pytest.fixture(scope="module")
def trained(mlm_files, tiny_model):
    """A 2-step run, resumed to 3: (output directory, metrics)."""
    import srsly

    root, texts, config = mlm_files
    out = root / "out"
    base = tiny_model("bert-uncased")
    result = _invoke(texts, out, "--base", base, "--config", config, "--max-steps", "2")
    assert result.exit_code == 0, result.output
    assert srsly.read_json(out / "metrics.json")["steps"] == 2
    result = _invoke(texts, out, "--resume", "--max-steps", "3")
    assert result.exit_code == 0, result.output
    return out, srsly.read_json(out / "metrics.json")


def test_cli_trains_from_scratch_and_resumes(trained):
    out, metrics = trained
    assert metrics["steps"] == 3 and metrics["from_scratch"]
    assert metrics["architecture"]["num_hidden_layers"] == 2
    assert "pseudo_perplexity" in metrics["heldout_after"]


def test_output_loads_in_ctx_encoder_and_travels(trained, tmp_path):
    import numpy
    import spacy

    out, _ = trained
    model_dir = tmp_path / "model"
    shutil.copytree(out, model_dir)
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config={"model": {"name": str(model_dir)}})
    nlp.initialize()
    doc = nlp("the cat saw a dog .")
    assert doc._.ctx_layers.shape == (3, 6, 32)  # embeddings + 2 layers, tokens, width
    nlp.to_disk(tmp_path / "pipeline")
    shutil.rmtree(model_dir)
    reloaded = spacy.load(tmp_path / "pipeline")("the cat saw a dog .")
    numpy.testing.assert_allclose(reloaded._.ctx_layers, doc._.ctx_layers, atol=1e-5)


def test_cli_names_an_empty_file(mlm_files, tiny_model, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf8")
    result = _invoke(empty, tmp_path / "out", "--base", tiny_model("bert-uncased"))
    assert result.exit_code == 1 and "E420" in result.output and "empty.txt" in result.output


def test_cli_names_a_config_that_does_not_parse(mlm_files, tmp_path):
    _, texts, _ = mlm_files
    bad = tmp_path / "bad.cfg"
    bad.write_text("[model\n", encoding="utf8")
    result = _invoke(texts, tmp_path / "out", "--config", bad)
    assert result.exit_code == 1 and "E423" in result.output and "bad.cfg" in result.output


def test_cli_rejects_a_gpu_it_cannot_see(mlm_files, tmp_path):
    import torch

    _, texts, config = mlm_files
    result = _invoke(texts, tmp_path / "out", "--gpu-id", torch.cuda.device_count())
    assert result.exit_code == 1 and "E407" in result.output and "--gpu-id" in result.output
