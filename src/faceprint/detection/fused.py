"""Several detectors as one: each runs, their scores are calibrated onto one scale, and
overlapping faces found by more than one are merged by non-maximum suppression."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torchvision.ops import nms

from faceprint.detection.base import Detections, Detector, ScoreCalibration
from faceprint.images import ImageInput, to_rgb_array


class FusedDetector:
    """Run every member detector and merge their faces.

    Each member's scores go through its :class:`~faceprint.detection.base.ScoreCalibration`
    (MTCNN's probabilities sit near 1 for nearly every face, CenterFace's heatmap peaks spread
    over 0.35..0.95); then all faces of an image are sorted by calibrated score and a face
    overlapping a better one by more than ``nms_iou`` is dropped. Each kept face keeps its own
    detector's box and landmarks; its score is the calibrated one.

    Args:
        members: the detectors, e.g. ``[MTCNN(), CenterFace()]``.
        calibrations: one per member.
        nms_iou: the IoU above which the lower-scoring of two faces is dropped: above 0, at most 1.
        score_threshold: calibrated scores at or below this are dropped: at least 0, below 1.
    """

    def __init__(
        self,
        members: Sequence[Detector],
        calibrations: Sequence[ScoreCalibration],
        nms_iou: float = 0.4,
        score_threshold: float = 0.0,
    ) -> None:
        if len(members) < 2 or len(calibrations) != len(members):
            raise ValueError("a fused detector needs two or more members, each with a calibration")
        if not 0.0 < nms_iou <= 1.0:
            raise ValueError(f"nms_iou {nms_iou} is outside (0, 1]")
        if not 0.0 <= score_threshold < 1.0:
            raise ValueError(f"score_threshold {score_threshold} is outside [0, 1)")
        self.members = list(members)
        self.calibrations = list(calibrations)
        self.nms_iou = nms_iou
        self.score_threshold = score_threshold
        self.name = "+".join(m.name for m in self.members)

    @property
    def min_face_size(self) -> float:
        """The smallest face any member looks for."""
        return min(m.min_face_size for m in self.members)

    @property
    def input_scale(self) -> float:
        """The largest scale any member looks at."""
        return max(m.input_scale for m in self.members)

    @property
    def settings(self) -> dict:
        """Name, each member's settings, the NMS IoU and the calibrated score threshold."""
        return {
            "name": self.name,
            "members": [m.settings for m in self.members],
            "nms_iou": self.nms_iou,
            "score_threshold": self.score_threshold,
        }

    def detect_batch(self, images: Sequence[ImageInput]) -> list[Detections]:
        """One :class:`~faceprint.detection.base.Detections` per image, with calibrated scores
        (highest first) and no two boxes overlapping by more than ``nms_iou``."""
        arrays = [to_rgb_array(img, f"image {i} of the batch") for i, img in enumerate(images)]
        answers = [m.detect_batch(arrays) for m in self.members]
        return [self._merge([a[i] for a in answers]) for i in range(len(arrays))]

    def _merge(self, found: list[Detections]) -> Detections:
        boxes = np.concatenate([d.boxes for d in found])
        landmarks = np.concatenate([d.landmarks for d in found])
        scores = np.concatenate(
            [c(d.scores) for c, d in zip(self.calibrations, found, strict=True)]
        )
        merged = Detections(boxes, scores, landmarks)
        if len(merged) == 0:
            return Detections.empty()
        keep = nms(torch.from_numpy(boxes), torch.from_numpy(scores), self.nms_iou).numpy()
        keep = keep[scores[keep] > self.score_threshold]
        return merged.select(keep)
