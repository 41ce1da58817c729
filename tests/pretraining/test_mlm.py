"""Masked-LM pretraining (spacy_ctx.pretraining.mlm, masking): BERT's masking
statistics, the tied head, the loss falls, a run resumes to the same result,
and bad input fails with its error."""
import shutil

import pytest
import torch

from spacy_ctx.errors import SpacyCtxError
from spacy_ctx.pretraining.masking import IGNORE, mask_tokens
from spacy_ctx.pretraining.mlm import MLMConfig, build_mlm, load_start, pretrain_mlm, read_mlm_config

from ..util import ELMO_SENTENCES

pytestmark = pytest.mark.usefixtures("one_thread")

# A one-layer BERT of width 32 (its vocabulary is the tokenizer's).
TINY_BERT = {
    "model_type": "bert", "num_hidden_layers": 1, "hidden_size": 32, "num_attention_heads": 2,
    "intermediate_size": 64, "max_position_embeddings": 64,
}
TINY_SETTINGS = dict(batch_tokens=120, learning_rate=3e-3, warmup_steps=1, heldout_fraction=0.1, max_heldout=12)


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    path = tmp_path_factory.mktemp("mlm_texts") / "texts.txt"
    path.write_text("\n".join(ELMO_SENTENCES * 20) + "\n", encoding="utf8")
    return path


def _quiet(**kwargs):
    return dict(progress=False, log=lambda s: None, **kwargs)


def _batch(n_rows=2000, width=64, vocab=1000, seed=0):
    ids = torch.randint(5, vocab, (n_rows, width), generator=torch.Generator().manual_seed(seed))
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = special[:, -1] = True  # [CLS] ... [SEP]
    return ids, special


def test_masking_is_berts_15_percent_80_10_10():
    ids, special = _batch()
    inputs, labels = mask_tokens(ids, special, mask_id=3, vocab_size=1000, generator=torch.Generator().manual_seed(0))
    targets = labels != IGNORE
    assert not targets[special].any()  # special tokens are never targets
    assert torch.equal(labels[targets], ids[targets])
    assert torch.equal(inputs[~targets], ids[~targets])  # only targets change
    n = int(targets.sum())
    assert n / int((~special).sum()) == pytest.approx(0.15, abs=0.005)
    masked = inputs[targets] == 3
    kept = inputs[targets] == ids[targets]
    replaced = ~masked & ~kept
    assert float(masked.float().mean()) == pytest.approx(0.8, abs=0.01)
    assert float(kept.float().mean()) == pytest.approx(0.1, abs=0.01)  # (and 1 in 1,000 random draws)
    assert float(replaced.float().mean()) == pytest.approx(0.1, abs=0.01)
    again = mask_tokens(ids, special, mask_id=3, vocab_size=1000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again[0], inputs) and torch.equal(again[1], labels)  # one seed, one masking


def test_whole_word_masking_takes_every_piece_of_a_word():
    ids, special = _batch(n_rows=1000, width=62)
    # [CLS], 20 words of 3 wordpieces, [SEP]
    words = [[None] + [i // 3 for i in range(60)] + [None]] * len(ids)
    inputs, labels = mask_tokens(
        ids, special, mask_id=3, vocab_size=1000, generator=torch.Generator().manual_seed(1), word_ids=words
    )
    targets = (labels != IGNORE)[:, 1:-1].reshape(len(ids), 20, 3)
    assert torch.equal(targets.all(dim=2), targets.any(dim=2))  # a word is taken whole or not at all
    assert float(targets[:, :, 0].float().mean()) == pytest.approx(0.15, abs=0.01)
    chosen = labels != IGNORE
    assert float((inputs[chosen] == 3).float().mean()) == pytest.approx(0.8, abs=0.02)


def test_a_new_head_is_tied_to_the_input_embeddings(tiny_model):
    tokenizer, encoder, mlm, new_head = load_start(str(tiny_model("bert-uncased")), None, seed=0)
    assert new_head  # the tiny model is a BertModel: no MLM weights
    assert mlm.get_output_embeddings().weight is mlm.get_input_embeddings().weight
    assert mlm.base_model is encoder  # training the MLM trains the encoder that is saved
    from transformers import BertConfig

    mlm, _ = build_mlm(BertConfig(**{k: v for k, v in TINY_BERT.items() if k != "model_type"}, vocab_size=50))
    assert mlm.get_output_embeddings().weight is mlm.get_input_embeddings().weight


def test_a_tiny_model_from_scratch_lowers_its_loss(tiny_model, texts, tmp_path):
    config = MLMConfig(**TINY_SETTINGS, epochs=3)
    metrics = pretrain_mlm(
        [texts], tmp_path, config, base=str(tiny_model("bert-uncased")), architecture=TINY_BERT, **_quiet()
    )
    before, after = metrics["heldout_before"], metrics["heldout_after"]
    assert metrics["from_scratch"] and metrics["stopped_by"] == "epochs" and metrics["epochs_completed"] == 3
    assert [row["epoch"] for row in metrics["heldout_per_epoch"]] == [0, 1, 2, 3]
    assert after["loss"] < 0.6 * before["loss"]
    assert after["pseudo_perplexity"] == pytest.approx(torch.tensor(after["loss"]).exp().item(), rel=1e-3)
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "tokenizer.json").is_file()


def test_resume_continues_to_the_same_result(tiny_model, texts, tmp_path):
    base = str(tiny_model("bert-uncased"))
    config = MLMConfig(**TINY_SETTINGS, epochs=3)
    whole = pretrain_mlm([texts], tmp_path / "whole", config, base=base, architecture=TINY_BERT, max_steps=8, **_quiet())
    pretrain_mlm([texts], tmp_path / "parts", config, base=base, architecture=TINY_BERT, max_steps=5, **_quiet())
    resumed = pretrain_mlm([texts], tmp_path / "parts", resume=True, max_steps=8, **_quiet())
    assert resumed["steps"] == whole["steps"] == 8
    assert resumed["heldout_after"]["loss"] == pytest.approx(whole["heldout_after"]["loss"], abs=1e-4)
    a = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "parts" / "checkpoint.pt", weights_only=False)["model"]
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=1e-5, rtol=0)


def test_continuing_a_base_model(tiny_model, texts, tmp_path):
    base = tiny_model("bert-uncased")
    metrics = pretrain_mlm([texts], tmp_path, MLMConfig(**TINY_SETTINGS, whole_word=True), base=str(base), max_steps=3, **_quiet())
    assert not metrics["from_scratch"] and metrics["new_head_tied"] and metrics["steps"] == 3
    from transformers import AutoModel

    model = AutoModel.from_pretrained(tmp_path)
    assert not any("cls." in name or "predictions" in name for name, _ in model.named_parameters())  # no MLM head saved


# Bad input


def test_an_empty_text_file_is_named(tiny_model, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf8")
    with pytest.raises(SpacyCtxError, match="E420.*empty.txt"):
        pretrain_mlm([empty], tmp_path / "out", base=str(tiny_model("bert-uncased")), **_quiet())


def test_a_base_without_a_fast_tokenizer_fails(tmp_path):
    from transformers import ByT5Tokenizer, T5Config

    T5Config(d_model=32, num_layers=1, num_heads=2).save_pretrained(tmp_path)
    ByT5Tokenizer().save_pretrained(tmp_path)
    with pytest.raises(SpacyCtxError, match="E421.*no fast tokenizer"):
        load_start(str(tmp_path), None, seed=0)


@pytest.mark.parametrize(
    "name,text,code",
    [
        ("broken.cfg", "[pretrain_mlm\nseed = 0\n", "E423"),
        ("nothing.cfg", "[other]\nx = 1\n", "E423.*neither"),
        ("broken.json", "{\"model_type\": \"bert\",", "E423"),
        ("typo.cfg", "[pretrain_mlm]\nlearning_rat = 0.1\n", "E406.*learning_rat"),
    ],
)
def test_a_config_that_does_not_parse_fails(tmp_path, name, text, code):
    path = tmp_path / name
    path.write_text(text, encoding="utf8")
    with pytest.raises(SpacyCtxError, match=code):
        read_mlm_config(path)


def test_an_unknown_architecture_setting_fails(tiny_model, tmp_path):
    with pytest.raises(SpacyCtxError, match="E424.*num_layers"):
        load_start(str(tiny_model("bert-uncased")), {"model_type": "bert", "num_layers": 2}, seed=0)


def test_shipped_configs_read(root):
    settings, architecture = read_mlm_config(root / "configs" / "pretrain_mlm_small.cfg")
    assert architecture["num_hidden_layers"] == 4 and architecture["hidden_size"] == 256
    defaults, none = read_mlm_config(root / "configs" / "pretrain_mlm.cfg")
    assert defaults == MLMConfig() and none is None
