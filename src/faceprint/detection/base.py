"""What every face detector gives and takes: :class:`Detections`, the :class:`Detector`
protocol and :class:`ScoreCalibration`, the mapping of a detector's scores onto a common scale.

A detector is any object with a ``name``, the settings ``min_face_size``, ``input_scale`` and
``score_threshold`` (constructor options of each detector) and ``detect_batch(images)``, which
returns one :class:`Detections` per image. :class:`faceprint.MTCNN` and
:class:`faceprint.detection.centerface.CenterFace` are detectors; ``create_detector(name)``
(:mod:`faceprint.detection.registry`) builds them by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from faceprint.images import ImageInput

#: The landmarks' order, as seen in the image: the left eye is the one on the image's left.
LANDMARKS = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass(frozen=True)
class Detections:
    """The faces found in one image.

    Attributes:
        boxes: ``(N, 4)`` float32 ``x1, y1, x2, y2`` in pixels of the image.
        scores: ``(N,)`` float32 in [0, 1], highest first; on the detector's own scale (a
            fused detector gives calibrated scores, :class:`ScoreCalibration`).
        landmarks: ``(N, 5, 2)`` float32 ``x, y`` of :data:`LANDMARKS`: left eye, right eye,
            nose, left and right mouth corner, as seen (the left eye is the image's left).

    ``N = 0`` (arrays of those shapes) where there is no face; never None.
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls) -> Detections:
        """No face: arrays of shapes ``(0, 4)``, ``(0,)`` and ``(0, 5, 2)``."""
        return cls(
            np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32)
        )

    def at_least(self, min_face_size: float) -> Detections:
        """The faces whose box's shorter side is ``min_face_size`` pixels or more."""
        if min_face_size <= 0:
            return self
        sides = np.minimum(self.boxes[:, 2] - self.boxes[:, 0], self.boxes[:, 3] - self.boxes[:, 1])
        return self.select(sides >= min_face_size)

    def select(self, keep: np.ndarray) -> Detections:
        """The faces at the indices (or boolean mask) ``keep``, in that order."""
        return Detections(
            np.ascontiguousarray(self.boxes[keep], np.float32).reshape(-1, 4),
            np.ascontiguousarray(self.scores[keep], np.float32).reshape(-1),
            np.ascontiguousarray(self.landmarks[keep], np.float32).reshape(-1, 5, 2),
        )


@runtime_checkable
class Detector(Protocol):
    """A face detector.

    Attributes:
        name: its registry name, e.g. ``"mtcnn"``.
        min_face_size: faces whose box's shorter side is below this many pixels of the image
            are not returned (MTCNN also starts its image pyramid there).
        input_scale: the factor by which images are resized before the network (boxes and
            landmarks are scaled back to the image's pixels).
        score_threshold: faces scoring at or below this (its own scale) are not returned.
    """

    name: str
    min_face_size: float
    input_scale: float
    score_threshold: float

    @property
    def settings(self) -> dict:
        """Everything that changes its answers, as JSON-able values, ``name`` included (what
        caches of its detections are keyed by)."""
        ...

    def detect_batch(self, images: Sequence[ImageInput]) -> list[Detections]:
        """One :class:`Detections` per image of ``images`` (paths, PIL images or ``(H, W, 3)``
        uint8 RGB arrays or tensors, of any sizes), each face's answer independent of the other
        images of the batch (up to float rounding).

        Raises:
            ImageError: an image cannot be read or has the wrong type, shape or dtype.
        """
        ...


@dataclass(frozen=True)
class ScoreCalibration:
    """A monotone map of one detector's scores onto a scale shared by all detectors.

    ``calibrated(s)`` is the linear interpolation of ``(raw, common)`` knots: with the knots
    used here, the share of true faces (LFW's central faces that both MTCNN and CenterFace find)
    that this detector scores at or below ``s``, so that 0.5 means "a typical face for this
    detector", whichever detector it is. Fused detectors compare and suppress on this scale.

    Attributes:
        raw: increasing scores of the detector, from 0 to 1.
        common: the calibrated score at each of them, non-decreasing, from 0 to 1.
        source: how the knots were measured.
    """

    raw: tuple[float, ...]
    common: tuple[float, ...]
    source: str = ""

    def __post_init__(self) -> None:
        if len(self.raw) != len(self.common) or len(self.raw) < 2:
            raise ValueError("raw and common need the same number (two or more) of knots")
        if np.any(np.diff(self.raw) <= 0) or np.any(np.diff(self.common) < 0):
            raise ValueError("raw must increase and common must not decrease")

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        """The calibrated scores, float32 in [0, 1], of the same shape as ``scores``."""
        return np.interp(scores, self.raw, self.common).astype(np.float32)


#: No calibration: scores unchanged.
IDENTITY = ScoreCalibration((0.0, 1.0), (0.0, 1.0), "none: the detector's own scores")
