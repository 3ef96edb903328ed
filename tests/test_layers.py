"""The import graph keeps the shape docs/architecture.md draws (no server, no Docker):

    cli -> testing -> server -> access, http_limits -> ui -> api -> pipelines -> runtime -> core -> store, with
    aws/ (wire), config and tls (the emulator's certificates) at the bottom; beside server, the two listeners
    that serve it (listeners) and the client-side SDK set-up (sdk_setup)

every import points down (the one exception: pipelines builds its execution controller on the runtime's
controller base, emulator.runtime.controllers, and uses nothing else of the runtime), no module imports
another's private names, no two modules import each other (even only for type checking), and only
emulator/config.py reads the environment (the client-side test support, emulator/testing, excepted).
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1] / "emulator"
LEVEL = {"aws": 0, "store": 0, "config": 0, "tls": 0, "core": 1, "runtime": 2, "pipelines": 3, "api": 4, "ui": 5,
         "access": 5.5, "http_limits": 5.5, "server": 6, "listeners": 6, "sdk_setup": 6, "testing": 7, "cli": 8}
# Client-side packages: they prepare the environment of clients and of the emulators they start
# (AWS_ENDPOINT_URL, credentials, xdist worker ids), so reading it is their job, not configuration.
CLIENT_SIDE = ("testing",)
# Layers that may reach only part of a lower one.
ONLY = {("pipelines", "runtime"): "emulator.runtime.controllers"}


def modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts).removesuffix(".__init__")
        out[name] = ast.parse(path.read_text(), filename=str(path))
    return out


def imports(tree: ast.Module, known: set[str]) -> list[tuple[str, list[str]]]:
    """(imported module, names imported from it) for every import, at any depth."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [alias.name for alias in node.names]
            submodules = [f"{node.module}.{n}" for n in names if f"{node.module}.{n}" in known]
            found += [(m, []) for m in submodules]
            found.append((node.module, [n for n in names if f"{node.module}.{n}" not in known]))
    return [(module, names) for module, names in found if module.startswith("emulator.")]


def layer(module: str) -> str:
    return module.split(".")[1]


def test_every_import_points_down_the_layers():
    mods = modules()
    wrong = []
    for module, tree in mods.items():
        if module == "emulator" or layer(module) not in LEVEL:
            continue
        for target, _ in imports(tree, set(mods)):
            src, dst = layer(module), layer(target)
            if src == dst or dst not in LEVEL:
                continue
            if LEVEL[dst] >= LEVEL[src] or not target.startswith(ONLY.get((src, dst), "emulator.")):
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports pointing up (or across) the layers:\n" + "\n".join(sorted(set(wrong)))


def test_no_private_names_are_imported_across_modules():
    mods = modules()
    private = [f"{module}: from {target} import {name}"
               for module, tree in mods.items() for target, names in imports(tree, set(mods))
               for name in names if name.startswith("_") and target != module]
    assert not private, "\n".join(private)


def test_no_import_cycles():
    mods = modules()
    graph = nx.DiGraph()
    for module, tree in mods.items():
        for target, _ in imports(tree, set(mods)):
            if target in mods and target != module and not module.startswith(target + "."):
                graph.add_edge(module, target)
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, "\n".join(" -> ".join(c + [c[0]]) for c in cycles)


def test_only_the_settings_read_the_environment():
    readers = []
    for path in sorted(ROOT.rglob("*.py")):
        if path.name == "config.py" and path.parent == ROOT:
            continue
        if path.relative_to(ROOT).parts[0] in CLIENT_SIDE:
            continue
        text = path.read_text()
        if "os.environ" in text or "getenv(" in text:
            readers.append(str(path.relative_to(ROOT.parent)))
    assert not readers, f"read the environment outside emulator/config.py: {readers}"
