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
STORES = ("gallery/store.py", "gallery/postgres_store.py")


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


#: The specific detectors: only detection/ builds them (through its registry); everything else
#: asks ``create_detector(name)`` or takes a ready Detector.
DETECTOR_CLASSES = ("MTCNN", "CenterFace", "FusedDetector")
#: The public re-export ``faceprint.MTCNN`` (facenet-pytorch's name): imported, never built.
DETECTOR_REEXPORTS = ("__init__.py",)
#: Temporary: moved by the cli/video branches (delete once they are merged).
DETECTORS_STILL_BUILT_IN = ("video/audit.py",)


def detector_builders(source: str) -> list[str]:
    """Where ``source`` builds a specific detector or imports its class: ``"line: what"``
    for each call of :data:`DETECTOR_CLASSES` (by name or attribute) and each import of one
    (type-only imports under ``TYPE_CHECKING`` included: a type names a dependency)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name in DETECTOR_CLASSES:
                found.append(f"{node.lineno}: {name}(...)")
        elif isinstance(node, ast.ImportFrom):
            found += [
                f"{node.lineno}: import {alias.name}"
                for alias in node.names
                if alias.name in DETECTOR_CLASSES
            ]
    return found


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from faceprint.detection.mtcnn import MTCNN\nd = MTCNN(keep_all=True)", 2),
        ("import faceprint.detection.centerface as c\nd = c.CenterFace()", 1),
        ("from faceprint.detection import FusedDetector as F", 1),
        ("d = create_detector('mtcnn+centerface')\nd.detect_batch(images)", 0),
    ],
)
def test_detector_builders_finds_calls_and_imports(source, expected):
    assert len(detector_builders(source)) == expected


def test_nothing_outside_detection_builds_a_specific_detector():
    """Every consumer (recognizer, evaluation, training, IdentityLoss, batch, export, video,
    service, CLI) takes a detector name or a Detector: a new detector is its module, its
    registry record and its calibration, and no consumer changes."""
    offenders = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(PACKAGE).as_posix()
        if path.relative_to(PACKAGE).parts[0] == "detection" or name in DETECTOR_REEXPORTS:
            continue
        found = detector_builders(path.read_text())
        if found and name not in DETECTORS_STILL_BUILT_IN:
            offenders[name] = found
        elif not found and name in DETECTORS_STILL_BUILT_IN:
            offenders[name] = ["builds none any more: drop it from DETECTORS_STILL_BUILT_IN"]
    assert offenders == {}


def test_the_package_front_only_re_exports_mtcnn():
    found = detector_builders((PACKAGE / "__init__.py").read_text())
    assert [f.partition(": ")[2] for f in found] == ["import MTCNN"]
