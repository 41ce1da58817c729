"""Shared output of the bench scripts: one JSON object on stdout."""
import json
from pathlib import Path
from typing import Optional


def emit(report: dict, out: Optional[Path] = None) -> dict:
    """Print the report as JSON and, with `out`, write it there too."""
    text = json.dumps(report, indent=2)
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    return report
