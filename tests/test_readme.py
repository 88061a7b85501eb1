"""The code a reader copies runs as written: the README's tour and the getting-started page,
taken verbatim from their markdown and run in a fresh process beside the photos they name."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)

#: Enrolled as "Ada" from photos 1 and 2, and pasted into the group photo from photo 3.
ADA = "Tony_Blair"
#: Compared by the tour's ``rec.verify``.
PAIR = "Colin_Powell"


def python_blocks(path: Path, section: str | None = None) -> str:
    """The ```python blocks of ``path`` (of its ``## section`` only, if given), joined in order."""
    text = path.read_text(encoding="utf-8")
    if section is not None:
        parts = re.split(r"^## ", text, flags=re.M)
        chosen = [p for p in parts if p.startswith(section + "\n")]
        assert len(chosen) == 1, f"{path.name} has no single '## {section}' section"
        text = chosen[0]
    blocks = FENCE.findall(text)
    where = f" under '## {section}'" if section else ""
    assert blocks, f"no ```python block in {path.name}{where}"
    return "\n".join(blocks)


@pytest.fixture()
def photos(lfw: Path, samples: Path, tmp_path: Path) -> Path:
    """A folder holding every photo the snippets open: one portrait (photo.jpg), two photos of
    one person (a.jpg, b.jpg), two of "Ada" (ada1.jpg, ada2.jpg), and a group photo of six
    strangers into which a third photo of Ada is pasted (group.jpg)."""
    people = lfw / "images"
    shutil.copy(samples / "test_images" / "paul_rudd" / "1.jpg", tmp_path / "photo.jpg")
    shutil.copy(people / PAIR / f"{PAIR}_0001.jpg", tmp_path / "a.jpg")
    shutil.copy(people / PAIR / f"{PAIR}_0002.jpg", tmp_path / "b.jpg")
    shutil.copy(people / ADA / f"{ADA}_0001.jpg", tmp_path / "ada1.jpg")
    shutil.copy(people / ADA / f"{ADA}_0002.jpg", tmp_path / "ada2.jpg")
    group = Image.open(samples / "multiface.jpg").convert("RGB")
    canvas = Image.new("RGB", (group.width + 250, group.height), "white")
    canvas.paste(group, (0, 0))
    canvas.paste(Image.open(people / ADA / f"{ADA}_0003.jpg").convert("RGB"), (group.width, 0))
    canvas.save(tmp_path / "group.jpg", quality=95)
    return tmp_path


def run_snippet(code: str, folder: Path) -> subprocess.CompletedProcess:
    script = folder / "snippet.py"
    script.write_text(code, encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(script)], cwd=folder, capture_output=True, text=True, timeout=600
    )


def test_python_blocks_reads_only_the_named_section(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "# t\n\n```python\nnot = 'this'\n```\n\n## A tour\n\n```python\nx = 1\n```\n\n"
        "```text\nnot code\n```\n\n```python\ny = 2\n```\n\n## Next\n\n```python\nz = 3\n```\n"
    )
    assert python_blocks(page, "A tour") == "x = 1\n\ny = 2\n"
    with pytest.raises(AssertionError, match="no single '## Missing'"):
        python_blocks(page, "Missing")


@pytest.mark.slow
def test_readme_tour_runs_as_written(photos):
    code = python_blocks(REPO / "README.md", "A tour")
    done = run_snippet(code, photos)
    assert done.returncode == 0, done.stderr[-3000:]
    # What the tour's comments promise: a saved crop, a gallery file, a line per face found.
    assert Image.open(photos / "face.png").size == (160, 160)
    assert (photos / "people.gallery").is_file()
    lines = done.stdout.splitlines()
    names = [line.split()[-2] for line in lines]
    assert len(lines) == 7, done.stdout  # the six strangers of multiface.jpg, and Ada
    assert names.count("Ada") == 1 and names.count("unknown") == 6, done.stdout
    ada = lines[names.index("Ada")]
    assert float(ada.strip("[ ").split()[0]) >= 1200, ada  # the face pasted right of the group


@pytest.mark.slow
def test_getting_started_runs_as_written(photos):
    done = run_snippet(python_blocks(REPO / "docs" / "getting-started.md"), photos)
    assert done.returncode == 0, done.stderr[-3000:]
    assert Image.open(photos / "face.png").size == (160, 160)
