"""The ELMo torch modules: reversing each sequence within its length."""
import pytest
import torch

from spacy_ctx.models.pytorch.elmo import reverse_within_lengths

pytestmark = pytest.mark.usefixtures("one_thread")


def test_reverse_within_lengths():
    x = torch.arange(8, dtype=torch.float32).view(2, 4, 1)
    out = reverse_within_lengths(x, torch.tensor([4, 2]))
    assert out.squeeze(-1).tolist() == [[3, 2, 1, 0], [5, 4, 6, 7]]
