"""The padding-free forward of BERT-style encoders against the model's own
forward: the same hidden states at every real wordpiece, and the same
gradients."""
import pytest
import torch

from spacy_ctx.models.pytorch.packed import packable, packed_hidden_states

from ...reference import reference_or_minilm

PACKED = ["bert-cased", "bert-uncased", "electra", "roberta", "xlm-roberta", "minilm"]
UNPACKED = ["distilbert", "deberta-v3", "albert", "modernbert", "t5-encoder"]
# One short and one long text: the short one is mostly padding.
TEXTS = ["Hi.", "The boat drifted slowly toward the muddy river bank while the rain kept falling on the quiet town."]

pytestmark = pytest.mark.usefixtures("one_thread")


def padded_batch(tokenizer):
    # Within the smallest position table of the tiny models.
    batch = tokenizer(TEXTS, padding=True, truncation=True, max_length=40, return_tensors="pt")
    return batch["input_ids"], batch["attention_mask"]


@pytest.mark.parametrize("family", PACKED + UNPACKED)
def test_packable_families(tiny_model, family):
    _, model = reference_or_minilm(tiny_model, family)
    assert packable(model) == (family in PACKED)


@pytest.mark.parametrize("family", PACKED)
@pytest.mark.parametrize("top", [None, 1])
def test_packed_states_equal_the_models_own(tiny_model, family, top):
    tokenizer, model = reference_or_minilm(tiny_model, family)
    ids, mask = padded_batch(tokenizer)
    assert (mask == 0).float().mean() > 0.3  # padding-heavy: the case that matters
    n_hidden = model.config.num_hidden_layers
    top = n_hidden if top is None else top
    with torch.no_grad():
        expected = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        states, rows = packed_hidden_states(model, ids, mask, top)
    assert len(states) == top + 1
    real = mask.reshape(-1).bool()
    assert torch.equal(rows[real], torch.arange(int(real.sum())))
    assert bool((rows[~real] == -1).all())
    for layer, state in enumerate(states):
        full = expected[layer].reshape(-1, state.shape[-1])[real]
        torch.testing.assert_close(state, full, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("family", ["bert-cased", "roberta"])
def test_packed_gradients_equal_the_models_own(tiny_model, family):
    tokenizer, model = reference_or_minilm(tiny_model, family)
    ids, mask = padded_batch(tokenizer)
    real = mask.reshape(-1).bool()
    weight = model.encoder.layer[0].attention.self.query.weight

    def grad_of(run):
        model.zero_grad()
        run().pow(2).sum().backward()
        return weight.grad.clone()

    top = model.config.num_hidden_layers
    own = grad_of(lambda: model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[-1].reshape(-1, weight.shape[0])[real])
    packed = grad_of(lambda: packed_hidden_states(model, ids, mask, top)[0][-1])
    torch.testing.assert_close(packed, own, atol=1e-5, rtol=1e-4)
