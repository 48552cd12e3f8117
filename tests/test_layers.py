"""Imports run one way: envs and planners know nothing of the jobs, no job's model or evaluation
imports its training code, and no module imports itself back through others (no cycles).

Read statically from the source (every ``import`` statement, also those inside functions), so the
check sees the imports a test run would not reach.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Source folders and the package each is installed as (pyproject's package-dir).
PACKAGES = {"clrl": "clrl", "envs": "clrl.envs", "agents": "clrl.agents", "planners": "clrl.planners"}
#: What the lower layers may import from clrl besides themselves: shared leaves, not jobs.
SHARED = ("clrl.errors", "clrl.config", "clrl.configs", "clrl.checkpoint", "clrl.losses", "clrl.precision")
LAYERS = {
    "clrl.envs": ("clrl.envs",) + SHARED,
    "clrl.planners": ("clrl.planners", "clrl.envs") + SHARED,
}
#: Job packages: (training module, the modules that must not import it).
JOBS = {
    "clrl.crtr.train": ("clrl.crtr.model", "clrl.crtr.evaluate", "clrl.crtr.solve"),
    "clrl.vision.train": ("clrl.vision.model", "clrl.vision.evaluate", "clrl.vision.metrics"),
    "clrl.agents.training": ("clrl.agents.evaluation", "clrl.agents.policy", "clrl.agents.ppo"),
}


def module_files() -> dict[str, Path]:
    files = {}
    for folder, package in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            files[".".join([package, *parts])] = path
    return files


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The clrl modules ``name`` imports; ``from pkg import x`` counts as ``pkg.x`` when that is a module."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in known else base)
    return {module for module in found if module.split(".")[0] == "clrl" and module in known}


@pytest.fixture(scope="module")
def graph():
    files = module_files()
    known = set(files)
    return {name: imported_modules(name, path, known) for name, path in files.items()}


def test_the_graph_is_read(graph):
    assert "clrl.crtr.model" in graph["clrl.crtr.solve"]
    assert "clrl.envs.cube.kernels" in graph["clrl.planners.domain"]


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_envs_and_planners_import_no_job(graph, layer):
    allowed = LAYERS[layer]
    for module, imports in graph.items():
        if module == layer or module.startswith(layer + "."):
            wrong = sorted(
                i
                for i in imports
                if i != "clrl" and not any(i == a or i.startswith(a + ".") for a in allowed)
            )
            assert not wrong, f"{module} imports {wrong}"


@pytest.mark.parametrize("training", sorted(JOBS))
def test_models_and_evaluation_never_import_training(graph, training):
    reachable_from = {module: reach(graph, module) for module in JOBS[training] if module in graph}
    assert reachable_from, f"none of {JOBS[training]} exist"
    for module, reached in reachable_from.items():
        assert training not in reached, f"{module} imports {training}"


def test_no_import_cycles(graph):
    for module in graph:
        for imported in graph[module]:
            if imported == module or imported in ("clrl",):
                continue
            # a package's __init__ importing its own submodules is not a cycle of ideas
            if module.startswith(imported + "."):
                continue
            assert module not in reach(graph, imported, skip_packages_of=module), (
                f"import cycle: {module} -> {imported} -> ... -> {module}"
            )


def reach(graph, start: str, skip_packages_of: str | None = None) -> set[str]:
    """Every module ``start`` imports, directly or not."""
    seen, todo = set(), [start]
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt in seen or nxt == "clrl":
                continue
            if skip_packages_of is not None and skip_packages_of.startswith(nxt + "."):
                continue
            seen.add(nxt)
            todo.append(nxt)
    return seen
