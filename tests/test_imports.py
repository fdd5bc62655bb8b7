"""The package's layering, read from the source: the modules of sb3_arq import each other without a cycle, and the
algorithm (sb3_arq.arq) knows nothing of the environments (sb3_arq.envs)."""

import ast
import graphlib
from pathlib import Path

import pytest

import sb3_arq

PACKAGE_DIR = Path(sb3_arq.__file__).parent


def package_import_graph() -> dict[str, set[str]]:
    """
    The imports between the modules of ``sb3_arq``, read from their source: every ``import`` statement, at module level,
    inside a function or under ``TYPE_CHECKING`` (a deferred import still ties the two modules together). A submodule's
    import of its parent packages, which Python does first anyway, is not an edge unless written.

    :return: Module name (``sb3_arq.arq.arq``; a package by its name) -> the names of the ``sb3_arq`` modules it imports.
    """
    modules = {}
    for path in PACKAGE_DIR.rglob("*.py"):
        parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in modules.items():
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module is not None:
                # "from sb3_arq.zoo import sampler" imports the module sampler, "from sb3_arq.zoo import register" the package
                submodules = {f"{node.module}.{alias.name}" for alias in node.names} & set(modules)
                imported.update(submodules)
                if len(submodules) < len(node.names):
                    imported.add(node.module)
        graph[name] = {module for module in imported if module in modules and module != name}
    return graph


def test_package_modules_import_no_cycle():
    graph = package_import_graph()
    assert graph["sb3_arq.zoo"] >= {"sb3_arq.zoo.sampler"}  # register() imports the search space
    try:
        order = list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        pytest.fail(f"import cycle in sb3_arq: {' -> '.join(error.args[1])}")
    assert set(order) == set(graph)


def test_the_algorithm_imports_nothing_of_the_environments():
    """ARQ reads what it needs of an env through the VecEnv (e.g. ``action_encoding``); env ids are registered by
    ``sb3_arq.envs`` (imported by ``import sb3_arq``), not by the algorithm. Directly or through other modules."""
    graph = package_import_graph()
    reached, to_visit = set(), [name for name in graph if name.startswith("sb3_arq.arq")]
    while to_visit:
        module = to_visit.pop()
        if module not in reached:
            reached.add(module)
            to_visit.extend(graph[module])
    assert "sb3_arq.arq.arq" in reached
    assert not {module for module in reached if module.startswith("sb3_arq.envs")}
