"""What a forked worker (nlp.pipe(n_process=N)) needs from its parent."""
import os
from typing import List

import torch

_INSTALLED: List[bool] = []
_SET_FOR_FORK: List[bool] = []


def install_fork_hooks() -> None:
    """Register the fork hooks of the encoders, once per process.

    - A Hugging Face fast tokenizer that has used its thread pool warns in
      every forked child and turns threads off there. Setting
      TOKENIZERS_PARALLELISM for the fork alone silences the warning in the
      children (which run one process per core anyway) and leaves this
      process's own setting as the user had it.
    - A forked child inherits the parent's OpenMP pool without its threads
      and hangs in its first parallel torch op. One intra-op thread per
      worker avoids the pool, and the workers share the cores anyway.
    """
    if _INSTALLED:
        return
    _INSTALLED.append(True)
    os.register_at_fork(
        before=_quiet_tokenizers_before_fork,
        after_in_parent=_restore_after_fork,
        after_in_child=_single_thread_in_child,
    )


def _quiet_tokenizers_before_fork() -> None:
    if "TOKENIZERS_PARALLELISM" not in os.environ:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
        _SET_FOR_FORK.append(True)


def _restore_after_fork() -> None:
    if _SET_FOR_FORK:
        _SET_FOR_FORK.clear()
        os.environ.pop("TOKENIZERS_PARALLELISM", None)


def _single_thread_in_child() -> None:
    torch.set_num_threads(1)
