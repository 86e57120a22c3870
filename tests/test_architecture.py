"""The package's import rules (docs/architecture.md), read from the source.

- Layers: a module imports only from its own layer or the layers below it
  (`LAYERS`, bottom first), so the data flow of the architecture picture
  cannot be bent back.
- No import cycle between modules, whether the import is at the top of a
  module or hidden inside a function.
- Imports of the package sit at the top of their module; only the
  `clinclip` command's dispatch imports a subcommand's module on demand
  (so that `--help` loads no backend).
- A generous size guard (800 lines): modules cohere by job, not by
  length; the guard only catches a module that has swallowed a second job.
- The pipeline's and the evaluation's entry points (`make_dataset`,
  `evaluate_records`) take at most 8 parameters: their settings travel in
  option objects.
- Names that say their command and job: each `clinclip X` is the option
  module `cli/X.py` and one work module `X.py`, and no other file name
  is used twice in the package (`__init__.py`, `__main__.py` aside).

Nothing is imported: the rules are checked on the syntax tree, so a test
run on one backend covers all three.
"""

import ast
import pathlib

import pytest

pytestmark = pytest.mark.backend_independent

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "keras_clinclip"
NAME = "keras_clinclip"

# Bottom first. A module belongs to the first entry that prefixes its name.
LAYERS = (
    (
        "version",
        "chexpert",
        "file_writes",
        "utils",
        "tables",
        "errors",
        "quiet_import",
        "training_defaults",
    ),
    ("backend",),
    ("reports",),
    ("data",),
    ("layers",),
    ("losses",),
    ("models",),
    ("evaluation",),
    ("training",),
    ("cli", "__main__"),
)

# Package modules that may import the package lazily (inside a function),
# with the reason; everything else imports at the top.
LAZY_IMPORTS = {
    "keras_clinclip": "registers the Keras classes after deciding whether "
    "the `clinclip` command is running",
    "keras_clinclip.cli": "imports a subcommand's module after parsing",
}

# A guard, not a budget: split a module by job when it has two, not
# because it is long.
MAX_LINES = 800

# Entry points whose settings travel in option objects (an options object
# counts as one parameter, as do `*args` and `**kwargs`).
MAX_PARAMETERS = {"make_dataset": 8, "evaluate_records": 8}


def _modules():
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _is_package(module):
    return MODULES[module].name == "__init__.py"


def _resolve(module, node):
    """The package modules that an import node names."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == NAME]
    base = node.module or ""
    if node.level:
        anchor = module.split(".")
        if not _is_package(module):
            anchor = anchor[:-1]
        anchor = anchor[: len(anchor) - node.level + 1]
        base = ".".join(anchor + ([base] if base else []))
    if base.split(".")[0] != NAME:
        return []
    targets = []
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        targets.append(sub if sub in MODULES else base)
    return targets


def _imports(module):
    """`(target, lineno, at_top)` of every package import of `module`."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    top = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            top.add(id(node))
        elif isinstance(node, (ast.If, ast.Try)):
            # `try: import x` / `if TYPE_CHECKING:` at module level.
            for child in ast.walk(node):
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    top.add(id(child))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for target in _resolve(module, node):
                if target in MODULES and target != module:
                    found.append((target, node.lineno, id(node) in top))
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def _layer(module):
    rest = module[len(NAME) + 1 :] if module != NAME else ""
    for index, names in enumerate(LAYERS):
        for name in names:
            if rest == name or rest.startswith(name + "."):
                return index
    return None


def test_every_module_has_a_layer():
    missing = [m for m in MODULES if m != NAME and _layer(m) is None]
    assert not missing, f"add these modules to LAYERS: {missing}"


def test_imports_follow_the_layers():
    upward = []
    for module, imports in GRAPH.items():
        if module == NAME:
            continue
        for target, line, _ in imports:
            if target == NAME:
                continue
            if _layer(target) > _layer(module):
                upward.append(f"{module}:{line} imports {target}")
    assert not upward, "imports against the layers:\n" + "\n".join(upward)


def _cycles():
    edges = {
        m: sorted({t for t, _, _ in imports if not _skip(m, t)})
        for m, imports in GRAPH.items()
    }
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in edges:
        if node not in index:
            visit(node)
    return found


def _skip(module, target):
    # A package's __init__ re-exports its submodules: the edge from the
    # package to its own submodule is how Python imports work, not a cycle.
    return target.startswith(module + ".") and _is_package(module)


def test_no_import_cycle():
    assert not _cycles()


def test_package_imports_sit_at_the_top():
    lazy = [
        f"{module}:{line} imports {target} inside a function"
        for module, imports in GRAPH.items()
        if module not in LAZY_IMPORTS
        for target, line, at_top in imports
        if not at_top
    ]
    assert not lazy, "\n".join(lazy)


def test_no_module_is_over_the_size_guard():
    long = [
        f"{module}: {lines} lines (guard {MAX_LINES})"
        for module, path in sorted(MODULES.items())
        if (lines := path.read_text(encoding="utf-8").count("\n")) > MAX_LINES
    ]
    assert not long, "\n".join(long)


def _parameter_counts(source):
    """`{name: parameter count}` of the `MAX_PARAMETERS` functions."""
    counts = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name in MAX_PARAMETERS:
            args = node.args
            counts[node.name] = (
                len(args.posonlyargs)
                + len(args.args)
                + len(args.kwonlyargs)
                + (args.vararg is not None)
                + (args.kwarg is not None)
            )
    return counts


def test_entry_points_take_few_parameters():
    found = {}
    for module, path in sorted(MODULES.items()):
        counts = _parameter_counts(path.read_text(encoding="utf-8"))
        for name, count in counts.items():
            found[f"{module}.{name}"] = (name, count)
    assert {name for name, _ in found.values()} == set(MAX_PARAMETERS)
    over = [
        f"{where}: {count} parameters (at most {MAX_PARAMETERS[name]})"
        for where, (name, count) in found.items()
        if count > MAX_PARAMETERS[name]
    ]
    assert not over, "\n".join(over)
    # The counter can fail: every kind of parameter counts.
    planted = "def make_dataset(a, /, b, *c, d=1, **e):\n    pass\n"
    assert _parameter_counts(planted) == {"make_dataset": 5}


def test_the_rules_see_a_planted_violation():
    # The checker itself can fail: an import hidden in a function, upward.
    tree = ast.parse(
        "def f():\n    from keras_clinclip.training import train\n"
    )
    node = tree.body[0].body[0]
    assert _resolve("keras_clinclip.reports.labeler", node) == [
        "keras_clinclip.training.train"
    ]
    assert _layer("keras_clinclip.training.train") > _layer(
        "keras_clinclip.reports.labeler"
    )


def _subcommands():
    """`{command: work module}` read from `clinclip`'s `SUBCOMMANDS`."""
    tree = ast.parse((PACKAGE / "cli" / "__init__.py").read_text("utf-8"))
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and getattr(node.targets[0], "id", None) == "SUBCOMMANDS"
        ):
            return {
                key.value: call.args[1].value
                for key, call in zip(node.value.keys, node.value.values)
            }
    raise AssertionError("keras_clinclip/cli/__init__.py has no SUBCOMMANDS")


def test_each_command_is_an_option_module_and_a_work_module_named_alike():
    commands = _subcommands()
    assert {"train", "evaluate", "explain", "prepare"} <= set(commands)
    for command, work in commands.items():
        assert f"{NAME}.cli.{command}" in MODULES, command
        assert work in MODULES and work.rsplit(".", 1)[-1] == command, (
            f"`clinclip {command}` works in {work}: name it {command}.py"
        )


def test_no_file_name_twice_but_the_command_pairs():
    commands = _subcommands()
    pairs = {
        frozenset({f"{NAME}.cli.{command}", work})
        for command, work in commands.items()
    }
    by_name = {}
    for module, path in MODULES.items():
        if not path.name.startswith("__"):
            by_name.setdefault(path.name, set()).add(module)
    twice = sorted(
        f"{name}: {sorted(modules)}"
        for name, modules in by_name.items()
        if len(modules) > 1 and frozenset(modules) not in pairs
    )
    assert not twice, "file names used twice:\n" + "\n".join(twice)
