"""The package's layers, read from its imports: no cycle, no import up a layer, no module
outside a layer (docs/architecture.md draws the map).

Every module of the installed package is parsed (ast; nothing of it is imported): imports at
module level and inside functions (under ``if TYPE_CHECKING:`` too), relative and absolute, and
``importlib.import_module("fastinit...")`` / ``__import__`` calls with a string literal. The
self-tests at the end run the same checks on a small package with each fault in it.
"""

import ast
import importlib.machinery
import importlib.util
import pathlib
import textwrap

PACKAGE = "fastinit"

#: subpackage -> rank. A module may import its own subpackage and the subpackages of lower rank:
#: nothing above it, and no other subpackage of its rank.
LAYERS = {
    # the compiled core's wrapper: targets, seeds, fills, name streams, the reference
    "fastinit._engine": 0,
    # the initializer API: the engine's fills under torch.nn.init's and Keras/JAX/TF1's names
    "fastinit.init": 1,
    # whole models: patch mode, init_module, materialize, DTensor route and call initializers
    "fastinit.models": 2,
    # checkpoints: fill tensors (config path) and make meta models real (module path)
    "fastinit.checkpoint": 3,
    # diagnose and LSUV: run a model, re-init its layers; beside checkpoint, neither uses it
    "fastinit.diagnostics": 3,
}
#: the compiled extension (pybind11, no Python imports): below every layer
BOTTOM = {"fastinit._core"}
#: the package root (the public API: imports every layer; registers the old module paths),
#: fastinit/cli.py (the CLI's old path, a file for `python -m`) and fastinit/__main__.py
#: (`python -m fastinit`): above every layer
TOP = {"fastinit", "fastinit.cli", "fastinit.__main__"}
_IMPORT_CALLS = {"import_module", "__import__"}


def find_modules(root):
    """{module name: (path, is_package)} of the package whose directory is ``root``; extension
    modules with path None."""
    root = pathlib.Path(root)
    mods = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root.parent)
        if "__pycache__" in rel.parts or not path.is_file():
            continue
        if path.suffix == ".py":
            parts = list(rel.with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            mods[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
        else:
            suffix = next((s for s in importlib.machinery.EXTENSION_SUFFIXES
                           if path.name.endswith(s)), None)
            if suffix is not None:
                mods[".".join(rel.parts[:-1] + (path.name[:-len(suffix)],))] = (None, False)
    return mods


def _imports(name, is_package, tree, mods):
    """(imported module, line) of every import in ``tree`` that names the package."""
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + [node.module or ""])
                base = base.rstrip(".")
            else:
                base = node.module
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield (full if full in mods else base), node.lineno
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if called in _IMPORT_CALLS:
                target = node.args[0].value
                if target.startswith("."):
                    target = package + target if target != "." else package
                yield target, node.lineno


def import_graph(root):
    """{module: {imported module of the package: first line}} over every module under root."""
    mods = find_modules(root)
    graph = {}
    for name, (path, is_package) in mods.items():
        edges = {}
        if path is not None:
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for target, line in _imports(name, is_package, tree, mods):
                if target == PACKAGE or target.startswith(PACKAGE + "."):
                    edges.setdefault(target, line)
        graph[name] = edges
    return mods, graph


def layer_of(name):
    if name in BOTTOM:
        return "(compiled core)", -1
    if name in TOP:
        return "(package root)", float("inf")
    for sub, rank in LAYERS.items():
        if name == sub or name.startswith(sub + "."):
            return sub, rank
    return None, None


def cycles(graph):
    """(one cycle: modules, first = last; every module of its tangle) per strongly connected
    component of the graph."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def connect(v):  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in graph:
                continue
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                found.append((_a_cycle(v, component, graph), sorted(component)))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def _a_cycle(start, component, graph):
    path, seen = [start], {start}
    while True:  # walk inside the component until a module repeats
        nxt = next(w for w in sorted(graph[path[-1]]) if w in component)
        if nxt in seen:
            return path[path.index(nxt):] + [nxt]
        path.append(nxt)
        seen.add(nxt)


def problems(root):
    """Every breach of the layers in the package at ``root``, one line each."""
    mods, graph = import_graph(root)
    out = [f"import cycle: {' -> '.join(c)}" + ("" if len(c) - 1 == len(tangle) else
                                                 f" (the tangle: {', '.join(tangle)})")
           for c, tangle in cycles(graph)]
    for name in sorted(graph):
        layer, rank = layer_of(name)
        if layer is None:
            out.append(f"{name}: outside every layer (put it in one of {sorted(LAYERS)})")
            continue
        for target, line in sorted(graph[name].items()):
            where = f"{name} (line {line}) imports {target}"
            if target not in mods:
                out.append(f"{where}: not a module of the package (an old path? import the "
                           f"module where it lives)")
                continue
            their_layer, their_rank = layer_of(target)
            if their_layer is None or their_layer == layer:
                continue  # outside a layer: reported above
            if their_rank > rank:
                out.append(f"{where}: up from {layer} to {their_layer}")
            elif their_rank == rank:
                out.append(f"{where}: across from {layer} to {their_layer}, of the same rank")
    return out


def installed_root():
    spec = importlib.util.find_spec(PACKAGE)
    return pathlib.Path(list(spec.submodule_search_locations)[0])


def test_the_installed_package_keeps_its_layers():
    root = installed_root()
    mods, graph = import_graph(root)
    # the walk saw the package: the compiled core, every layer, imports in functions too
    assert BOTTOM <= set(mods) and TOP <= set(mods)
    assert all(any(layer_of(m)[0] == sub for m in mods) for sub in LAYERS)
    assert "fastinit._engine._fills" in graph["fastinit.checkpoint.checkpoints"]  # in a function
    found = problems(root)
    assert not found, "the layers are breached:\n" + "\n".join(found)


# --- the checks can fail: a small package with each fault ---------------------------------------

def make_package(tmp_path, files):
    root = tmp_path / PACKAGE
    for rel, text in {"__init__.py": "", "_engine/__init__.py": "", "init/__init__.py": "",
                      "models/__init__.py": "", "checkpoint/__init__.py": "",
                      "diagnostics/__init__.py": "", **files}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def test_a_clean_package_passes(tmp_path):
    root = make_package(tmp_path, {
        "_engine/_fills.py": "from .. import _core\n",
        "_core" + importlib.machinery.EXTENSION_SUFFIXES[0]: "",
        "init/nn_init.py": "from .._engine import _fills\n",
        "models/patch.py": "def f():\n    from ..init.nn_init import x\n",
        "__init__.py": "from .models import patch\nimport fastinit.init.nn_init\n",
    })
    assert problems(root) == []


def test_an_upward_import_inside_a_function_fails(tmp_path):
    root = make_package(tmp_path, {
        "init/nn_init.py": "def f():\n    from ..models import patch\n",
        "models/patch.py": "",
    })
    assert problems(root) == [
        "fastinit.init.nn_init (line 2) imports fastinit.models.patch: up from fastinit.init "
        "to fastinit.models"]


def test_imports_of_the_root_across_layers_and_old_paths_fail(tmp_path):
    root = make_package(tmp_path, {
        "_engine/_fills.py": "import fastinit\n",
        "checkpoint/cli.py": "from fastinit.diagnostics import lsuv\n",
        "diagnostics/lsuv.py": "import importlib\nimportlib.import_module('fastinit.nn_init')\n",
    })
    assert problems(root) == [
        "fastinit._engine._fills (line 1) imports fastinit: up from fastinit._engine to "
        "(package root)",
        "fastinit.checkpoint.cli (line 1) imports fastinit.diagnostics.lsuv: across from "
        "fastinit.checkpoint to fastinit.diagnostics, of the same rank",
        "fastinit.diagnostics.lsuv (line 2) imports fastinit.nn_init: not a module of the "
        "package (an old path? import the module where it lives)"]


def test_a_cycle_fails_even_within_a_layer_and_under_type_checking(tmp_path):
    root = make_package(tmp_path, {
        "diagnostics/diagnose.py": "def f():\n    from ._plots import plot\n",
        "diagnostics/_plots.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                 "    from .diagnose import Report\n",
    })
    assert problems(root) == ["import cycle: fastinit.diagnostics._plots -> "
                              "fastinit.diagnostics.diagnose -> fastinit.diagnostics._plots"]


def test_a_module_outside_the_layers_fails(tmp_path):
    root = make_package(tmp_path, {"_units.py": ""})
    assert problems(root) == ["fastinit._units: outside every layer (put it in one of "
                              "['fastinit._engine', 'fastinit.checkpoint', 'fastinit.diagnostics', "
                              "'fastinit.init', 'fastinit.models'])"]
