"""The pretrain-elmo command: it pretrains, resumes, extends the epochs, and keeps GPU weights loadable on the CPU."""
import warnings

import pytest
import torch

from spacy_ctx.pretraining.elmo import pretrain

from ..util import ELMO_SENTENCES, TINY_ELMO, needs_gpu

pytestmark = pytest.mark.usefixtures("one_thread")


def _pretrain_cli(tmp_path, *options, **settings):
    """Run `pretrain-elmo` on tiny texts and settings (plus `settings`) into
    tmp_path/out; return the metrics it wrote."""
    import srsly
    from typer.testing import CliRunner

    from spacy_ctx.cli import app

    texts = tmp_path / "texts.jsonl"
    if not texts.exists():
        srsly.write_jsonl(texts, [{"text": s} for s in ELMO_SENTENCES * 5])
    config = tmp_path / "tiny.json"
    srsly.write_json(config, {**TINY_ELMO, "vocab_size": 30, "min_count": 1, "cutoffs": [], "batch_tokens": 100, **settings})
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["pretrain-elmo", str(texts), str(out), "--config", str(config), *options])
    assert result.exit_code == 0, result.output
    return srsly.read_json(out / "metrics.json")


def test_cli_pretrains_and_resumes(tmp_path):
    import srsly

    assert _pretrain_cli(tmp_path, "--max-steps", "2")["steps"] == 2
    assert _pretrain_cli(tmp_path, "--max-steps", "3", "--resume")["steps"] == 3
    out = tmp_path / "out"
    assert srsly.read_json(out / "config.json")["weights"] == str(out.resolve())


def test_cli_resume_trains_more_epochs(tmp_path):
    first = _pretrain_cli(tmp_path, "--epochs", "1")
    assert first["stopped_by"] == "epochs" and first["epochs_completed"] == 1
    # The checkpoint says 1 epoch; --epochs on resume extends it (the same
    # --config as the first run: nothing to report).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = _pretrain_cli(tmp_path, "--resume", "--epochs", "2")
    assert second["epochs_completed"] == 2
    assert second["steps"] == 2 * first["steps"]
    assert second["config"]["epochs"] == 2
    # --epochs wins over the epochs of --config, silently: the caller asked for it.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        third = _pretrain_cli(tmp_path, "--resume", "--epochs", "3", epochs=1)
    assert third["epochs_completed"] == 3


def test_cli_rejects_a_gpu_it_cannot_see(tmp_path):
    from typer.testing import CliRunner

    from spacy_ctx.cli import app

    texts = tmp_path / "texts.jsonl"
    texts.write_text('{"text": "a b c"}\n', encoding="utf8")
    result = CliRunner().invoke(app, ["pretrain-elmo", str(texts), str(tmp_path / "out"), "--gpu-id", "99"])
    assert result.exit_code == 1
    assert "--gpu-id 99" in result.output and "CUDA device" in result.output
    assert not (tmp_path / "out").exists()


@needs_gpu
def test_pretraining_on_a_gpu_saves_weights_for_the_cpu(tmp_path):
    metrics = _pretrain_cli(tmp_path, "--max-steps", "3", "--gpu-id", "0")
    assert metrics["steps"] == 3
    out = tmp_path / "out"
    saved = torch.load(out / "elmo.pt", weights_only=True)  # no map_location
    assert all(t.device.type == "cpu" for t in saved["state_dict"].values())
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=False)
    assert all(t.device.type == "cpu" for t in checkpoint["lm"].values())
    # A GPU checkpoint resumes on the CPU.
    resumed = pretrain([tmp_path / "texts.jsonl"], out, resume=True, epochs=100, max_steps=4,
                       progress=False, log=lambda s: None)
    assert resumed["steps"] == 4
    assert resumed["perplexity_before"] == pytest.approx(metrics["perplexity_before"])  # JSON rounds
