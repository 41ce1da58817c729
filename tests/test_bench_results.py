"""Every committed benchmark report is cited in docs/, and every case the docs run is in bench/ or retired."""
import fnmatch
import itertools
import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
RESULTS = ROOT / "bench" / "results"
JSON_NAME = re.compile(r"[\w.*{},-]*\.json")
CASE = re.compile(r"\bbench_\w+\.py\b")
RETIRED = "Retired cases"


def expand(pattern: str):
    """`a-{x,y}-*.json` -> the glob patterns `a-x-*.json` and `a-y-*.json`."""
    parts = re.split(r"\{([^{}]*)\}", pattern)
    choices = [[p] if i % 2 == 0 else p.split(",") for i, p in enumerate(parts)]
    return ["".join(c) for c in itertools.product(*choices)]


def cited_patterns(text: str):
    return {glob for name in JSON_NAME.findall(text) for glob in expand(name.rsplit("/", 1)[-1])}


def test_expand_and_match_braces_and_globs():
    patterns = cited_patterns("`layers-{minilm,mpnet}-*.json` and bench/results/speed.json")
    assert patterns == {"layers-minilm-*.json", "layers-mpnet-*.json", "speed.json"}
    assert any(fnmatch.fnmatch("layers-mpnet-ewt.json", p) for p in patterns)
    assert not any(fnmatch.fnmatch("layers-bert-ewt.json", p) for p in patterns)


def test_every_report_is_cited_in_the_docs():
    text = "\n".join(p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
    patterns = cited_patterns(text)
    uncited = [p.name for p in sorted(RESULTS.glob("*.json")) if not any(fnmatch.fnmatch(p.name, g) for g in patterns)]
    assert not uncited


def test_every_case_the_docs_run_is_in_bench_or_retired():
    benchmarks = (ROOT / "docs" / "benchmarks.md").read_text()
    table = benchmarks.split(f"## {RETIRED}", 1)[1]
    retired = {case for line in table.splitlines() if line.startswith("| `") for case in CASE.findall(line.split("|")[1])}
    assert retired, "the retired cases' table"
    for page in sorted((ROOT / "docs").glob("*.md")):
        for case in set(CASE.findall(page.read_text())):
            assert (ROOT / "bench" / case).exists() or case in retired, (page.name, case)
    assert not [case for case in retired if (ROOT / "bench" / case).exists()]
