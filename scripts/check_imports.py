"""Check that cnnfast's imports run one way: from the command line down to the kernels' checks.

    python scripts/check_imports.py [PACKAGE_DIR]     # default: cnnfast/ beside scripts/

Every import inside the package is read from the source (module level and
inside functions alike; ``_kernels.pyx`` too), and each module must import
only modules of a lower or equal tier of the table below.  Within a tier the
imports must not form a cycle.  A few rules are stated on top: the reference
and the layers never reach the C, and the training loop never reaches the layers.
Exit status 0 when all holds; otherwise each offending import is printed
with its file and line, and the status is 1.  tests/test_imports.py runs it.
"""

from __future__ import annotations

import ast
import re
import sys
from fnmatch import fnmatch
from pathlib import Path

# Bottom first.  A module belongs to the first tier with a matching pattern.
TIERS = [
    ("package metadata", ["cnnfast._version"]),
    ("argument checks and geometry", ["cnnfast._geometry", "cnnfast._checks"]),
    ("kernel bindings", ["cnnfast._kernels"]),
    ("run-time settings", ["cnnfast._thread_count", "cnnfast._runtime", "cnnfast._isa"]),
    ("NumPy reference", ["cnnfast.reference", "cnnfast.reference.*"]),
    ("functional", ["cnnfast.functional"]),
    ("independent pieces", ["cnnfast.losses", "cnnfast.optim", "cnnfast.optim.*", "cnnfast.datasets",
                            "cnnfast.datasets.*", "cnnfast.serialization", "cnnfast.callbacks",
                            "cnnfast.utils"]),
    ("processes (MPI)", ["cnnfast.distributed", "cnnfast.distributed.*"]),
    ("training loop", ["cnnfast.training", "cnnfast.training.*"]),
    ("layers and the Sequential model", ["cnnfast.layers", "cnnfast.layers.*"]),
    ("models", ["cnnfast.model", "cnnfast.models", "cnnfast.gradcheck"]),
    ("public package", ["cnnfast"]),
    ("commands", ["cnnfast.train", "cnnfast.showconfig", "cnnfast.cli", "cnnfast.__main__", "cnnfast.bench",
                  "cnnfast.bench.*"]),
]

# (importer pattern, imported pattern, why): never, whatever the tiers say.
FORBIDDEN = [
    ("cnnfast.reference*", "cnnfast._kernels", "the reference knows nothing of C"),
    ("cnnfast.reference*", "cnnfast.functional", "the reference is the oracle, not a client, of functional"),
    ("cnnfast.layers*", "cnnfast._kernels", "layers know nothing of C"),
    ("cnnfast.layers*", "cnnfast._runtime", "layers know nothing of C"),
    ("cnnfast.training*", "cnnfast.layers*", "the training loop reaches the model through its methods only"),
]

# (importer, imported): known upward imports, each owned by another change.  One that
# no longer happens is reported but does not fail (delete it from here).
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}


def module_name(path, root):
    """``cnnfast.layers.conv`` for ``<root>/layers/conv.py``; a package is named by its __init__."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def tier(name):
    for index, (_, patterns) in enumerate(TIERS):
        if any(fnmatch(name, pattern) for pattern in patterns):
            return index
    raise ValueError(f"{name} is in no tier of scripts/check_imports.py: add it to TIERS")


def _resolve(importer, is_package, level, module):
    """The absolute name of ``from <level dots><module> import ...`` written in ``importer``."""
    if level == 0:
        return module
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imports(path, name, modules):
    """``[(imported module, line)]`` for every import of a cnnfast module in ``path``."""
    is_package = path.name == "__init__.py"
    found = []
    if path.suffix == ".pyx":  # Cython: read the Python-level imports (cimports are C)
        for line_no, line in enumerate(path.read_text().splitlines(), 1):
            match = re.match(r"\s*from\s+(\.*)([\w.]*)\s+import\s+([\w, ]+)", line)
            if match:
                target = _resolve(name, is_package, len(match.group(1)), match.group(2))
                found.extend(_targets(target, match.group(3).replace(" ", "").split(","), modules, line_no))
        return found
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(name, is_package, node.level, node.module)
            found.extend(_targets(target, [alias.name for alias in node.names], modules, node.lineno))
    return [(target, line) for target, line in found if target == "cnnfast" or target.startswith("cnnfast.")]


def _targets(base, names, modules, line):
    """``from base import a, b``: the submodules a and b when they are modules, else base itself."""
    result = [(f"{base}.{n}", line) for n in names if f"{base}.{n}" in modules]
    if len(result) < len(names):
        result.append((base, line))
    return result


def check(root):
    """The list of problems (strings); empty when every import runs downward."""
    files = sorted([*root.rglob("*.py"), *root.rglob("*.pyx")])
    modules = {module_name(path, root): path for path in files}
    graph, problems, seen_exceptions = {}, [], set()
    for name, path in modules.items():
        importer_tier = tier(name)
        graph[name] = set()
        for target, line in imports(path, name, modules):
            if target == name or name.startswith(target + ".") and target != "cnnfast":
                continue  # a module importing its own package's __init__ (relative siblings resolve to them)
            where = f"{path.relative_to(root.parent)}:{line}: {name} imports {target}"
            if (name, target) in KNOWN_EXCEPTIONS:
                seen_exceptions.add((name, target))
                continue
            for importer_pattern, imported_pattern, why in FORBIDDEN:
                if fnmatch(name, importer_pattern) and fnmatch(target, imported_pattern):
                    problems.append(f"{where}: forbidden ({why})")
            target_tier = tier(target)
            if target_tier > importer_tier:
                problems.append(f"{where}: upward, from tier '{TIERS[importer_tier][0]}' "
                                f"to tier '{TIERS[target_tier][0]}'")
            elif target_tier == importer_tier:
                graph[name].add(target)
    problems.extend(f"import cycle: {' -> '.join(cycle)}" for cycle in _cycles(graph))
    stale = [f"{a} -> {b}" for a, b in KNOWN_EXCEPTIONS if (a, b) not in seen_exceptions]
    return problems, stale


def _cycles(graph):
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
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
                cycles.append(sorted(component) + [sorted(component)[0]])

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "cnnfast"
    problems, stale = check(root)
    for problem in problems:
        print(problem)
    for edge in stale:
        print(f"note: the known exception {edge} no longer occurs: delete it from KNOWN_EXCEPTIONS")
    if not problems:
        print(f"imports of {root} run downward ({len(TIERS)} tiers)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
