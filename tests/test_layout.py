"""The package's layout is what the README says it is, and its imports have no cycle."""

from __future__ import annotations

import ast
import re

from autograder.paths import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "autograder"


def modules_on_disk() -> set[str]:
    return {str(path.relative_to(PROJECT_ROOT)) for path in PACKAGE.rglob("*.py") if path.name != "__init__.py"}


def modules_in_readme_map() -> set[str]:
    """The module map in README.md's Layout: an indented line per module or folder."""
    block = re.search(r"^autograder/ .*?\n(.*?)^\S", (PROJECT_ROOT / "README.md").read_text(), re.S | re.M)
    assert block, "README.md's Layout has no autograder/ map"
    found, folders = set(), []
    for line in block.group(1).splitlines():
        depth = (len(line) - len(line.lstrip())) // 2
        names = line.strip().split("  ", 1)[0]  # the names, then two spaces and what they hold
        folders = folders[:depth - 1]
        if names.endswith("/"):
            folders.append(names)
            continue
        for name in re.findall(r"[\w]+\.py", names):
            found.add("autograder/" + "".join(folders) + name)
    return found


def test_the_readme_maps_every_module_and_nothing_else():
    on_disk, mapped = modules_on_disk(), modules_in_readme_map()
    assert not on_disk - mapped, f"modules missing from README.md's map: {sorted(on_disk - mapped)}"
    assert not mapped - on_disk, f"README.md maps modules that do not exist: {sorted(mapped - on_disk)}"


def import_graph() -> dict[str, set[str]]:
    """module -> the autograder modules it imports (lazy imports inside functions too)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                imported = resolve(target) if target.startswith("autograder") else None
                if imported and imported != name and not name.startswith(imported + "."):
                    graph[name].add(imported)
    return graph


def test_no_module_imports_one_that_imports_it_back():
    graph = import_graph()

    def reaches(start: str, goal: str) -> bool:
        seen, stack = set(), [start]
        while stack:
            current = stack.pop()
            if current == goal:
                return True
            if current not in seen:
                seen.add(current)
                stack.extend(graph[current])
        return False

    cycles = sorted({tuple(sorted((a, b))) for a in graph for b in graph[a] if reaches(b, a)})
    assert not cycles, f"import cycles: {cycles}"


def test_no_module_reads_another_modules_private_names():
    """``from autograder.x import y`` then ``y._z``, or ``import autograder.x`` then
    ``autograder.x._z``: a name that starts with ``_`` is its module's own."""
    readings = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        modules = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                   and (node.module or "").startswith("autograder") for alias in node.names}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and node.value.id in modules):
                readings.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}: {node.value.id}.{node.attr}")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("autograder"):
                readings += [f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}: imports {alias.name}"
                             for alias in node.names if alias.name.startswith("_")]
    assert not readings, "\n".join(readings)
