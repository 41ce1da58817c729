"""The package's import graph has no circles."""
import ast
from pathlib import Path
from typing import Dict, List, Set

import spacy_ctx

PACKAGE = Path(spacy_ctx.__file__).parent


def module_imports() -> Dict[str, Set[str]]:
    """spacy_ctx module -> the spacy_ctx modules it imports."""
    files = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("spacy_ctx",) + path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        files[name] = path
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                targets.update(c for c in [module] + [f"{module}.{a.name}" for a in node.names] if c in files)
            elif isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name in files)
        graph[name] = targets - {name}
    return graph


def find_cycle(graph: Dict[str, Set[str]]) -> List[str]:
    state: Dict[str, int] = {}
    path: List[str] = []

    def visit(node: str) -> List[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return []

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def test_no_import_circle_in_the_package():
    graph = module_imports()
    assert "spacy_ctx.pipeline.encoder" in graph["spacy_ctx"]  # the graph is read at all
    assert find_cycle(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_each_error_code_is_defined_once():
    """Errors gathers the job modules' messages by inheritance, where a code
    defined twice would silently shadow the other: each is defined once."""
    import re

    from spacy_ctx.errors import Errors
    from spacy_ctx.errors.analysis import AnalysisErrors
    from spacy_ctx.errors.data import DataErrors
    from spacy_ctx.errors.encoder import EncoderErrors
    from spacy_ctx.errors.training import TrainingErrors

    seen = {}
    for job in (EncoderErrors, TrainingErrors, DataErrors, AnalysisErrors):
        for code in vars(job):
            if re.fullmatch(r"[EA]\d{3}", code):
                assert code not in seen, f"{code} in {job.__name__} and {seen[code]}"
                seen[code] = job.__name__
    assert len(seen) > 100
    assert all(getattr(Errors, code).startswith(f"[spacy-ctx {code}] ") for code in seen)
