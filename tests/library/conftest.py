"""A small photo folder of LFW people (and the six-face sample), scanned once into a library
that tests copy before they change it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

#: Person -> photo numbers of the folder every library test starts from.
PEOPLE = {"Colin_Powell": (1, 2, 3, 4), "Tony_Blair": (1, 2, 3, 4), "Gerhard_Schroeder": (1, 2, 3)}


def lfw_photo(lfw: Path, name: str, number: int) -> Path:
    return lfw / "images" / name / f"{name}_{number:04d}.jpg"


def make_folder(lfw: Path, multiface: Path | None, folder: Path, people=PEOPLE) -> Path:
    for name, numbers in people.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for n in numbers:
            shutil.copy2(lfw_photo(lfw, name, n), folder / name)
    if multiface is not None:
        shutil.copy2(multiface, folder / "group.jpg")
    return folder


@pytest.fixture(scope="session")
def library_recognizer():
    from faceprint import FaceRecognizer

    return FaceRecognizer()


@pytest.fixture(scope="session")
def scanned(tmp_path_factory, lfw, multiface, library_recognizer) -> tuple[Path, Path]:
    """``(photos, library)``: the folder and its library after one scan (closed)."""
    from faceprint.library import Library

    tmp = tmp_path_factory.mktemp("library")
    photos = make_folder(lfw, multiface, tmp / "photos")
    with Library(tmp / "library", recognizer=library_recognizer, who="tester") as library:
        library.scan(photos)
    return photos, tmp / "library"


@pytest.fixture
def library_copy(scanned, tmp_path, library_recognizer):
    """A copy of the scanned folder and library, open: ``(photos, Library)``."""
    from faceprint.library import Library

    photos, library = scanned
    shutil.copytree(photos, tmp_path / "photos", copy_function=shutil.copy2)
    shutil.copytree(library, tmp_path / "library")
    with Library(tmp_path / "library", recognizer=library_recognizer, who="tester") as opened:
        yield tmp_path / "photos", opened
