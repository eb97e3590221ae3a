"""The package's imports run one way: each module imports only modules of its own layer or
the layers below it (the data flow of docs/architecture.md), and no two modules import
each other, directly or through others. Every import counts, at module level or inside a
function. ``python -m pytest tests/test_layers.py`` is the check anyone can run.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "retrieval_tagger"

# Lowest first. A module belongs to the layer of the longest prefix that names it.
LAYERS = [
    ["errors", "artifacts", "progress", "tag_defaults"],
    ["catalog", "catalog_files", "tags", "cooccurrence", "hierarchy", "language"],
    ["encoders"],
    ["index"],
    ["queries"],
    ["signals", "align"],
    ["vocab", "build", "mmr", "metrics", "precision", "leave_one_out", "answers"],
    ["rerank"],
    ["pipeline", "output", "explain"],
    ["jobs"],
    ["serve"],  # a front-end like cli; cli starts it
    ["cli"],
]


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def layer_of(module: str) -> int | None:
    """The layer of ``retrieval_tagger.a.b``: that of the longest listed prefix of ``a.b``."""
    rest = module.split(".")[1:]
    for cut in range(len(rest), 0, -1):
        prefix = ".".join(rest[:cut])
        for rank, names in enumerate(LAYERS):
            if prefix in names:
                return rank
    return None


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package modules that module ``name`` imports (a package's own __init__ excluded)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                out.add(target)
    return out


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def upward_imports(edges: dict[str, set[str]]) -> list[str]:
    return [
        f"{source} (layer {layer_of(source)}) imports {target} (layer {layer_of(target)})"
        for source, targets in sorted(edges.items()) if source != "retrieval_tagger"
        for target in sorted(targets) if target != "retrieval_tagger" and layer_of(target) > layer_of(source)
    ]


def circles(edges: dict[str, set[str]]) -> list[str]:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    found = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                found.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return found


def test_every_module_has_a_layer():
    unplaced = sorted(m for m in modules() if m != "retrieval_tagger" and layer_of(m) is None)
    assert not unplaced, f"add these modules to LAYERS in tests/test_layers.py and docs/architecture.md: {unplaced}"


def test_imports_never_go_up_a_layer():
    found = upward_imports(graph())
    assert not found, "\n".join(found)


def test_no_import_circles():
    found = circles(graph())
    assert not found, "\n".join(found)


def test_the_checks_find_planted_violations():
    """The walk reads real imports, and both checks fire on a graph with a planted upward
    import and a planted circle."""
    edges = graph()
    assert "retrieval_tagger.index.store" in edges["retrieval_tagger.signals.knn"]
    planted = {
        **edges,
        "retrieval_tagger.signals.knn": edges["retrieval_tagger.signals.knn"] | {"retrieval_tagger.pipeline"},
        "retrieval_tagger.tags": edges["retrieval_tagger.tags"] | {"retrieval_tagger.cooccurrence"},
        "retrieval_tagger.cooccurrence": edges["retrieval_tagger.cooccurrence"] | {"retrieval_tagger.tags"},
    }
    assert any("signals.knn (layer 5) imports retrieval_tagger.pipeline" in line for line in upward_imports(planted))
    assert any("cooccurrence" in line and "tags" in line for line in circles(planted))
