"""ELMo's biLM pretraining (spacy_ctx.pretraining.elmo): the loss falls, runs resume, vocabulary, batches, configs."""
import pytest

from spacy_ctx.pretraining.elmo import (
    PretrainConfig,
    build_vocab,
    make_batches,
    pretrain,
)

from ..util import ELMO_SENTENCES

pytestmark = pytest.mark.usefixtures("one_thread")


def test_pretraining_lowers_the_loss(pretrained_elmo):
    _, output, metrics = pretrained_elmo
    before, after = metrics["perplexity_before"], metrics["perplexity_after"]
    assert metrics["steps"] == 30
    assert after["forward"] < 0.5 * before["forward"]
    assert after["backward"] < 0.5 * before["backward"]
    assert (output / "elmo.pt").is_file() and (output / "checkpoint.pt").is_file()


def test_pretraining_resumes(pretrained_elmo, tmp_path):
    texts, output, metrics = pretrained_elmo
    import shutil

    shutil.copytree(output, tmp_path / "out")
    resumed = pretrain([texts], tmp_path / "out", resume=True, max_steps=33, progress=False, log=lambda s: None)
    assert resumed["steps"] == 33
    assert resumed["perplexity_before"] == metrics["perplexity_before"]


def test_resume_reports_settings_it_cannot_take(pretrained_elmo, tmp_path):
    import shutil
    from dataclasses import replace

    texts, output, metrics = pretrained_elmo
    shutil.copytree(output, tmp_path / "out")
    saved = PretrainConfig(**metrics["config"])
    other = replace(saved, learning_rate=0.5, epochs=20)
    with pytest.warns(UserWarning, match="W401.*learning_rate.*epochs"):
        resumed = pretrain([texts], tmp_path / "out", other, resume=True, max_steps=31,
                           progress=False, log=lambda s: None)
    assert resumed["config"]["learning_rate"] == saved.learning_rate
    assert resumed["config"]["epochs"] == saved.epochs  # changed by the epochs keyword only


def test_vocab_is_sorted_by_frequency_and_batches_cover_everything():
    seqs = [s.split() for s in ELMO_SENTENCES]
    vocab = build_vocab(seqs, max_size=8, min_count=1)
    assert len(vocab) == 8 and {"<unk>", "<S>", "</S>"} <= set(vocab)
    # Most tokens fall outside the 5 kept words: <unk> is the most frequent.
    assert vocab[:3] == ["<unk>", "the", "."] and vocab.index("the") < vocab.index("cat")
    assert "bird" not in vocab  # cut by max_size
    batches = make_batches(seqs, batch_tokens=20, seed=0)
    assert sorted(i for b in batches for i in b) == list(range(len(seqs)))
    assert all(len(b) * (max(len(seqs[i]) for i in b) + 2) <= 20 or len(b) == 1 for b in batches)


def test_configs_agree_with_the_pretraining_defaults(root):
    from dataclasses import asdict

    from thinc.api import Config

    defaults = asdict(PretrainConfig())
    pretrain_cfg = Config().from_disk(root / "configs" / "pretrain_elmo.cfg")["pretrain_elmo"]
    assert dict(pretrain_cfg) == defaults
    # Default pretrained weights load into the tagger config unchanged.
    block = Config().from_disk(root / "configs" / "elmo_tagger.cfg", interpolate=False)
    block = block["components"]["ctx_encoder"]["model"]
    assert block["@architectures"] == "spacy_ctx.ELMoEncoder.v1"
    for key in ("char_dim", "filters", "n_highway", "projection_dim", "hidden_size"):
        assert block[key] == defaults[key], key


def test_wide_config_is_the_default_one_wider(root):
    from dataclasses import asdict

    from thinc.api import Config

    wide = dict(Config().from_disk(root / "configs" / "pretrain_elmo_wide.cfg")["pretrain_elmo"])
    defaults = asdict(PretrainConfig())
    assert set(wide) == set(defaults)
    changed = {key for key in wide if wide[key] != defaults[key]}
    assert changed == {"projection_dim", "hidden_size", "dropout", "batch_tokens"}
    assert wide["projection_dim"] == 2 * defaults["projection_dim"]
    assert wide["hidden_size"] > wide["projection_dim"]  # the ELMo-style projected LSTM
