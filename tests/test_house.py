"""The house rules the code is held to: names that say what a thing is, signatures a reader can
follow, imports that point one way."""

from __future__ import annotations

import ast
import sys

from tests.conftest import ONE_PROCESS, ROOT

PACKAGE = ROOT / "propensity"
MOST_POSITIONAL = 8


def test_no_product_module_is_named_like_a_test() -> None:
    assert not [p.relative_to(ROOT) for p in PACKAGE.rglob("test_*.py")]


def test_no_function_takes_more_than_eight_positional_parameters() -> None:
    wide = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                arguments = node.args.posonlyargs + node.args.args
                positional = [a for a in arguments if a.arg not in ("self", "cls")]
                if len(positional) > MOST_POSITIONAL:
                    wide.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({len(positional)})")
    assert not wide, "use keyword-only parameters or a settings object: " + "; ".join(wide)


def test_no_import_circle_even_through_imports_inside_functions() -> None:
    import grimp

    graph = grimp.build_graph("propensity", cache_dir=None)
    edges = {m: {d for d in graph.find_modules_directly_imported_by(m) if d.startswith("propensity")}
             for m in graph.modules}
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in edges[module]:
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    assert not circles


def test_the_groups_kept_in_one_process_name_tests_that_exist() -> None:
    """A renamed file or test would leave its group, and run beside the tests it must not."""
    for prefix in ONE_PROCESS:
        path, _, name = prefix.partition("::")
        assert (ROOT / path).is_file(), prefix
        assert not name or f"def {name}(" in (ROOT / path).read_text(), prefix
