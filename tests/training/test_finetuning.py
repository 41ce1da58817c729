"""Discriminative learning rates and gradual unfreezing on a tiny BERT, with
real spaCy updates: which parameters move, and by how much."""
import numpy
import pytest
import spacy
import torch
from thinc.api import registry

from spacy_ctx.errors import SpacyCtxError
from spacy_ctx.training.depths import parameter_depths, shim_parameters
from spacy_ctx.training.optimizer import DiscriminativeOptimizer
from spacy_ctx.training.unfreezing import create_gradual_unfreezing_v1, trainable_depths

from ..util import tagger_config, tagger_examples


def tiny_tagger(tiny_model, grad_factor=1.0):
    nlp = spacy.blank("en")
    nlp.add_pipe("ctx_encoder", config={"model": {"name": str(tiny_model("bert-uncased"))}})
    # No layer dropout in the mix: a dropped top layer leaves the top block without a gradient.
    nlp.add_pipe("tagger", config=tagger_config(grad_factor=grad_factor, mix_dropout=0.0))
    nlp.initialize(lambda: tagger_examples(nlp))
    return nlp


def snapshot(nlp):
    return {name: (param.detach().numpy().copy(), depth, top)
            for name, param, depth, top in shim_parameters(nlp.get_pipe("ctx_encoder").model)}


def moved_depths(before, after, tol=0.0):
    """{depth: the largest change of any parameter at that depth}."""
    out = {}
    for name, (weights, depth, _) in before.items():
        change = float(numpy.abs(after[name][0] - weights).max())
        out[depth] = max(out.get(depth, 0.0), change)
    return out


def test_bert_parameter_depths():
    names = [
        "transformer.embeddings.word_embeddings.weight",
        "transformer.embeddings.LayerNorm.weight",
        "transformer.encoder.layer.0.attention.self.query.weight",
        "transformer.encoder.layer.1.output.dense.bias",
        "transformer.pooler.dense.weight",
    ]
    depths, top = parameter_depths(names)
    assert top == 2
    assert [depths[n] for n in names] == [0, 0, 1, 2, 2]
    # GPT-2-style names: what precedes the first block is an embedding.
    gpt2, top = parameter_depths(["wte.weight", "wpe.weight", "h.0.attn.c_attn.weight", "h.1.mlp.c_fc.weight", "ln_f.weight"])
    assert top == 2 and list(gpt2.values()) == [0, 0, 1, 2, 2]
    # Without numbered blocks (ELMo), everything is at the top: one rate.
    assert parameter_depths(["char_cnn.weight", "lstm.weight_ih_l0"]) == ({"char_cnn.weight": 0, "lstm.weight_ih_l0": 0}, 0)


def test_registered_encoder_has_every_depth(tiny_model):
    nlp = tiny_tagger(tiny_model)
    params = snapshot(nlp)
    n_layers = nlp.get_pipe("ctx_encoder").n_layers
    assert {depth for _, depth, _ in params.values()} == set(range(n_layers))
    assert {top for _, _, top in params.values()} == {n_layers - 1}


def test_layer_wise_rates_on_the_first_adam_step(tiny_model):
    """Adam's first step moves every weight whose gradient is far above eps
    by its learning rate, so each depth's change is that depth's rate:
    encoder_learn_rate at the top, times layer_decay per block below, and
    the heads' learn_rate. Through the shims' own finish_update, as in
    training."""
    nlp = tiny_tagger(tiny_model)
    optimizer = registry.resolve({"o": {
        "@optimizers": "spacy_ctx.DiscriminativeAdam.v1", "learn_rate": 1e-2,
        "encoder_learn_rate": 1e-3, "layer_decay": 0.5, "L2": 0.0, "grad_clip": 0.0,
    }})["o"]
    assert isinstance(optimizer, DiscriminativeOptimizer)
    encoder = nlp.get_pipe("ctx_encoder")
    tagger = nlp.get_pipe("tagger").model
    before = snapshot(nlp)
    for _, param, _, _ in shim_parameters(encoder.model):
        param.grad = torch.full_like(param, 0.1)
    W = tagger.get_ref("softmax").get_param("W").copy()
    tagger.get_ref("softmax").inc_grad("W", tagger.ops.alloc2f(*W.shape) + 0.1)
    encoder.finish_update(optimizer)
    nlp.get_pipe("tagger").finish_update(optimizer)
    optimizer.step_schedules()
    moved = moved_depths(before, snapshot(nlp))
    top = encoder.n_layers - 1
    assert set(moved) == set(range(top + 1))
    for depth, change in moved.items():
        assert change == pytest.approx(1e-3 * 0.5 ** (top - depth), rel=1e-3), (depth, moved)
    head_change = float(numpy.abs(tagger.get_ref("softmax").get_param("W") - W).max())
    assert head_change == pytest.approx(1e-2, rel=1e-3)
    assert optimizer.encoder_steps == 1


def test_encoder_follows_the_schedules_decay_not_its_warmup():
    """With warmup_linear (2 steps up to 1e-2, then down to 0 at step 10),
    the encoder gets its full rate from the start and then decays with the
    schedule: encoder_learn_rate x current / peak."""
    schedule = registry.resolve({"s": {"@schedules": "warmup_linear.v1", "initial_rate": 1e-2, "warmup_steps": 2, "total_steps": 10}})["s"]
    optimizer = DiscriminativeOptimizer(schedule, encoder_learn_rate=1e-3)
    rates, heads = [], []
    for _ in range(8):
        heads.append(optimizer.learn_rate)
        rates.append(optimizer.encoder_rate(3, 3))
        optimizer.step_schedules()
    peak = max(heads)
    assert peak == pytest.approx(1e-2)
    for step in range(1, 8):
        expected = 1e-3 * heads[step] / max(heads[: step + 1])
        assert rates[step] == pytest.approx(expected)
        assert optimizer.encoder_scale(3, 3) * optimizer.learn_rate == pytest.approx(optimizer.encoder_rate(3, 3))
    # Rising: the full encoder rate; falling after the peak: proportionally less.
    assert rates[1] == pytest.approx(1e-3) and rates[6] == pytest.approx(1e-3 * heads[6] / peak) and rates[6] < 1e-3


def test_encoder_warmup_counts_from_its_first_update(tiny_model):
    optimizer = DiscriminativeOptimizer(1e-2, encoder_learn_rate=1e-3, encoder_warmup_steps=4)
    assert optimizer.encoder_rate(3, 3) == pytest.approx(1e-3 / 4)
    assert optimizer.encoder_scale(3, 3) == pytest.approx(0.1 / 4)
    optimizer.encoder_steps = 3
    assert optimizer.encoder_rate(3, 3) == pytest.approx(1e-3)
    for setting in ({"layer_decay": 0.0}, {"layer_decay": 1.5}, {"encoder_learn_rate": -1.0}, {"encoder_warmup_steps": -1}):
        kwargs = {"encoder_learn_rate": 1e-3, **setting}
        with pytest.raises(SpacyCtxError, match="E040"):
            DiscriminativeOptimizer(1e-2, **kwargs)


def test_gradual_unfreezing_from_the_top_down(tiny_model):
    """Frozen (the cache serves, no gradient) until start_step, then one
    more block from the top every step. The blocks below get no gradient
    and never move."""
    nlp = tiny_tagger(tiny_model, grad_factor=0.0)
    encoder = nlp.get_pipe("ctx_encoder")
    callback = create_gradual_unfreezing_v1(start_step=2, every=1, grad_factor=1.0)
    optimizer = DiscriminativeOptimizer(1e-2, encoder_learn_rate=1e-3)
    examples = tagger_examples(nlp)
    top = encoder.n_layers - 1
    start = snapshot(nlp)
    for step in range(5):
        callback(nlp, {"step": step, "epoch": 0})
        encoder.frozen_cache.clear()
        nlp.update(examples, sgd=optimizer)
        cached = encoder.frozen_cache.info()["docs"]
        # The gradient this step's backprop left (spaCy applies it at the
        # encoder's next finish_update).
        with_grad = {depth for _, param, depth, _ in shim_parameters(encoder.model)
                     if param.grad is not None and float(param.grad.abs().sum()) > 0}
        if step < 2:
            assert cached == len(examples) and not with_grad
            assert all(listener.grad_factor == 0 for listener in encoder.listeners)
        else:
            # Once the encoder trains, the cache is not used.
            assert cached == 0
            expected = set(range(top - (step - 2), top + 1))
            assert with_grad == expected and trainable_depths(nlp) == sorted(expected)
    moved = {d for d, change in moved_depths(start, snapshot(nlp)).items() if change > 0}
    # Steps 2 and 3 trained the top two blocks; step 4's gradient is not applied yet.
    assert moved == {top - 1, top}


def test_unfreezing_all_at_once_and_bad_settings(tiny_model):
    nlp = tiny_tagger(tiny_model, grad_factor=0.0)
    create_gradual_unfreezing_v1(start_step=0)(nlp, {"step": 0, "epoch": 0})
    assert trainable_depths(nlp) == list(range(nlp.get_pipe("ctx_encoder").n_layers))
    with pytest.raises(SpacyCtxError, match="E040"):
        create_gradual_unfreezing_v1(every=-1)
    with pytest.raises(SpacyCtxError, match="E041"):
        create_gradual_unfreezing_v1()(spacy.blank("en"), {"step": 0, "epoch": 0})


def test_ner_finetune_config_trains_the_encoder_from_the_top(tiny_model, tmp_path):
    """spacy train on the shipped ner_finetune.cfg (tiny encoder, 6 steps,
    unfreezing from step 2, the next block only at step 12): the saved
    encoder's top block changed, nothing below it did."""
    from spacy.cli.train import train as spacy_train
    from transformers import AutoModel

    from ..util import ROOT

    name = str(tiny_model("bert-uncased"))
    overrides = {
        "paths.train": str(ROOT / "corpus" / "ner-train.spacy"),
        "paths.dev": str(ROOT / "corpus" / "ner-dev.spacy"),
        "components.ctx_encoder.model.name": name,
        "training.max_steps": 6,
        "training.max_epochs": 0,
        "training.eval_frequency": 3,
        "training.before_update.start_step": 2,
        "training.before_update.every": 10,
        "training.optimizer.encoder_warmup_steps": 0,
        "components.ner.model.tok2vec.ctx.mix_dropout": 0.0,
    }
    spacy_train(ROOT / "configs" / "ner_finetune.cfg", tmp_path, overrides=overrides, use_gpu=-1)
    nlp = spacy.load(tmp_path / "model-last")
    assert nlp.config["training"]["before_update"]["@callbacks"] == "spacy_ctx.gradual_unfreezing.v1"
    trained = {n: p.detach().numpy() for n, p, _, _ in shim_parameters(nlp.get_pipe("ctx_encoder").model)}
    original = {n: p.detach().numpy() for n, p in AutoModel.from_pretrained(name).named_parameters()}
    top = max(int(n.split(".")[3]) for n in trained if ".encoder.layer." in n)
    changed = {n for n in trained if n.startswith("transformer.") and n[len("transformer."):] in original
               and not numpy.array_equal(trained[n], original[n[len("transformer."):]])}
    assert any(f".layer.{top}." in n for n in changed)
    assert all(f".layer.{top}." in n for n in changed), changed
