"""The library's imports: one-way layers, no cycles inside dcgan/, no gradio outside dcgan/ui/, and imports at
the top of modules.

Read from the source with ast (nothing is imported), so a cycle fails here even when Python's
import order happens to hide it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "dcgan"

# The only imports inside functions in dcgan/ (outside dcgan/ui/), each lazy for a reason said in a
# comment beside it: (module, imported module). A new function-level import fails the test below.
DELIBERATE_LAZY_IMPORTS = {
    ("dcgan.training.chunked", "spaces"),  # only installed on Hugging Face Spaces
    ("dcgan.training.distributed", "torch.distributed.nn.functional"),  # only multi-process SyncBN
    ("dcgan.store.model_files", "huggingface_hub"),  # ~0.3 s, only Hub ids need it
    ("dcgan.store.model_files", "huggingface_hub.errors"),
    ("dcgan.store.model_files", "huggingface_hub.utils"),
    ("dcgan.store.hub", "huggingface_hub"),  # ~0.3 s, only publishing to the Hub needs it
}


# The layers, lowest first: a module may import from its own layer and the ones before it, never from a later
# one. (ARCHITECTURE.md draws the same picture; each subpackage's __init__.py says what it may import.)
BASE = {"dcgan.errors", "dcgan.device", "dcgan.io_utils", "dcgan.images"}  # the modules beside the subpackages
LAYERS = [
    "base",
    "dcgan.data",
    "dcgan.nets",
    "dcgan.store",
    "dcgan.interop",
    "dcgan.quality",
    "dcgan.training",
    "dcgan.explore",
    "dcgan.serve",
    "dcgan.ui",
    "dcgan.cli",
    "api",  # `import dcgan` itself, `python -m dcgan`, and dcgan.latent (the README's old import path)
]
API = {"dcgan", "dcgan.__main__", "dcgan.latent"}


def layer_of(module: str) -> int:
    if module in BASE:
        return 0
    if module in API:
        return len(LAYERS) - 1
    package = ".".join(module.split(".")[:2])
    if package not in LAYERS:
        raise AssertionError(f"{module} is in no layer: add its subpackage to LAYERS (or to BASE)")
    return LAYERS.index(package)


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """`a -> b` for every import of a later layer's module: the imports the layering forbids."""
    return sorted(
        f"{module} ({LAYERS[layer_of(module)]}) -> {target} ({LAYERS[layer_of(target)]})"
        for module, targets in graph.items()
        for target in targets
        if layer_of(target) > layer_of(module)
    )


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def imported_modules(node: ast.Import | ast.ImportFrom, module: str, package: bool) -> list[str]:
    """Absolute names of what `node` imports; `from . import x` names the submodule dcgan.x."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level == 0 and (node.module or "").split(".")[0] != "dcgan":
        return [node.module or ""]
    if node.level == 0:  # `from dcgan.ui import walk` imports dcgan.ui and dcgan.ui.walk
        return [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    base = module.split(".")
    base = base if package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    target = ".".join(base + ([node.module] if node.module else []))
    if node.module:
        return [target]
    return [f"{target}.{alias.name}" for alias in node.names]


def is_type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def collect_imports(tree: ast.AST) -> tuple[list[ast.AST], list[ast.AST]]:
    """(imports that run when the module is imported, imports inside functions)."""
    module_level: list[ast.AST] = []
    in_functions: list[ast.AST] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                (in_functions if in_function else module_level).append(child)
            elif is_type_checking_block(child) and not in_function:
                visit_orelse(child)  # the TYPE_CHECKING body never runs
            else:
                visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    def visit_orelse(node: ast.If) -> None:
        for child in node.orelse:
            visit(ast.Module(body=[child], type_ignores=[]), False)

    visit(tree, False)
    return module_level, in_functions


def library_files(include_ui: bool = True) -> list[Path]:
    files = sorted(PACKAGE.rglob("*.py"))
    return [path for path in files if include_ui or "ui" not in path.relative_to(PACKAGE).parts[:-1]]


def package_modules() -> set[str]:
    return {module_name(path) for path in library_files()}


def import_graph(include_functions: bool = False) -> dict[str, set[str]]:
    """dcgan module -> the dcgan modules it imports when it is imported (or, also, inside its functions)."""
    known = package_modules()
    graph: dict[str, set[str]] = {}
    for path in library_files():
        module = module_name(path)
        module_level, in_functions = collect_imports(ast.parse(path.read_text(), str(path)))
        targets = set()
        for node in module_level + (in_functions if include_functions else []):
            for name in imported_modules(node, module, is_package(path)):
                if name.count(".") == 1 and name.startswith("dcgan.") and name not in known:
                    targets.add("dcgan")  # `from dcgan import Generator`: the package root, the top layer
                    continue
                # `from .data import x` imports dcgan.data; `from . import data` imports dcgan.data too
                while name and name not in known:
                    name = name.rpartition(".")[0]
                # a module's own packages are imported before it, whatever it says: not an edge
                if name and name != module and not module.startswith(name + "."):
                    targets.add(name)
        graph[module] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    visiting: list[str] = []
    done: set[str] = set()

    def visit(module: str) -> list[str] | None:
        if module in visiting:
            return visiting[visiting.index(module) :] + [module]
        if module in done:
            return None
        visiting.append(module)
        for target in sorted(graph.get(module, ())):
            cycle = visit(target)
            if cycle:
                return cycle
        visiting.pop()
        done.add(module)
        return None

    for module in sorted(graph):
        cycle = visit(module)
        if cycle:
            return cycle
    return None


def test_the_graph_sees_the_library_imports() -> None:
    graph = import_graph()
    assert "dcgan.nets.models" in graph["dcgan.store.checkpoints"]
    assert "dcgan.data.loading" in graph["dcgan.data"]  # the package registers the built-in datasets
    assert "dcgan.data.emoji" in graph["dcgan.data.loading"]
    assert "dcgan.data.dataset" in graph["dcgan.data.emoji"]
    assert "dcgan.ui.session" in graph


def test_every_module_is_in_a_layer_and_no_import_goes_up() -> None:
    graph = import_graph(include_functions=True)
    for module in graph:
        layer_of(module)  # fails naming a module outside every layer
    upward = upward_imports(graph)
    assert not upward, (
        "imports from a higher layer (see LAYERS): " + "; ".join(upward) + ". Move the code down, or pass what "
        "it needs down as an argument (as dcgan/store/pretrained.py attaches Generator's Hub methods)"
    )


def test_an_upward_import_is_found() -> None:
    # The check itself, on a made-up graph: nets reaching up into store, and a view reaching into the UI.
    graph = {
        "dcgan.nets.models": {"dcgan.store.model_files", "dcgan.errors"},
        "dcgan.explore.walk": {"dcgan.ui.common", "dcgan.nets.latent"},
        "dcgan.store.model_files": {"dcgan.nets.config"},
        "dcgan.data.loading": {"dcgan"},  # the package root is the top layer: no subpackage may import it
    }
    assert upward_imports(graph) == [
        "dcgan.data.loading (dcgan.data) -> dcgan (api)",
        "dcgan.explore.walk (dcgan.explore) -> dcgan.ui.common (dcgan.ui)",
        "dcgan.nets.models (dcgan.nets) -> dcgan.store.model_files (dcgan.store)",
    ]
    with pytest.raises(AssertionError, match="in no layer"):
        layer_of("dcgan.plugins.thing")


def test_gradio_only_in_the_ui() -> None:
    for path in library_files(include_ui=False):
        module = module_name(path)
        module_level, in_functions = collect_imports(ast.parse(path.read_text(), str(path)))
        for node in module_level + in_functions:
            names = imported_modules(node, module, is_package(path))
            assert not any(name.split(".")[0] == "gradio" for name in names), f"{module} imports gradio"


def test_a_cycle_is_found() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_library_has_no_import_cycle() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
    # A cycle hidden behind an import inside a function is still a cycle (models <-> checkpoints was one).
    cycle = find_cycle(import_graph(include_functions=True))
    assert cycle is None, "import cycle through a function-level import: " + " -> ".join(cycle or [])


def test_library_imports_are_at_the_top_of_modules() -> None:
    found = set()
    for path in library_files(include_ui=False):
        module = module_name(path)
        _, in_functions = collect_imports(ast.parse(path.read_text(), str(path)))
        for node in in_functions:
            for name in imported_modules(node, module, is_package(path)):
                found.add((module, name))
    unexpected = sorted(found - DELIBERATE_LAZY_IMPORTS)
    assert not unexpected, (
        f"imports inside functions: {unexpected}; put them at the top of the module, or, if there is a "
        "measured reason (an optional dependency, start-up time), say it in a comment and list it here"
    )
    intra_package = [item for item in found if item[1].startswith("dcgan")]
    assert len(intra_package) <= 0, f"function-level imports of the library itself: {sorted(intra_package)}"
