"""Scanning a folder into a library: files -> content hash -> detect and embed only photos whose
content the library has not seen.

A file whose path, modification time and size are those stored is not even read; any other is
hashed (sha256), and a known hash only updates where the photo lives (a moved or renamed file is
not embedded again). Each new photo is stored with its faces in one transaction, so a scan
killed at any point keeps every photo it finished, and the next scan does the rest.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from faceprint.errors import FaceprintError
from faceprint.files import sha256_file
from faceprint.images import image_files, load_image
from faceprint.library.store import LibraryStore, NewFace

if TYPE_CHECKING:
    from PIL import Image

    from faceprint.pipeline import FaceRecognizer

logger = logging.getLogger(__name__)

#: Side of a face thumbnail, in pixels, and the margin around the box, in thumbnail pixels.
THUMBNAIL_SIZE, THUMBNAIL_MARGIN = 96, 16


@dataclass
class ScanReport:
    """What a scan did.

    Attributes:
        new: photos embedded by this scan.
        faces: faces those photos held.
        known: photos already in the library (unchanged, or found at a new path).
        moved: of the known, those found at another path (or with a new time) than stored.
        removed: photos of the folder that are gone, and left the library.
        failed: path -> why the photo could not be read.
    """

    new: int = 0
    faces: int = 0
    known: int = 0
    moved: int = 0
    removed: int = 0
    failed: dict[str, str] = field(default_factory=dict)


def thumbnail(image: Image.Image, box: Sequence[float]) -> bytes:
    """The face in ``box`` as a ``THUMBNAIL_SIZE`` square JPEG."""
    from faceprint.alignment import crop_box

    out = io.BytesIO()
    crop_box(image, box, THUMBNAIL_SIZE, THUMBNAIL_MARGIN).save(out, "JPEG", quality=85)
    return out.getvalue()


def _inside(path: str, folder: str) -> bool:
    return path.startswith(folder.rstrip(os.sep) + os.sep)


def scan_folder(
    store: LibraryStore,
    directory: str | os.PathLike,
    recognizer: Callable[[], FaceRecognizer],
    progress: bool = False,
    batch_size: int = 16,
) -> ScanReport:
    """Bring the library up to date with ``directory``: embed new photos, note moved ones,
    drop deleted ones. Faces of new photos are stored pending; placing them is the caller's.

    Args:
        store: the library's store.
        directory: a folder of photos, searched recursively.
        recognizer: returns the recognizer (built only when a photo needs embedding).
        progress: show a progress bar.
        batch_size: photos embedded together.
    """
    folder = str(Path(directory).resolve())
    report = ScanReport()
    known = {p.path: p for p in store.photos()}
    seen: set[int] = set()
    todo: dict[str, tuple[str, os.stat_result]] = {}  # hash -> (path, stat)
    for path in image_files(Path(folder)):
        key = str(path)
        stat = path.stat()
        row = known.get(key)
        if row is not None and row.mtime == stat.st_mtime and row.size == stat.st_size:
            seen.add(row.id)
            report.known += 1
            continue
        try:
            digest = sha256_file(path)
        except OSError as e:
            report.failed[key] = f"{key}: cannot read ({e.strerror or e})"
            continue
        row = store.photo_by_hash(digest)
        if row is not None:
            if row.id not in seen:
                store.move_photo(row.id, key, stat.st_mtime, stat.st_size)
                report.moved += 1
            seen.add(row.id)
            report.known += 1
        elif digest not in todo:
            todo[digest] = (key, stat)
    gone = [p.id for p in known.values() if _inside(p.path, folder) and p.id not in seen]
    if gone:
        store.remove_photos(gone)
        report.removed = len(gone)
    items = list(todo.items())
    with tqdm(total=len(items), desc="scanning", unit="photo", disable=not progress) as bar:
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            _embed_chunk(store, chunk, recognizer, report)
            bar.update(len(chunk))
    return report


def _embed_chunk(store, chunk, recognizer, report: ScanReport) -> None:
    images = []
    for digest, (path, stat) in chunk:
        try:
            images.append((digest, path, stat, load_image(path)))
        except FaceprintError as e:
            report.failed[path] = str(e)
    if not images:
        return
    found = recognizer().embed([image for *_, image in images])
    for (digest, path, stat, image), faces in zip(images, found, strict=True):
        stored = [
            NewFace(f.box, f.landmarks, f.probability, f.embedding, thumbnail(image, f.box))
            for f in faces
        ]
        store.add_photo(digest, path, stat.st_mtime, stat.st_size, stored)
        report.new += 1
        report.faces += len(stored)
