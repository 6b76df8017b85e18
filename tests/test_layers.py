"""The package's layers: each module imports only from its own layer and those below it, the
import graph (function bodies included) has no cycle, and every import inside a function is a
deliberate lazy one with its reason written beside it (`# lazy: ...`)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "jaxrl"

# Lowest first. The core is pure and imports nothing from jaxrl outside it; the package's
# __init__ (which only names the API) sits on top with the command line.
LAYERS = [
    ["jaxrl.core"],
    ["jaxrl.errors"],
    ["jaxrl.envs"],
    ["jaxrl.algos"],
    ["jaxrl.config", "jaxrl.search"],
    ["jaxrl.logs"],
    ["jaxrl.training"],
    ["jaxrl.analysis"],
    ["jaxrl.exporter"],
    ["jaxrl.api", "jaxrl.functional"],
    ["jaxrl.cli", "jaxrl"],
]
# Beyond the order: analysis works from a finished run's files, never from a live session.
FORBIDDEN = {"jaxrl.analysis": ["jaxrl.training"]}


def module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


MODULES = module_names()


def layer_of(module: str) -> int:
    best = None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (index, len(prefix))
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best[0]


def imports(module: str, path: Path | None = None) -> list[tuple[str, int, bool]]:
    """(imported name, line, inside a function) for every import statement of `module`."""
    path = path or MODULES[module]
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []

    def visit(node, in_function: bool):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                found.extend((alias.name, child.lineno, in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    parent = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join(parent + ([base] if base else []))
                found.extend((f"{base}.{alias.name}", child.lineno, in_function) for alias in child.names)
            visit(child, inside)

    visit(tree, False)
    return found


def resolved(name: str) -> str | None:
    """The jaxrl module an imported name lives in (`jaxrl.core.types.Env` -> `jaxrl.core.types`)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def broken_imports(module: str, path: Path) -> list[str]:
    broken = []
    for name, line, _ in imports(module, path):
        target = resolved(name)
        if target is None or target == module:
            continue
        if layer_of(target) > layer_of(module):
            broken.append(f"{path.name}:{line} {module} imports {target}, a layer above it")
        for prefix, banned in FORBIDDEN.items():
            if module.startswith(prefix) and any(target.startswith(b) for b in banned):
                broken.append(f"{path.name}:{line} {module} imports {target}")
    return broken


def test_every_module_imports_only_its_own_layer_and_those_below():
    broken = [line for module, path in MODULES.items() for line in broken_imports(module, path)]
    assert not broken, "\n".join(broken)


def test_the_import_graph_has_no_cycle():
    graph = {
        module: {t for name, _, _ in imports(module) if (t := resolved(name)) and t != module and t != "jaxrl"}
        for module in MODULES
    }
    done, path = set(), []

    def visit(module):
        if module in path:
            pytest.fail("import cycle: " + " -> ".join(path[path.index(module) :] + [module]))
        if module in done:
            return
        path.append(module)
        for target in sorted(graph[module]):
            visit(target)
        path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)


def explained(lines: list[str], line: int) -> bool:
    """A `# lazy` comment on the import's line or on the comment and import lines just above it."""
    for text in reversed(lines[:line]):
        if "# lazy" in text:
            return True
        if not text.strip().startswith(("import ", "from ", "#")):
            return False
    return False


def test_imports_inside_functions_are_lazy_on_purpose_with_a_reason():
    unexplained = []
    for module, path in MODULES.items():
        lines = path.read_text().splitlines()
        for _, line, in_function in imports(module):
            if in_function and not explained(lines, line):
                unexplained.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {lines[line - 1].strip()}")
    assert not unexplained, "imports inside functions without a '# lazy: reason' comment:\n" + "\n".join(unexplained)


def test_the_checks_catch_an_upward_import_and_an_unexplained_lazy_one(tmp_path):
    """The checkers themselves can fail: an algorithm that imports the session inside a function
    breaks both rules; a core module that imports jaxrl.errors breaks the first."""
    algorithm = tmp_path / "fake.py"
    algorithm.write_text("def build():\n    from jaxrl.training.session import train\n    return train\n")
    assert broken_imports("jaxrl.algos.fake", algorithm) == [
        "fake.py:2 jaxrl.algos.fake imports jaxrl.training.session, a layer above it"
    ]
    assert not explained(algorithm.read_text().splitlines(), 2)
    core = tmp_path / "core.py"
    core.write_text("from jaxrl.errors import ConfigError\n")
    assert broken_imports("jaxrl.core.fake", core)
