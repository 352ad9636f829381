"""The layers of the house: which numpynet module may import which, and no import cycle.

    shapes, config, files      leaves: import nothing of numpynet
    backend                    arrays and devices: only the leaves
    kernels                    the hot loops: never the layers (nor anything above them)
    layers                     never the models, the data or the programs that train

The graph is read from the source (every `import` and `from ... import`, at module level and
inside functions alike, since a lazy import closes a cycle as surely as an eager one does).
"""

import ast
import re
from pathlib import Path

import pytest

import numpynet

PACKAGE = Path(numpynet.__file__).resolve().parent


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _known(name):
    """`name`, or the nearest enclosing module that exists (numpynet.x.f -> numpynet.x)."""
    while name not in MODULES and "." in name:
        name = name.rpartition(".")[0]
    return name


def _imports(name):
    """The numpynet modules that module `name` imports anywhere in its source."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {_known(a.name) for a in node.names if a.name.split(".")[0] == "numpynet"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "numpynet":
                continue
            for alias in node.names:                  # a submodule, or a name in `target`
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in MODULES else _known(target))
    found.discard(name)
    return found


GRAPH = {name: _imports(name) for name in MODULES}


def _cycle():
    """One import cycle as a list of modules [a, b, ..., a], or None."""
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(GRAPH[m]):
            if state.get(n) == "open":
                return stack[stack.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        state[m] = "done"
        stack.pop()
        return None

    for m in sorted(GRAPH):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_the_graph_is_read():
    assert "numpynet.kernels.dispatch" in GRAPH["numpynet.kernels.im2col"]
    assert "numpynet.layers.base" in GRAPH["numpynet.layers.conv"]
    assert "numpynet.gpu.kernels" in GRAPH["numpynet.kernels.dispatch"]   # a lazy import


def test_no_import_cycle():
    cycle = _cycle()
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def _under(prefix):
    return {m for m in MODULES if m == prefix or m.startswith(prefix + ".")}


def _offending(modules, allowed=None, forbidden=None):
    bad = {}
    for m in sorted(modules):
        imported = GRAPH[m]
        wrong = (imported - allowed) if allowed is not None else imported & forbidden
        if wrong:
            bad[m] = sorted(wrong)
    return bad


@pytest.mark.parametrize("leaf", ["numpynet.shapes", "numpynet.config", "numpynet.files"])
def test_leaves_import_nothing_of_numpynet(leaf):
    assert GRAPH[leaf] == set(), f"{leaf} imports {sorted(GRAPH[leaf])}"


def test_backend_imports_only_the_leaves():
    assert not _offending({"numpynet.backend"}, allowed={"numpynet.config", "numpynet.shapes"})


def test_kernels_import_no_layers():
    above = _under("numpynet.layers") | _under("numpynet.models") | _under("numpynet.data")
    assert not _offending(_under("numpynet.kernels") | _under("numpynet.gpu.kernels"),
                          forbidden=above)


def test_the_book_never_imports_the_engine():
    """The layers, the model, SGD and im2col read as the math; the compiled, chunked, memory-
    reusing versions (kernels/fast/) reach them only through kernels/dispatch.py."""
    book = (_under("numpynet.layers") | _under("numpynet.models")
            | {"numpynet.optim", "numpynet.kernels.im2col", "numpynet.kernels.dispatch"})
    assert not _offending(book, forbidden=_under("numpynet.kernels.fast"))


def test_layers_import_no_models_data_or_programs():
    above = (_under("numpynet.models") | _under("numpynet.data")
             | {m for m in MODULES if m.rpartition(".")[2] in ("train", "evaluate", "bench")})
    assert not _offending(_under("numpynet.layers"), forbidden=above)


def test_parallel_imports_no_data_or_programs():
    """parallel/ sits below the programs that use it (train, bench): it spreads a network and
    its steps over processes and knows nothing of datasets or command lines."""
    above = (_under("numpynet.data") | _under("numpynet.bench") | _under("numpynet.run")
             | {f"numpynet.{p}" for p in ("train", "evaluate", "predict", "export")})
    assert not _offending(_under("numpynet.parallel"), forbidden=above)


def _code_strings(path):
    """The string constants of a module's code (its docstrings left out)."""
    tree = ast.parse(path.read_text(), str(path))
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and n.body and isinstance(n.body[0], ast.Expr)
            and isinstance(n.body[0].value, ast.Constant)}
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
            and isinstance(n.value, str) and id(n) not in docs]


def test_the_package_needs_no_checkout():
    """Developer tooling that runs the checkout's tests/ lives in tools/ (tools/gpucheck.py),
    outside the installed package: no module of numpynet names a file of the checkout's
    tests/ or tools/ in its code."""
    bad = {m: s for m, p in MODULES.items() for s in _code_strings(p)
           if re.search(r"\b(tests|tools)/\w+\.py", s)}
    assert not bad, f"modules that need the checkout: {bad}"
    assert not (PACKAGE / "gpucheck.py").exists()


def test_weights_import_no_programs():
    """weights/ reads and writes trained weights for the programs (predict, evaluate, export)
    and sits below them."""
    above = (_under("numpynet.bench") | _under("numpynet.parallel")
             | {f"numpynet.{p}" for p in ("train", "evaluate", "predict", "export")})
    assert not _offending(_under("numpynet.weights"), forbidden=above)


def test_the_experiments_sit_on_top():
    """ablate and diagnostics drive train (its main, its Run); nothing imports them."""
    top = {"numpynet.ablate", "numpynet.diagnostics"}
    users = {m for m in MODULES if GRAPH[m] & top}
    assert not users, f"{sorted(users)} import an experiment"
    assert "numpynet.train" in GRAPH["numpynet.ablate"] | GRAPH["numpynet.diagnostics"]


def test_the_step_and_the_settings_sit_below_the_programs():
    """train_step is duck-typed (it imports nothing); the settings know the models and the lr
    schedules, never the data or the programs that read them."""
    assert GRAPH["numpynet.step"] == set()
    above = (_under("numpynet.data") | _under("numpynet.parallel") | _under("numpynet.bench")
             | _under("numpynet.run")
             | {f"numpynet.{p}" for p in ("train", "evaluate", "predict", "ablate", "diagnostics")})
    assert not _offending({"numpynet.settings"}, forbidden=above)


def test_a_runs_parts_sit_below_its_command_line():
    """run/ (one training run's loop, stopping and records) is train's; it never imports train."""
    assert not _offending(_under("numpynet.run"), forbidden={"numpynet.train"})
