"""Faces followed across video frames, and named.

Each frame's detections are assigned to live tracks by the Hungarian method
(``scipy.optimize.linear_sum_assignment``) on box overlap with each track's predicted box
(constant velocity). Embeddings come in only where overlap can't decide: when a track could take
two detections (or a detection two tracks), as when people cross, and when a new face might be
a track lost for a few frames (occlusion). Every track is embedded once, when it starts.

Faces are named per track, not per frame: the track's best few crops (by detection probability
and size) are embedded and searched in a gallery, and their answers vote.

A maintained tracker library was considered: Roboflow's ``trackers`` (Apache-2.0) has SORT,
ByteTrack and OC-SORT, which follow boxes by motion only, and it pulls opencv-python and
supervision; faces cross and hide each other, which is where an embedding decides, so the
association here is faceprint's own (about 100 lines).
"""

from __future__ import annotations

import copy
import dataclasses
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image
from scipy.optimize import linear_sum_assignment
from torchvision.ops import box_iou

from faceprint.pipeline import FaceRecognizer, Region

_INFEASIBLE = 1e6


@dataclass
class Track:
    """One face followed through a video.

    Attributes:
        id: 1, 2, ... in order of appearance.
        boxes: ``[frame, x1, y1, x2, y2, probability]`` of each frame it was detected in.
        times: the time in seconds of each of those frames.
        identity: the gallery's name for it, or a cluster label (``"person 3"``), or None.
        distance: the median distance of the winning votes to the gallery (None unnamed).
        missed: frames since its last detection.
        embedding: ``(D,)`` unit mean embedding of its best crops, once it is finished.
    """

    id: int
    boxes: list[list[float]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    identity: str | None = None
    distance: float | None = None
    missed: int = 0
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4, dtype=np.float64))
    appearance: np.ndarray | None = None
    embedding: np.ndarray | None = None
    best: list[tuple[float, int, Image.Image]] = field(default_factory=list, repr=False)

    @property
    def first_frame(self) -> int:
        return int(self.boxes[0][0])

    @property
    def last_frame(self) -> int:
        return int(self.boxes[-1][0])

    @property
    def box(self) -> np.ndarray:
        """``(4,)`` the last detected box."""
        return np.asarray(self.boxes[-1][1:5], dtype=np.float64)

    def predicted(self, frame: int) -> np.ndarray:
        """``(4,)`` where the box should be at ``frame``, at constant velocity."""
        return self.box + self.velocity * (frame - self.last_frame)

    def to_dict(self) -> dict:
        """The JSON form (without the crops)."""
        return {
            "id": self.id,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "start_s": round(self.times[0], 4),
            "end_s": round(self.times[-1], 4),
            "identity": self.identity,
            "distance": None if self.distance is None else round(self.distance, 4),
            "boxes": [
                [int(b[0]), *(round(float(v), 1) for v in b[1:5]), round(b[5], 4)]
                for b in self.boxes
            ],
        }


class FaceTracker:
    """Follow and name faces frame by frame.

    Args:
        recognizer: detects, crops and embeds (a :class:`faceprint.FaceRecognizer`).
        gallery: a :class:`faceprint.Gallery` to name tracks in, or None.
        iou_threshold: least overlap of a detection with a track's predicted box to continue it.
        max_missed: frames a track survives without a detection (occlusion, a missed face).
        reid_distance: the largest embedding distance at which a new face continues a lost
            track (default: the recognizer's verification threshold).
        best_crops: how many of a track's best crops vote on its name.

    Example:
        >>> tracker = FaceTracker(FaceRecognizer(), gallery=Gallery("people.db"))
        >>> for frame in frames:                     # (H, W, 3) uint8 RGB
        ...     for track in tracker.update(frame):  # the faces seen in this frame
        ...         print(track.id, track.box, track.identity)
    """

    def __init__(
        self,
        recognizer: FaceRecognizer,
        gallery=None,
        iou_threshold: float = 0.2,
        max_missed: int = 25,
        reid_distance: float | None = None,
        best_crops: int = 5,
    ) -> None:
        self.recognizer = recognizer
        self.detector = _recognisable_size_detector(recognizer)
        self.gallery = gallery
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self.reid_distance = recognizer.threshold if reid_distance is None else reid_distance
        self.best_crops = best_crops
        self.live: list[Track] = []
        self.finished: list[Track] = []
        self.frame = -1
        self._next_id = 1

    def update(self, image: np.ndarray, time: float | None = None) -> list[Track]:
        """Detect faces in the next frame and return the tracks seen in it.

        Args:
            image: ``(H, W, 3)`` uint8 RGB frame.
            time: its time in seconds (default: the frame count).
        """
        pil = Image.fromarray(image)
        return self.step(pil, self.detect([pil])[0], self.frame + 1, time)

    def detect(self, images: list[Image.Image]) -> list[list[Region]]:
        """The recognisable faces of a batch of RGB frames."""
        return self.recognizer.detect_regions(images, self.detector)

    def step(
        self, image: Image.Image, regions: list[Region], frame: int, time: float | None = None
    ) -> list[Track]:
        """Assign one frame's detections to tracks (detection done by the caller).

        Args:
            image: the frame, RGB.
            regions: its recognisable detections.
            frame: its index; frames skipped since the last call count as missed.
            time: its time in seconds (default: ``frame``).

        Returns:
            The tracks detected in this frame.
        """
        gap = frame - self.frame if self.frame >= 0 else 1
        self.frame = frame
        time = float(frame if time is None else time)
        for track in self.live:
            track.missed += gap
        self._retire()
        embeddings: dict[int, np.ndarray] = {}

        def embedding(j: int) -> np.ndarray:
            if j not in embeddings:
                missing = [k for k in range(len(regions)) if k not in embeddings]
                own = [dataclasses.replace(regions[k], image=0) for k in missing]
                faces = self.recognizer.embed_regions([image], own)
                embeddings.update({k: f.embedding for k, f in zip(missing, faces, strict=True)})
            return embeddings[j]

        assigned = self._assign(regions, frame, embedding)
        tracks: dict[int, Track] = {}
        for j, track in assigned.items():
            self._extend(track, image, regions[j], frame, time)
            tracks[j] = track
        for j, region in enumerate(regions):
            if j not in tracks:
                face = embedding(j)
                tracks[j] = self._revive(face) or self._start(face)
                self._extend(tracks[j], image, region, frame, time)
        for j, face in embeddings.items():
            track = tracks[j]
            if track.appearance is not None:
                mixed = 0.8 * track.appearance + 0.2 * face
                track.appearance = mixed / max(float(np.linalg.norm(mixed)), 1e-12)
        return [tracks[j] for j in range(len(regions))]

    def _assign(self, regions, frame: int, embedding) -> dict[int, Track]:
        """Detection index -> live track it continues (Hungarian on overlap, embeddings where
        overlap is ambiguous)."""
        current = [t for t in self.live if t.missed <= self.max_missed]
        if not current or not regions:
            return {}
        predicted = torch.as_tensor(np.stack([t.predicted(frame) for t in current]))
        detected = torch.as_tensor(np.stack([r.box for r in regions]).astype(np.float64))
        iou = box_iou(predicted, detected).numpy()
        feasible = iou >= self.iou_threshold
        cost = np.where(feasible, 1.0 - iou, _INFEASIBLE)
        # A detection is contested where it could continue two tracks, or where one of its
        # tracks could take another detection: people crossing. There the face decides too.
        contested = (feasible.sum(axis=0) > 1) | (
            feasible & (feasible.sum(axis=1) > 1)[:, None]
        ).any(axis=0)
        for j in np.flatnonzero(contested):
            for i, track in enumerate(current):
                if feasible[i, j] and track.appearance is not None:
                    # A distance in [0, 2] weighs more than any overlap difference.
                    cost[i, j] += float(np.linalg.norm(track.appearance - embedding(int(j))))
        rows, cols = linear_sum_assignment(cost)
        return {
            int(j): current[i] for i, j in zip(rows, cols, strict=True) if cost[i, j] < _INFEASIBLE
        }

    def _revive(self, face: np.ndarray) -> Track | None:
        """A lost track (missed this frame too) this face is, by embedding, if any."""
        lost = [t for t in self.live if t.missed > 0 and t.appearance is not None]
        if not lost:
            return None
        distances = [float(np.linalg.norm(t.appearance - face)) for t in lost]
        best = int(np.argmin(distances))
        if distances[best] >= self.reid_distance:
            return None
        lost[best].velocity[:] = 0.0  # it moved unseen: its old velocity says nothing
        return lost[best]

    def _start(self, face: np.ndarray) -> Track:
        track = Track(self._next_id, appearance=face)
        self._next_id += 1
        self.live.append(track)
        return track

    def _extend(self, track: Track, image: Image.Image, region: Region, frame: int, time: float):
        box = np.asarray(region.box, dtype=np.float64)
        if track.boxes:
            step = max(1, frame - track.last_frame)
            track.velocity = 0.5 * track.velocity + 0.5 * (box - track.box) / step
        track.boxes.append([frame, *box.tolist(), float(region.probability or 0.0)])
        track.times.append(time)
        track.missed = 0
        side = min(box[2] - box[0], box[3] - box[1])
        score = float(region.probability or 0.0) * min(side, 160.0)
        if len(track.best) < self.best_crops or score > track.best[-1][0]:
            crop = self.recognizer.crop(image, region.box, region.landmarks)
            track.best = sorted([*track.best, (score, frame, crop)], key=lambda b: -b[0])[
                : self.best_crops
            ]

    def _retire(self) -> None:
        for track in [t for t in self.live if t.missed > self.max_missed]:
            self.live.remove(track)
            self._close(track)

    def _close(self, track: Track) -> None:
        """A finished track: embedded (mean of its best crops), named by their vote, and
        reduced to its single best crop, so that a long video's memory stays flat."""
        faces = self.recognizer.embed_crops([crop for _, _, crop in track.best])
        mean = faces.mean(axis=0)
        track.embedding = mean / max(float(np.linalg.norm(mean)), 1e-12)
        if self.gallery is not None:
            track.identity, track.distance = vote(self.gallery.search(faces))
        track.best = track.best[:1]
        self.finished.append(track)

    def finish(self) -> list[Track]:
        """End the video: every track is finished (named, with a gallery) and returned, in
        order of appearance."""
        for track in self.live:
            self._close(track)
        self.live = []
        return sorted(self.finished, key=lambda t: t.id)


def _recognisable_size_detector(recognizer: FaceRecognizer):
    """The recognizer's detector, or a copy that searches only faces as large as the
    recognizer keeps: searching smaller ones costs P-Net its largest pyramid levels (1.7x the
    time of a 1080p frame) for faces that are dropped after detection anyway."""
    detector = recognizer.detector
    if detector.min_face_size >= recognizer.min_face_size:
        return detector
    sized = copy.copy(detector)  # shares the networks
    sized.min_face_size = int(recognizer.min_face_size)
    return sized


def vote(answers) -> tuple[str | None, float | None]:
    """A track's name from its crops' gallery answers: the majority name with the median
    distance of its votes, or ``(None, None)`` where "unknown" wins or no name has a majority
    (open set: a stranger's crops each find some nearest person, rarely the same one)."""
    if not answers:
        return None, None
    name, count = Counter(a.name for a in answers).most_common(1)[0]
    if name == "unknown" or count * 2 <= len(answers):
        return None, None
    return name, float(np.median([a.distance for a in answers if a.name == name]))
