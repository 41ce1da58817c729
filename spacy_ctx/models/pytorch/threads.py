"""Torch's intra-op thread count for a block of ops."""
from contextlib import contextmanager
from typing import Iterator

import torch


@contextmanager
def intra_op_threads(n: int) -> Iterator[None]:
    """Run the block on `n` torch intra-op threads, then restore the count
    (`n` 0: leave torch's count as it is)."""
    before = torch.get_num_threads()
    if n <= 0 or n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
