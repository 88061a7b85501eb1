from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pyarrow")


@pytest.fixture(scope="session")
def job_inputs(lfw, tmp_path_factory):
    """200 LFW images (first photos of the first people by name, then their second ones), plus
    a corrupt image, a zero-byte file, a missing path and a folder given as a file."""
    root = tmp_path_factory.mktemp("inputs")
    people = sorted(p for p in (lfw / "images").iterdir() if p.is_dir())
    photos = [str(p) for person in people for p in sorted(person.glob("*.jpg"))[:2]][:200]
    corrupt = root / "corrupt.jpg"
    corrupt.write_bytes(Path(photos[0]).read_bytes()[:400])
    empty = root / "empty.jpg"
    empty.write_bytes(b"")
    bad = [str(corrupt), str(empty), str(root / "missing.jpg"), str(root)]
    return photos, bad
