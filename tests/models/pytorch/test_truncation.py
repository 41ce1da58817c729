"""Which families stop exactly at a lower layer when they run their own
forward: those whose hidden states are their layers' own outputs."""
import pytest

from spacy_ctx.models.pytorch.truncation import truncation_is_exact

from ...reference import reference_or_minilm

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("family,exact", [("mpnet", True), ("modernbert", True), ("t5-encoder", False), ("albert", False)])
def test_truncation_is_exact_by_family(tiny_model, family, exact):
    # ModernBERT's final norm comes after its last hidden state; T5's is on
    # it; ALBERT's shared groups are no layer stack to cut.
    tokenizer, model = reference_or_minilm(tiny_model, family)
    batch = tokenizer(["The boat drifted.", "A farmer sold three apples yesterday."], padding=True, return_tensors="pt")
    inputs = {key: batch[key] for key in ("input_ids", "attention_mask")}
    assert truncation_is_exact(model, 1, inputs) is exact
