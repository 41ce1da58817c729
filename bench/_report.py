"""Shared output of the bench scripts: one JSON object on stdout."""
import json
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional


def emit(report: dict, out: Optional[Path] = None) -> dict:
    """Print the report as JSON and, with `out`, write it there too."""
    text = json.dumps(report, indent=2)
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    return report


def interleave(runners: Dict[str, Callable[[List], None]], items: List, chunks: int, warmup: int = 50) -> Dict[str, float]:
    """Seconds each runner spends on `items`, run chunk by chunk in turn.

    The machine is shared and noisy: interleaving the runners chunk by chunk,
    rotating which goes first, makes a slow spell hit all of them alike, so
    their ratios hold even when the absolute times do not.
    """
    for run in runners.values():
        run(items[:warmup])
    names = list(runners)
    seconds = {name: 0.0 for name in names}
    size = -(-len(items) // chunks)
    for k in range(chunks):
        chunk = items[k * size : (k + 1) * size]
        shift = k % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            runners[name](chunk)
            seconds[name] += time.perf_counter() - start
        print(f"chunk {k + 1}/{chunks}", {n: round(s, 1) for n, s in seconds.items()}, file=sys.stderr, flush=True)
    return seconds


def set_schedule(config, args) -> None:
    """Train a bench config for `args.max_epochs` epochs (no step limit, no
    early stop), evaluating every `args.eval_frequency` steps, with batches of
    `args.batch_words` words where the script has that option and it is set."""
    training = config["training"]
    training["max_epochs"] = args.max_epochs
    training["max_steps"] = 0
    training["patience"] = 0
    training["eval_frequency"] = args.eval_frequency
    if getattr(args, "batch_words", None):
        training["batcher"]["size"] = args.batch_words
