"""Several detectors as one: each runs, their scores are calibrated onto one scale, faces that
only one member finds with a low score are dropped, and overlapping faces found by more than
one are merged by non-maximum suppression."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torchvision.ops import box_iou, nms

from faceprint.detection.base import Detections, Detector, ScoreCalibration
from faceprint.images import ImageInput, to_rgb_array


class FusedDetector:
    """Run every member detector and merge their faces.

    Each member's scores go through its :class:`~faceprint.detection.base.ScoreCalibration`
    (MTCNN's probabilities sit near 1 for nearly every face, CenterFace's heatmap peaks spread
    over 0.35..0.95); then all faces of an image are sorted by calibrated score and a face
    overlapping a better one by more than ``nms_iou`` is dropped. Each kept face keeps its own
    detector's box and landmarks; its score is the calibrated one.

    Members are run at low thresholds so that together they find more faces than either; the
    false faces that this lets through are mostly found by one member only and score low. So
    a face whose calibrated score is below ``agreement_below`` is kept only where another
    member found a face overlapping it by ``agreement_iou`` or more (two detectors rarely err
    at the same place). The rule and its numbers were tuned on the tuning scenes of
    ``benchmarks/detection_recall.py`` and measured on its report scenes.

    Args:
        members: the detectors, e.g. ``[MTCNN(), CenterFace()]``.
        calibrations: one per member.
        nms_iou: the IoU above which the lower-scoring of two faces is dropped: above 0, at most 1.
        score_threshold: calibrated scores at or below this are dropped: at least 0, below 1.
        agreement_below: calibrated scores below this need another member's overlapping face:
            at least 0 (0: every face stands alone), at most 1.
        agreement_iou: the IoU at which another member's face counts as the same face: above
            0, at most 1.
    """

    def __init__(
        self,
        members: Sequence[Detector],
        calibrations: Sequence[ScoreCalibration],
        nms_iou: float = 0.4,
        score_threshold: float = 0.0,
        agreement_below: float = 0.0,
        agreement_iou: float = 0.3,
    ) -> None:
        if len(members) < 2 or len(calibrations) != len(members):
            raise ValueError("a fused detector needs two or more members, each with a calibration")
        if not 0.0 < nms_iou <= 1.0:
            raise ValueError(f"nms_iou {nms_iou} is outside (0, 1]")
        if not 0.0 <= score_threshold < 1.0:
            raise ValueError(f"score_threshold {score_threshold} is outside [0, 1)")
        if not 0.0 <= agreement_below <= 1.0:
            raise ValueError(f"agreement_below {agreement_below} is outside [0, 1]")
        if not 0.0 < agreement_iou <= 1.0:
            raise ValueError(f"agreement_iou {agreement_iou} is outside (0, 1]")
        self.members = list(members)
        self.calibrations = list(calibrations)
        self.nms_iou = nms_iou
        self.score_threshold = score_threshold
        self.agreement_below = agreement_below
        self.agreement_iou = agreement_iou
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
        """Name, each member's settings, the NMS IoU, the calibrated score threshold and the
        agreement rule's score and IoU."""
        return {
            "name": self.name,
            "members": [m.settings for m in self.members],
            "nms_iou": self.nms_iou,
            "score_threshold": self.score_threshold,
            "agreement_below": self.agreement_below,
            "agreement_iou": self.agreement_iou,
        }

    def detect_batch(self, images: Sequence[ImageInput]) -> list[Detections]:
        """One :class:`~faceprint.detection.base.Detections` per image, with calibrated scores
        (highest first) and no two boxes overlapping by more than ``nms_iou``."""
        arrays = [to_rgb_array(img, f"image {i} of the batch") for i, img in enumerate(images)]
        answers = [m.detect_batch(arrays) for m in self.members]
        return [self.merge([a[i] for a in answers]) for i in range(len(arrays))]

    def merge(self, found: Sequence[Detections]) -> Detections:
        """Merge the members' answers for one image into the fused answer.

        Args:
            found: one :class:`~faceprint.detection.base.Detections` per member, in the order
                of ``members``, each on its member's own score scale.

        Raises:
            ValueError: not one answer per member.
        """
        if len(found) != len(self.members):
            raise ValueError(f"{len(found)} answers for {len(self.members)} members")
        boxes = np.concatenate([d.boxes for d in found]).reshape(-1, 4)
        landmarks = np.concatenate([d.landmarks for d in found]).reshape(-1, 5, 2)
        scores = np.concatenate(
            [c(d.scores) for c, d in zip(self.calibrations, found, strict=True)]
        ).reshape(-1)
        if len(scores) == 0:
            return Detections.empty()
        member = np.repeat(np.arange(len(found)), [len(d) for d in found])
        keep = scores > self.score_threshold
        if self.agreement_below > 0:
            iou = box_iou(torch.from_numpy(boxes), torch.from_numpy(boxes)).numpy()
            other = member[:, None] != member[None, :]
            agreed = ((iou >= self.agreement_iou) & other).any(1)
            keep &= agreed | (scores >= self.agreement_below)
        kept = np.flatnonzero(keep)
        order = nms(torch.from_numpy(boxes[kept]), torch.from_numpy(scores[kept]), self.nms_iou)
        return Detections(boxes, scores, landmarks).select(kept[order.numpy()])
