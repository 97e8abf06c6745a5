"""Which padirec modules each DVC stage runs, derived from the code rather than remembered.

A stage's notebook imports padirec modules, and those import others; every module in that closure
must be among the stage's `deps` in dvc.yaml (as the file itself or a folder above it), or an
edit to it would re-run nothing that uses it. Imports are read from the source with `ast`, nothing
is executed: the module level of each file, into `if`/`try`/`with` blocks but not into functions
(an import inside a function is a deliberate lazy one, such as a registry look-up during
validation).

    python -m padirec.pipeline.dependencies        # prints each missing (stage, module); exit 1 if any
"""
from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import yaml

PACKAGE = "padirec"


def module_file(module: str, root: Path) -> Path | None:
    """The repository-relative file of a dotted padirec module, or None when it is not a module."""
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate.relative_to(root)
    return None


def _module_level(tree: ast.Module):
    """Statements that run on import: the body, into if/try/with blocks, not into functions or classes."""
    todo = list(tree.body)
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            for name in ("body", "orelse", "finalbody", "handlers"):
                todo += list(getattr(node, name, []))
        elif isinstance(node, ast.ExceptHandler):
            todo += list(node.body)


def imported_modules(source: str, root: Path, current: str | None = None) -> set[str]:
    """The padirec modules that `source` (of module `current`, for relative imports) imports on import."""
    found = set()
    for node in _module_level(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == PACKAGE}
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level and current:
                package = current.split(".")
                if not str(module_file(current, root)).endswith("__init__.py"):
                    package = package[:-1]
                package = package[:len(package) - (node.level - 1)]
                module = ".".join(package + ([module] if module else []))
            if module.split(".")[0] != PACKAGE:
                continue
            found.add(module)
            # `from padirec.training import sweep` imports the module padirec.training.sweep
            found |= {f"{module}.{alias.name}" for alias in node.names if module_file(f"{module}.{alias.name}", root)}
    return found


def import_closure(modules: set[str], root: Path) -> set[Path]:
    """The files of `modules` and of everything they import, transitively (each package's __init__ too)."""
    seen, todo = set(), list(modules)
    while todo:
        parts = todo.pop().split(".")
        for depth in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__.py and a/b/__init__.py too
            module = ".".join(parts[:depth])
            path = module_file(module, root)
            if path is not None and module not in seen:
                seen.add(module)
                todo += imported_modules((root / path).read_text(encoding="utf-8"), root, module)
    return {module_file(module, root) for module in seen if module_file(module, root) is not None}


def notebook_source(path: Path) -> str:
    """A notebook's code cells as one module (cell magics and shell lines left out)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    code = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
    return "\n".join(cell for cell in code if not cell.lstrip().startswith(("%", "!"))) + "\n"


def stage_deps(dvc_yaml: dict) -> dict[str, list[str]]:
    """Each stage of a parsed dvc.yaml (a foreach stage once, by its template) and its declared deps."""
    found = {}
    for name, spec in dvc_yaml.get("stages", {}).items():
        body = spec.get("do", spec)
        found[name] = [dep if isinstance(dep, str) else next(iter(dep)) for dep in body.get("deps", [])]
    return found


def missing_deps(root: Path, dvc_yaml: dict | None = None) -> list[tuple[str, str]]:
    """(stage, module file) for every padirec module a stage's notebook runs but its deps do not cover."""
    dvc_yaml = dvc_yaml or yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))
    missing = []
    for stage, deps in stage_deps(dvc_yaml).items():
        notebooks = [dep for dep in deps if dep.startswith("notebooks/") and dep.endswith(".ipynb")]
        needed = set()
        for notebook in notebooks:
            needed |= import_closure(imported_modules(notebook_source(root / notebook), root), root)
        for path in sorted(p.as_posix() for p in needed):
            if not any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in deps):
                missing.append((stage, path))
    return missing


def main() -> int:
    from padirec.pipeline.paths import repo_root

    missing = missing_deps(repo_root())
    for stage, path in missing:
        print(f"stage {stage} runs {path}, which its deps in dvc.yaml do not list: add it there", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
