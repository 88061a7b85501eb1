"""How much of each face an anonymised video leaves: a reference of faces (every frame, found
by a low-threshold detector, or a synthetic clip's truth) and, per face per frame, the share of
its detail the output keeps.

Detail is the RMS of the Laplacian of the grey face (its inner 80%, so a neighbour's blur edge
does not count): the high frequencies that recognition reads. A face counts as left when the
output keeps more than :data:`MAX_DETAIL` of the input's. This is an amplitude, the square root
of the Laplacian's variance: 40% of the amplitude is 16% of the energy, stricter than a ratio of
energies.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceprint.errors import VideoError
from faceprint.video.io import read_frames

logger = logging.getLogger(__name__)

#: The reference detector: MTCNN far below its defaults (0.6, 0.7, 0.7 from 20 px), every frame.
REFERENCE_THRESHOLDS = (0.5, 0.6, 0.6)
REFERENCE_MIN_FACE_SIZE = 12

#: The most detail a face may keep in the output, as a share of the input's.
MAX_DETAIL = 0.4

#: Faces whose input detail (grey levels per pixel) is below this hold nothing to recognise
#: (a flat patch the reference took for a face); their ratio is noise and is not scored.
MIN_SOURCE_DETAIL = 2.0


#: Faces are compared at this side, in pixels: the scale at which a face is recognisable, and
#: where a large face's codec noise averages out (the Laplacian of a 100 px face at full size
#: reads the encoder's noise as much as the face).
DETAIL_SIDE = 32


def detail(image: np.ndarray, box: Sequence[float]) -> float:
    """RMS Laplacian of the grey inner 80% of ``box``, resampled to :data:`DETAIL_SIDE` px
    square (area-averaged down, bilinear up): a face's fine structure at a recognisable scale.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        box: ``x1, y1, x2, y2`` in pixels (clipped to the image).

    Returns:
        Grey levels per pixel, >= 0 (0 for a box under 3 px inside the image).
    """
    from PIL import Image

    x1, y1, x2, y2 = (float(v) for v in box)
    dx, dy = 0.1 * (x2 - x1), 0.1 * (y2 - y1)
    h, w = image.shape[:2]
    top, bottom = max(0, round(y1 + dy)), min(h, round(y2 - dy))
    left, right = max(0, round(x1 + dx)), min(w, round(x2 - dx))
    if bottom - top < 3 or right - left < 3:
        return 0.0
    grey = image[top:bottom, left:right].astype(np.float32) @ np.array(
        [0.299, 0.587, 0.114], dtype=np.float32
    )
    shrink = min(grey.shape) > DETAIL_SIDE
    grey = np.asarray(
        Image.fromarray(grey, mode="F").resize(
            (DETAIL_SIDE, DETAIL_SIDE), Image.BOX if shrink else Image.BILINEAR
        ),
        dtype=np.float64,
    )
    laplacian = (
        grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4 * grey[1:-1, 1:-1]
    )
    return float(np.sqrt(np.mean(laplacian**2)))


@dataclass(frozen=True)
class FaceLeft:
    """One reference face in one frame, and how much of it the output keeps.

    Attributes:
        frame: frame index.
        box: ``(4,)`` ``x1, y1, x2, y2``.
        source: its detail in the input (:func:`detail`).
        ratio: output detail over input detail (about 1 untouched, near 0 blurred).
        label: who it is, where known (synthetic truth), else "".
    """

    frame: int
    box: tuple[float, float, float, float]
    source: float
    ratio: float
    label: str = ""


@dataclass(frozen=True)
class Audit:
    """Every scored reference face of a video against its anonymised output.

    Attributes:
        faces: each scored face (input detail at least :data:`MIN_SOURCE_DETAIL`).
        skipped: reference faces too flat to score.
    """

    faces: list[FaceLeft]
    skipped: int

    @property
    def left(self) -> list[FaceLeft]:
        """The faces keeping more than :data:`MAX_DETAIL` of their detail."""
        return [f for f in self.faces if f.ratio > MAX_DETAIL]

    @property
    def share_left(self) -> float:
        """``len(left) / len(faces)``, in [0, 1] (0 with no face)."""
        return len(self.left) / max(1, len(self.faces))

    @property
    def worst(self) -> float:
        """The largest ratio (0 with no face)."""
        return max((f.ratio for f in self.faces), default=0.0)

    def frames_left(self) -> list[int]:
        """The frames with a face left, in order."""
        return sorted({f.frame for f in self.left})


def audit(
    source: str | os.PathLike,
    output: str | os.PathLike,
    reference: dict[int, list[tuple[tuple[float, float, float, float], str]]],
) -> Audit:
    """Score ``output`` (the anonymised ``source``) on each reference face.

    Args:
        source, output: the two videos, frame for frame.
        reference: frame index -> ``[(box, label)]``.

    Raises:
        VideoError: a frame with reference faces is missing from the output (a frame not
            written hides nothing: it is not there to score, so it is refused).
    """
    faces, skipped = [], 0
    wanted = max(reference, default=-1)
    outputs = read_frames(output)
    for before in read_frames(source):
        if before.index > wanted:
            break
        after = next(outputs, None)
        if after is None:
            raise VideoError(
                f"{output}: ends before frame {before.index}, which has reference faces"
            )
        for box, label in reference.get(before.index, []):
            base = detail(before.image, box)
            if base < MIN_SOURCE_DETAIL:
                skipped += 1
                continue
            ratio = detail(after.image, box) / base
            faces.append(FaceLeft(before.index, tuple(map(float, box)), base, ratio, label))
    return Audit(faces, skipped)


def truth_reference(truth: Iterable) -> dict[int, list]:
    """A synthetic clip's truth (:func:`faceprint.video.synthetic.render`) as a reference: each
    face not half hidden and 80% inside the frame."""
    reference: dict[int, list] = {}
    for frame, name, x1, y1, x2, y2, visible, _ in truth:
        if visible:
            reference.setdefault(int(frame), []).append(((x1, y1, x2, y2), name))
    return reference


def reference_faces(
    video: str | os.PathLike,
    thresholds: Sequence[float] = REFERENCE_THRESHOLDS,
    min_face_size: int = REFERENCE_MIN_FACE_SIZE,
    cache: str | os.PathLike | None = None,
    batch: int = 4,
) -> dict[int, list]:
    """Every face a low-threshold MTCNN finds in every frame of ``video``, cached.

    Args:
        video: the video file.
        thresholds: P-, R- and O-Net thresholds.
        min_face_size: smallest face searched, pixels.
        cache: a folder for the result (default: ``faceprint-blur-audit`` in the temp folder),
            keyed by the video's path, size and time and the settings.
        batch: frames detected together.

    Returns:
        frame index -> ``[((x1, y1, x2, y2), "p=0.93")]``.
    """
    from PIL import Image

    from faceprint.detection import create_detector

    path = Path(video).resolve()
    stat = path.stat()
    detector = create_detector("mtcnn", min_face_size=min_face_size, thresholds=list(thresholds))
    key = hashlib.sha256(
        json.dumps([str(path), stat.st_size, stat.st_mtime_ns, detector.settings]).encode()
    ).hexdigest()[:16]
    folder = (
        Path(cache) if cache is not None else Path(tempfile.gettempdir()) / "faceprint-blur-audit"
    )
    stored = folder / f"{path.stem}-{key}.json"
    if stored.is_file():
        raw = json.loads(stored.read_text())
    else:
        raw: dict[str, list] = {}
        pending = []

        def run() -> None:
            found = detector.detect_batch([Image.fromarray(f.image) for f in pending])
            for frame, faces in zip(pending, found, strict=True):
                raw[str(frame.index)] = [
                    [*map(float, box), float(score)]
                    for box, score in zip(faces.boxes, faces.scores, strict=True)
                ]
            logger.info("reference: frame %d", pending[-1].index)
            pending.clear()

        for frame in read_frames(path):
            pending.append(frame)
            if len(pending) == batch:
                run()
        if pending:
            run()
        folder.mkdir(parents=True, exist_ok=True)
        partial = stored.with_suffix(".part")
        partial.write_text(json.dumps(raw))
        partial.replace(stored)
    return {
        int(k): [(tuple(row[:4]), f"p={row[4]:.2f}") for row in rows] for k, rows in raw.items()
    }
