"""The dependency rules of docs/ARCHITECTURE.md, checked on the source (run by `make lint`).

1. verifier/ is the protocol: it imports nothing of node/, chain/ or bench/.
2. chain/ knows nothing of models or of the node: no torch, transformers, peft, verifier.models,
   and nothing of node/ (the node builds on the chain, never the other way).
3. The roles do not import each other (miner, validator, proposer, evaluator); what two roles
   share lives in a module of its own (node/roles/audit.py, dispute.py, learning.py).
4. No import circle among modules at import time (imports inside functions are how a module defers
   a dependency it needs only in one call, and are not part of the graph).
5. The rooms (chain, verifier, bench, and each package or module directly under node/) depend on
   each other one way: no two import each other, lazy imports included.

Usage: python tools/check_imports.py [ROOT]; exit 1 with one line per broken rule.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGES = ("node", "chain", "verifier", "bench")
ROLES = ("node.roles.miner", "node.roles.validator", "node.roles.proposer", "node.roles.evaluator")
MODEL_CODE = ("torch", "transformers", "peft", "verifier.models")


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(tree: ast.Module, top_level_only: bool) -> Iterator[tuple[str, int]]:
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, node.lineno
            for alias in node.names:  # `from node.roles import miner` imports a module too
                yield f"{node.module}.{alias.name}", node.lineno


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def room(module: str) -> str:
    """node.roles.miner -> node.roles, node.config -> node.config, chain.clients -> chain."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "node" and len(parts) > 1 else parts[0]


def check(root: Path) -> list[str]:
    sources = {
        module_name(root, p): p
        for pkg in PACKAGES
        for p in sorted((root / pkg).rglob("*.py"))
        if "migrations" not in p.parts
    }
    problems: list[str] = []
    graph: dict[str, set[str]] = {}
    between_rooms: dict[tuple[str, str], str] = {}  # (from, to) -> the first import seen
    for mod, path in sources.items():
        tree = ast.parse(path.read_text(), str(path))
        where = path.relative_to(root)
        for target, line in imports(tree, top_level_only=False):
            if under(mod, "verifier") and any(under(target, p) for p in ("node", "chain", "bench")):
                problems.append(
                    f"{where}:{line}: verifier/ imports {target} (rule 1: the protocol imports no node, chain or bench)"
                )
            if under(mod, "chain") and any(under(target, p) for p in MODEL_CODE):
                problems.append(
                    f"{where}:{line}: chain/ imports {target} (rule 2: chain knows nothing of models)"
                )
            if under(mod, "chain") and under(target, "node"):
                problems.append(
                    f"{where}:{line}: chain/ imports {target} (rule 2: chain knows nothing of the node)"
                )
            if target.split(".")[0] in PACKAGES and room(mod) != room(target):
                between_rooms.setdefault((room(mod), room(target)), f"{where}:{line} imports {target}")
            for role in ROLES:
                if mod in ROLES and role != mod and under(target, role):
                    problems.append(
                        f"{where}:{line}: {mod} imports the role {role} (rule 3: roles do not import each other)"
                    )
        graph[mod] = {t for t, _ in imports(tree, top_level_only=True) if t in sources and t != mod}
    problems += [f"import circle: {' -> '.join(c)} (rule 4)" for c in circles(graph)]
    problems += [
        f"rooms {a} and {b} import each other: {there}; {back} (rule 5: one way between rooms)"
        for (a, b), there in sorted(between_rooms.items())
        if a < b and (back := between_rooms.get((b, a)))
    ]
    return problems


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected part of the graph that has one (iterative DFS)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if start in state:
            continue
        path: list[str] = []
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        state[start] = 1
        path.append(start)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif state.get(child) == 1:
                found.append(path[path.index(child) :] + [child])
            elif child not in state:
                state[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(graph.get(child, ())))))
    return found


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else Path(__file__).resolve().parents[1])
    problems = check(root)
    for line in problems:
        print(line)
    if problems:
        print(f"{len(problems)} dependency rule(s) broken (tools/check_imports.py).")
        return 1
    print("dependency rules hold: verifier, chain, roles, no import circles, rooms one way.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
