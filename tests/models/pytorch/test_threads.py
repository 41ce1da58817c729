"""The pooling's thread policy: the small ops on their own thread count,
the forward on torch's, the same layers either way."""
import numpy
import torch

from spacy_ctx.models.pytorch.threads import intra_op_threads
from spacy_ctx.models.transformer import find_hf_shim

TEXTS = ["The boat drifted toward the muddy river bank.", "She paid the cheque into her bank account on Monday morning."]


def test_intra_op_threads_sets_and_restores():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with intra_op_threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with intra_op_threads(0):
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_small_op_threads_keep_the_layers_and_torchs_count(nlp):
    nlp("The model loads on first use.")
    encoder = find_hf_shim(nlp.get_pipe("ctx_encoder").model).encoder
    before = torch.get_num_threads()
    seen = []
    forward = encoder._hidden_states
    try:
        torch.set_num_threads(2)
        encoder._hidden_states = lambda *args: seen.append(torch.get_num_threads()) or forward(*args)
        layers = {}
        for small in (0, 1):
            encoder.small_op_threads = small
            layers[small] = [doc._.ctx_layers.copy() for doc in nlp.pipe(TEXTS)]
            assert torch.get_num_threads() == 2
    finally:
        del encoder._hidden_states
        encoder.small_op_threads = 1
        torch.set_num_threads(before)
    # The forward ran on torch's two threads under both policies.
    assert seen and set(seen) == {2}
    for plain, policed in zip(layers[0], layers[1]):
        numpy.testing.assert_allclose(policed, plain, atol=1e-5)
