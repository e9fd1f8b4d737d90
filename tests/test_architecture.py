"""The house's shape: no import cycle among modules (lazy imports included), no module over 500
lines, and every stage package saying what it does and what it may import."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Set

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("mirrorkit", "serve")


def _graph() -> Dict[str, Set[str]]:
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=True)
    own = {m for m in graph.modules if m.split(".")[0] in PACKAGES}
    return {m: {i for i in graph.find_modules_directly_imported_by(m) if i in own} for m in own}


def _cycles(edges: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_no_import_cycle_among_modules() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_over_500_lines(package: str) -> None:
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / package).rglob("*.py")
            if (n := len(p.read_text("utf-8").splitlines())) > 500}
    assert long == {}


def test_each_stage_package_says_what_it_does_and_may_import() -> None:
    for init in sorted((ROOT / "mirrorkit").glob("*/__init__.py")):
        if init.parent.name in ("sample_site",):
            continue
        doc = init.read_text("utf-8").split('"""')
        assert len(doc) > 2 and "import" in doc[1], f"{init} lacks its one-line contract"
