"""The house rules that keep the rooms apart: imports flow one way, SQL stays in the store."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "faceprint"
#: weights/ modules that may build models: the factory, and the package front that re-exports it.
FACTORY_AND_FRONT = ("factory.py", "__init__.py")


def _module_level_imports(path: Path) -> set[str]:
    """Modules imported when the file is imported: not in functions, not under TYPE_CHECKING."""
    found: set[str] = set()
    pending = list(ast.parse(path.read_text()).body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        else:
            pending.extend(ast.iter_child_nodes(node))
    return found


@pytest.mark.parametrize(
    "module",
    sorted(p.relative_to(PACKAGE).as_posix() for p in (PACKAGE / "models").glob("*.py"))
    + ["detection/nets.py", "detection/stages.py", "detection/cpu_kernels.py", "detection/nms.py"]
    + ["detection/centerface.py"]
    + ["detection/base.py", "detection/fused.py", "detection/registry.py"],
)
def test_models_never_import_weights_at_module_level(module):
    imports = _module_level_imports(PACKAGE / module)
    assert not {m for m in imports if m.startswith("faceprint.weights")}, imports


@pytest.mark.slow
@pytest.mark.parametrize(
    "module",
    sorted(p.name for p in (PACKAGE / "weights").glob("*.py") if p.name not in FACTORY_AND_FRONT),
)
def test_weights_import_no_model_but_in_the_factory(module):
    """Converters fill the module they are given; only the factory knows the architectures."""
    from tests.test_imports import import_graph

    imports = import_graph()[f"faceprint.weights.{module.removesuffix('.py')}"]
    assert not {m for m in imports if m.startswith(("faceprint.models", "faceprint.detection"))}


#: The gallery's stores: the only modules that speak SQL (SQLite, PostgreSQL).
STORES = ("gallery/store.py", "gallery/postgres_store.py", "library/store.py")


def test_no_sql_outside_the_gallery_stores():
    offenders = [
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*.py")
        if p.relative_to(PACKAGE).as_posix() not in STORES
        and any(word in p.read_text() for word in ("db.execute", "sqlite3", "psycopg"))
    ]
    assert offenders == []


def test_only_the_cli_reaches_the_service():
    """serve/ sits on top: the library never imports it (nor, so, FastAPI)."""
    offenders = [
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*.py")
        if "serve" not in p.relative_to(PACKAGE).parts
        and "cli" not in p.relative_to(PACKAGE).parts
        and any(m.startswith("faceprint.serve") for m in _module_level_imports(p))
    ]
    assert offenders == []


@pytest.mark.slow
def test_import_faceprint_loads_no_web_framework():
    import subprocess
    import sys

    web = "{'fastapi', 'uvicorn', 'starlette'}"
    code = f"import sys, faceprint; print(sorted({web} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
