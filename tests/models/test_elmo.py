"""The ELMo encoder (spacy_ctx.ELMoEncoder.v1) and its biLM pretraining."""
import warnings

import numpy
import pytest
import spacy
import torch
from spacy.tokens import Doc
from spacy.util import registry

from spacy_ctx.errors import SpacyCtxError
from spacy_ctx.corpora import read_sequences
from spacy_ctx.models.pytorch.elmo import reverse_within_lengths
from spacy_ctx.tokenization.chars import encode_sequences
from spacy_ctx.pretraining.elmo import (
    PretrainConfig,
    build_vocab,
    make_batches,
    pretrain,
)

from ._tiny import needs_gpu, one_thread  # noqa: F401 (one_thread: autouse fixture, one torch thread)

# Small sizes so that the tests run in seconds on a busy CPU.
TINY = {
    "char_dim": 8,
    "filters": [[1, 8], [2, 8], [3, 16]],
    "n_highway": 1,
    "projection_dim": 16,
    "hidden_size": 16,
}
WIDTH = 2 * TINY["projection_dim"]

SENTENCES = [
    "the cat sat on the mat .",
    "the dog sat on the log .",
    "a cat saw a dog .",
    "the dog saw the cat on the mat .",
    "a bird sat on a log .",
    "the bird saw a cat .",
]


def make_encoder(**overrides):
    return registry.architectures.get("spacy_ctx.ELMoEncoder.v1")(**{**TINY, **overrides})


def make_nlp(**overrides):
    nlp = spacy.blank("en")
    model = {"@architectures": "spacy_ctx.ELMoEncoder.v1", **TINY, **overrides}
    nlp.add_pipe("ctx_encoder", config={"model": model})
    return nlp


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A tiny pretraining run: (output directory, metrics)."""
    path = tmp_path_factory.mktemp("elmo_texts") / "texts.txt"
    path.write_text("\n".join(SENTENCES * 20), encoding="utf8")
    output = tmp_path_factory.mktemp("elmo_out")
    config = PretrainConfig(
        **TINY, vocab_size=50, min_count=1, cutoffs=[8], batch_tokens=200,
        learning_rate=1e-2, heldout_fraction=0.1, max_heldout=12, epochs=10, dropout=0.0,
    )
    metrics = pretrain([path], output, config, max_steps=30, progress=False, log=lambda s: None)
    return path, output, metrics


def test_shapes_and_layer_count():
    nlp = make_nlp()
    encoder = nlp.get_pipe("ctx_encoder")
    assert encoder.model.attrs["n_layers"] == 3
    assert encoder.model.get_dim("nO") == WIDTH
    doc = nlp("ELMo reads characters, not word pieces.")
    assert doc._.ctx_layers.shape == (3, len(doc), WIDTH)
    assert doc.tensor.shape == (len(doc), WIDTH)
    assert doc[1]._.ctx_layers.shape == (3, WIDTH)
    # Layer 0 is the char-CNN vector, repeated to the biLSTM width.
    layer0 = doc._.ctx_layers[0]
    numpy.testing.assert_array_equal(layer0[:, : WIDTH // 2], layer0[:, WIDTH // 2 :])
    assert not numpy.allclose(doc._.ctx_layers[1], doc._.ctx_layers[2])


def test_empty_doc_and_batching_do_not_change_vectors():
    nlp = make_nlp()
    alone = nlp("A short doc .")
    docs = list(nlp.pipe(["", "A short doc .", "A much longer doc " + "x" * 300 + " with more words ."]))
    assert docs[0]._.ctx_layers.shape == (3, 0, WIDTH)
    numpy.testing.assert_allclose(docs[1]._.ctx_layers, alone._.ctx_layers, atol=1e-5)


def test_forward_and_backward_directions_see_one_side():
    nlp = make_nlp()
    half = WIDTH // 2
    a = nlp.make_doc("one two three four")
    b = nlp.make_doc("one two three five")
    encoder = nlp.get_pipe("ctx_encoder")
    la, lb = [encoder.model.ops.to_numpy(x) for x in encoder.predict([a, b])]
    for layer in (1, 2):
        # The forward LSTM at "one" has not seen the last word yet...
        numpy.testing.assert_allclose(la[layer, 0, :half], lb[layer, 0, :half], atol=1e-6)
        # ...the backward LSTM at "one" has.
        assert not numpy.allclose(la[layer, 0, half:], lb[layer, 0, half:], atol=1e-6)
    # The char-CNN layer is context-free.
    numpy.testing.assert_array_equal(la[0, :3], lb[0, :3])


def test_unicode_and_very_long_token():
    nlp = make_nlp()
    long_b = "a" * 5000 + "b"
    long_c = "a" * 5000 + "c"
    words = ["naïve", "日本語", "😀", long_b, "e\u0301", "مرحبا", "👩\u200d👩\u200d👧"]
    doc = Doc(nlp.vocab, words=words)
    layers = nlp.get_pipe("ctx_encoder").predict([doc, Doc(nlp.vocab, words=[long_c])])
    assert layers[0].shape == (3, len(words), WIDTH)
    assert numpy.isfinite(layers[0]).all()
    # Nothing is truncated: the 5,001st character changes the word vector.
    assert not numpy.allclose(layers[0][0, 3], layers[1][0, 0])


def test_encode_sequences_never_truncates():
    batch = encode_sequences([["x" * 5000, "ab"]], min_length=3, max_chunk_chars=1000)
    assert max(chunk.shape[1] for chunk in batch.chunks) == 5002  # bytes + <w> </w>
    assert batch.word_index.shape == (1, 4)  # <S> w1 w2 </S>


def test_reverse_within_lengths():
    x = torch.arange(8, dtype=torch.float32).view(2, 4, 1)
    out = reverse_within_lengths(x, torch.tensor([4, 2]))
    assert out.squeeze(-1).tolist() == [[3, 2, 1, 0], [5, 4, 6, 7]]


def test_gradients_flow_to_every_part():
    model = make_encoder()
    nlp = spacy.blank("en")
    docs = [nlp("Gradients reach the characters ."), nlp("And the LSTMs .")]
    outputs, backprop = model.begin_update(docs)
    backprop([numpy.ones_like(y) for y in outputs])
    module = model.layers[0].shims[0]._model
    parts = {
        "char embeddings": module.char_cnn.embed.weight,
        "convolution": module.char_cnn.convs[0].weight,
        "highway": module.char_cnn.highway.layers[0].weight,
        "projection": module.char_cnn.projection.weight,
        "forward LSTM 2": module.bilstm.forward_layers[1].weight_hh_l0,
        "backward LSTM 2": module.bilstm.backward_layers[1].weight_hh_l0,
    }
    for name, param in parts.items():
        assert param.grad is not None and float(param.grad.abs().sum()) > 0, name


def test_pretraining_lowers_the_loss(pretrained):
    _, output, metrics = pretrained
    before, after = metrics["perplexity_before"], metrics["perplexity_after"]
    assert metrics["steps"] == 30
    assert after["forward"] < 0.5 * before["forward"]
    assert after["backward"] < 0.5 * before["backward"]
    assert (output / "elmo.pt").is_file() and (output / "checkpoint.pt").is_file()


def test_pretraining_resumes(pretrained, tmp_path):
    texts, output, metrics = pretrained
    import shutil

    shutil.copytree(output, tmp_path / "out")
    resumed = pretrain([texts], tmp_path / "out", resume=True, max_steps=33, progress=False, log=lambda s: None)
    assert resumed["steps"] == 33
    assert resumed["perplexity_before"] == metrics["perplexity_before"]


def test_pretrained_weights_load_through_config(pretrained):
    _, output, _ = pretrained
    random_doc = make_nlp()("the cat sat on the log .")
    nlp = make_nlp(weights=str(output))
    doc = nlp("the cat sat on the log .")
    again = make_nlp(weights=str(output / "elmo.pt"))("the cat sat on the log .")
    numpy.testing.assert_array_equal(doc._.ctx_layers, again._.ctx_layers)
    assert not numpy.allclose(doc._.ctx_layers, random_doc._.ctx_layers)


def test_weights_errors(pretrained, tmp_path):
    _, output, _ = pretrained
    # Weights are read when the model is initialised, not when it is built.
    missing = make_encoder(weights=str(tmp_path / "missing"))
    with pytest.raises(SpacyCtxError, match="E401"):
        missing.initialize()
    with pytest.raises(SpacyCtxError, match="E402"):
        make_encoder(weights=str(output), hidden_size=32).initialize()


def test_save_and_load_give_identical_vectors(pretrained, tmp_path):
    _, output, _ = pretrained
    nlp = make_nlp(weights=str(output))
    texts = ["the dog saw the cat .", "Ünïcödé 😀 tokens work too ."]
    expected = [doc._.ctx_layers for doc in nlp.pipe(texts)]
    nlp.to_disk(tmp_path / "pipeline")
    # Loaded weights come from the saved pipeline, not from the weights file.
    loaded = spacy.load(
        tmp_path / "pipeline",
        config={"components": {"ctx_encoder": {"model": {"weights": None}}}},
    )
    for doc, layers in zip(loaded.pipe(texts), expected):
        numpy.testing.assert_array_equal(doc._.ctx_layers, layers)
        numpy.testing.assert_allclose(doc.tensor, layers.mean(axis=0), rtol=1e-5, atol=1e-6)


def test_readers(tmp_path):
    conllu = tmp_path / "a.conllu"
    conllu.write_text(
        "# text = Don't go\n1-2\tDon't\t_\n1\tDo\tdo\n2\tn't\tnot\n3\tgo\tgo\n\n", encoding="utf8"
    )
    conll = tmp_path / "b.txt"
    conll.write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n", encoding="utf8")
    wnut = tmp_path / "c.conll"
    wnut.write_text("New York\tB-location\nrocks\tO\n", encoding="utf8")
    assert list(read_sequences(conllu)) == [["Do", "n't", "go"]]
    assert list(read_sequences(conll)) == [["EU", "rejects"]]
    assert list(read_sequences(wnut)) == [["New York", "rocks"]]
    raw = tmp_path / "d.txt"
    raw.write_text("Hello, world!\n", encoding="utf8")
    assert list(read_sequences(raw)) == [["Hello", ",", "world", "!"]]
    with pytest.raises(ValueError, match="E403"):
        list(read_sequences(tmp_path / "nothing.txt"))


def test_vocab_is_sorted_by_frequency_and_batches_cover_everything():
    seqs = [s.split() for s in SENTENCES]
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


def _pretrain_cli(tmp_path, *options, **settings):
    """Run `pretrain-elmo` on tiny texts and settings (plus `settings`) into
    tmp_path/out; return the metrics it wrote."""
    import srsly
    from typer.testing import CliRunner

    from spacy_ctx.cli import app

    texts = tmp_path / "texts.jsonl"
    if not texts.exists():
        srsly.write_jsonl(texts, [{"text": s} for s in SENTENCES * 5])
    config = tmp_path / "tiny.json"
    srsly.write_json(config, {**TINY, "vocab_size": 30, "min_count": 1, "cutoffs": [], "batch_tokens": 100, **settings})
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


def test_resume_reports_settings_it_cannot_take(pretrained, tmp_path):
    import shutil
    from dataclasses import replace

    texts, output, metrics = pretrained
    shutil.copytree(output, tmp_path / "out")
    saved = PretrainConfig(**metrics["config"])
    other = replace(saved, learning_rate=0.5, epochs=20)
    with pytest.warns(UserWarning, match="W401.*learning_rate.*epochs"):
        resumed = pretrain([texts], tmp_path / "out", other, resume=True, max_steps=31,
                           progress=False, log=lambda s: None)
    assert resumed["config"]["learning_rate"] == saved.learning_rate
    assert resumed["config"]["epochs"] == saved.epochs  # changed by the epochs keyword only


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
