"""The package layers of docs/architecture.md §1, read from the source with ``ast``: no package
imports a package of a higher layer (so there are no import cycles between packages), and the
graph of package imports has no cycle. Function-level imports count as much as top-level ones."""

import ast
from pathlib import Path

import pytest

import groklab

SRC = Path(groklab.__file__).parent

# bottom to top; a package may import only from its own layer's modules and the layers below.
# Packages in one layer do not import each other (checked too).
LAYERS = [
    {"errors", "xla_flags", "params", "atomic", "lazy", "compile_cache"},
    {"tasks", "models", "optim", "recipes", "stats"},
    {"objectives", "config"},
    {"engine"},
    {"runs", "testing", "figures"},
    {"distill", "transfer", "export"},
    {"experiments", "report"},
    {"sweeps", "analysis", "quantize"},
    {"cli", "api"},
    {"demo", "__main__"},
]
LAYER_OF = {pkg: i for i, layer in enumerate(LAYERS) for pkg in layer}


def package_imports() -> dict[str, dict[str, list[str]]]:
    """{package: {imported package: ["file:line", ...]}} over every module of groklab."""
    graph: dict[str, dict[str, list[str]]] = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC)
        pkg = rel.parts[0].removesuffix(".py")
        if pkg == "__init__":
            continue
        edges = graph.setdefault(pkg, {})
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "groklab" and len(parts) > 1 and parts[1] != pkg:
                    edges.setdefault(parts[1], []).append(f"{rel}:{node.lineno}")
    return graph


GRAPH = package_imports()


def test_every_package_has_a_layer():
    assert set(GRAPH) <= set(LAYER_OF), sorted(set(GRAPH) - set(LAYER_OF))


@pytest.mark.parametrize("pkg", sorted(GRAPH))
def test_a_package_imports_only_from_lower_layers(pkg):
    wrong = {dep: where for dep, where in GRAPH[pkg].items()
             if LAYER_OF.get(dep, -1) >= LAYER_OF[pkg]}
    assert not wrong, f"{pkg} (layer {LAYER_OF[pkg]}) imports upward or sideways: {wrong}"


def test_runs_knows_nothing_of_what_trains():
    assert not set(GRAPH["runs"]) & {"distill", "transfer", "sweeps", "experiments", "cli"}


def find_cycle(graph: dict[str, dict]) -> list[str] | None:
    """A cycle of the package graph as a list of packages, or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for dep in graph.get(node, {}):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_package_import_cycle():
    assert find_cycle(GRAPH) is None, find_cycle(GRAPH)


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b": []}, "b": {"c": []}, "c": {"a": []}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": []}, "b": {}, "c": {"a": []}}) is None
