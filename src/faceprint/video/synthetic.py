"""A test video with known answers: photos of people moving across a canvas along set paths
(crossing each other, entering and leaving, growing and shrinking), and the scoring of tracks
against them with py-motmetrics (IDF1, MOTA, identity switches) and of their names.

No public face-tracking clip comes with per-frame identities under a licence we can ship; this
one is made from LFW photos, so every box and every name is known.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter
from torchvision.ops import box_iou

from faceprint.video.io import VideoWriter


@dataclass(frozen=True)
class Walker:
    """One person's path.

    Attributes:
        name: the identity (an LFW name).
        photo: the photo the sprite is cut from.
        start, end: first and last frame on the canvas.
        start_xy, end_xy: sprite centre at ``start`` and ``end``, in canvas fractions.
        start_size, end_size: sprite side at ``start`` and ``end``, in pixels.
    """

    name: str
    photo: Path
    start: int
    end: int
    start_xy: tuple[float, float]
    end_xy: tuple[float, float]
    start_size: float
    end_size: float

    def at(self, frame: int, width: int, height: int) -> tuple[float, float, float]:
        """``(cx, cy, side)`` of the sprite at ``frame``, in pixels."""
        w = (frame - self.start) / max(1, self.end - self.start)
        cx = ((1 - w) * self.start_xy[0] + w * self.end_xy[0]) * width
        cy = ((1 - w) * self.start_xy[1] + w * self.end_xy[1]) * height
        return cx, cy, (1 - w) * self.start_size + w * self.end_size


def scenario(people: list[tuple[str, Path]], frames: int, seed: int = 0) -> list[Walker]:
    """Paths for ``people``: pairs walking towards each other on nearly one line (they cross,
    the later one in front), entering and leaving at staggered times, changing size."""
    rng = np.random.default_rng(seed)
    walkers = []
    for k, (name, photo) in enumerate(people):
        pair, second = divmod(k, 2)
        lane = 0.3 + 0.4 * ((pair % 3) / 2 if len(people) > 2 else 0.5)
        start = int((pair * 0.18 % 0.5) * frames)
        end = min(frames - 1, start + int(frames * rng.uniform(0.5, 0.65)))
        left, right = (0.1, 0.9) if second == 0 else (0.9, 0.1)
        y = lane + (0.06 if second else 0.0)
        size_a, size_b = rng.uniform(90, 110), rng.uniform(120, 150)
        walkers.append(Walker(name, photo, start, end, (left, y), (right, y), size_a, size_b))
    return walkers


@dataclass
class Sprite:
    """A person's cut-out and where the face is in it (fractions of the sprite)."""

    image: Image.Image
    mask: Image.Image
    face: np.ndarray


def make_sprite(photo: Path, detector) -> Sprite:
    """The centre of an LFW photo with a soft oval edge, and its face box."""
    image = Image.open(photo).convert("RGB")
    side = min(image.size)
    crop = (
        image.crop(
            (
                (image.width - side) // 2,
                (image.height - side) // 2,
                (image.width + side) // 2,
                (image.height + side) // 2,
            )
        )
        .crop((side * 0.18, side * 0.1, side * 0.82, side * 0.9))
        .resize((200, 250))
    )
    mask = Image.new("L", crop.size, 0)
    ImageDraw.Draw(mask).ellipse((8, 4, 192, 246), fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(6))
    boxes, _ = detector.detect(crop)
    if boxes is None:
        raise ValueError(f"{photo}: no face in the sprite")
    face = boxes[0] / np.array([200, 250, 200, 250], dtype=np.float64)
    return Sprite(crop, mask, face)


def render(
    walkers: list[Walker],
    sprites: dict[str, Sprite],
    path: str | os.PathLike,
    frames: int,
    width: int,
    height: int,
    fps: float,
) -> list[tuple[int, str, float, float, float, float, bool]]:
    """Write the video; returns the truth: ``(frame, name, x1, y1, x2, y2, visible)`` per
    person per frame on canvas, ``visible`` False where another sprite hides half the face."""
    yy, xx = np.mgrid[0:height, 0:width]
    background = np.stack(
        [90 + 60 * xx / width, 100 + 40 * yy / height, 110 + 20 * (xx + yy) / (width + height)],
        axis=-1,
    ).astype(np.uint8)
    truth = []
    with VideoWriter(path, width, height, fps) as writer:
        for frame in range(frames):
            canvas = Image.fromarray(background)
            placed = []
            for walker in sorted(walkers, key=lambda w: w.start):  # later walkers in front
                if not walker.start <= frame <= walker.end:
                    continue
                cx, cy, side = walker.at(frame, width, height)
                sprite = sprites[walker.name]
                w, h = round(side * 0.8), round(side)
                x0, y0 = round(cx - w / 2), round(cy - h / 2)
                canvas.paste(
                    sprite.image.resize((w, h), Image.BILINEAR),
                    (x0, y0),
                    sprite.mask.resize((w, h), Image.BILINEAR),
                )
                face = sprite.face * np.array([w, h, w, h]) + np.array([x0, y0, x0, y0])
                placed.append((walker.name, face, (x0, y0, x0 + w, y0 + h)))
            for k, (name, face, _) in enumerate(placed):
                hidden = max((_covered(face, over) for _, _, over in placed[k + 1 :]), default=0)
                clipped = np.clip(face, 0, [width, height, width, height])
                inside = _area(clipped) / max(_area(face), 1e-9)
                visible = hidden < 0.5 and inside > 0.8
                truth.append((frame, name, *map(float, clipped), visible))
            writer.write(np.asarray(canvas))
    return truth


def _area(box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _covered(face, over) -> float:
    """Fraction of ``face`` under the rectangle ``over``."""
    x1, y1 = max(face[0], over[0]), max(face[1], over[1])
    x2, y2 = min(face[2], over[2]), min(face[3], over[3])
    return _area((x1, y1, x2, y2)) / max(_area(face), 1e-9)


def crossings(truth) -> int:
    """Pairs of people whose visible faces come within one face width of each other."""
    by_frame: dict[int, list] = {}
    for frame, name, x1, y1, x2, y2, _ in truth:
        by_frame.setdefault(frame, []).append((name, (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1))
    pairs = set()
    for people in by_frame.values():
        for i, (a, ax, ay, aw) in enumerate(people):
            for b, bx, by, bw in people[i + 1 :]:
                if abs(ax - bx) < (aw + bw) / 2 and abs(ay - by) < (aw + bw) / 2:
                    pairs.add(tuple(sorted((a, b))))
    return len(pairs)


def _iou_distances(truth_boxes, track_boxes) -> np.ndarray:
    """``1 - IoU`` of ``(x1, y1, x2, y2)`` boxes, NaN (no match) below IoU 0.5.

    motmetrics' own ``iou_matrix`` calls ``np.asfarray``, which numpy 2 removed.
    """
    if not truth_boxes or not track_boxes:
        return np.empty((len(truth_boxes), len(track_boxes)))
    iou = box_iou(torch.tensor(truth_boxes), torch.tensor(track_boxes)).numpy()
    return np.where(iou >= 0.5, 1.0 - iou, np.nan)


def score(tracks, truth, max_gap: int = 25) -> dict:
    """IDF1, MOTA and identity switches (py-motmetrics, IoU 0.5) of tracks against the visible
    truth, and the share of matched track frames that carry the right name.

    Args:
        tracks: :class:`faceprint.video.Track` list.
        truth: what :func:`render` returned.
        max_gap: tracks' boxes are interpolated across gaps up to this many frames, as the
            annotated video draws them (detection in every n-th frame).
    """
    import motmetrics as mm

    from faceprint.video.process import boxes_at

    names = sorted({t[1] for t in truth})
    gt: dict[int, list] = {}
    for frame, name, x1, y1, x2, y2, visible in truth:
        if visible:
            gt.setdefault(frame, []).append((names.index(name), [x1, y1, x2, y2]))
    hyp: dict[int, list] = {}
    identity = {}
    for track in tracks:
        identity[track.id] = track.identity
    for frame, shown in boxes_at(tracks, max_gap):
        hyp[frame] = [(track.id, box.tolist()) for track, box in shown]
    accumulator = mm.MOTAccumulator(auto_id=False)
    for frame in sorted(set(gt) | set(hyp)):
        g, h = gt.get(frame, []), hyp.get(frame, [])
        distances = _iou_distances([b for _, b in g], [b for _, b in h])
        accumulator.update([i for i, _ in g], [i for i, _ in h], distances, frameid=frame)
    summary = mm.metrics.create().compute(
        accumulator, metrics=["idf1", "mota", "num_switches", "precision", "recall"], name="all"
    )
    events = accumulator.mot_events
    matched = events[events.Type.isin(["MATCH", "SWITCH"])]
    right = sum(
        identity.get(int(h)) == names[int(o)] for o, h in zip(matched.OId, matched.HId, strict=True)
    )
    return {
        "idf1": float(summary["idf1"].iloc[0]),
        "mota": float(summary["mota"].iloc[0]),
        "switches": int(summary["num_switches"].iloc[0]),
        "precision": float(summary["precision"].iloc[0]),
        "recall": float(summary["recall"].iloc[0]),
        "named_right": right / max(1, len(matched)),
        "crossings": crossings([t for t in truth if t[6]]),
    }


@dataclass
class SyntheticCase:
    """A rendered test video with its truth and a gallery of the same people.

    Attributes:
        video: the MP4.
        truth: per person per frame ``(frame, name, x1, y1, x2, y2, visible)``.
        gallery: a gallery file holding each person enrolled from two *other* photos.
        walkers: the paths.
    """

    video: Path
    truth: list
    gallery: Path
    walkers: list[Walker]


def build_case(
    lfw_images: str | os.PathLike,
    directory: str | os.PathLike,
    people: int = 6,
    frames: int = 250,
    width: int = 960,
    height: int = 540,
    fps: float = 25.0,
    seed: int = 0,
    recognizer=None,
) -> SyntheticCase:
    """Render a synthetic video of ``people`` LFW people (the first with at least three photos,
    sorted by name, skipping every ``seed``-th offset) and enroll them from their other photos.

    Args:
        lfw_images: LFW's ``images/`` folder.
        directory: where the video, truth and gallery go.
        people: how many people walk.
        frames, width, height, fps: the video's length and size.
        seed: chooses the paths' lengths and sizes.
        recognizer: a :class:`faceprint.FaceRecognizer` (default: a new one).
    """
    from faceprint.detection.mtcnn import MTCNN
    from faceprint.gallery import Gallery
    from faceprint.pipeline import FaceRecognizer

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    recognizer = recognizer or FaceRecognizer()
    detector = MTCNN()
    chosen = []
    for person in sorted(Path(lfw_images).iterdir()):
        photos = sorted(person.glob("*.jpg"))
        if len(photos) >= 3:
            try:
                sprite = make_sprite(photos[0], detector)
            except ValueError:
                continue
            chosen.append((person.name, photos, sprite))
        if len(chosen) == people:
            break
    walkers = scenario([(name, photos[0]) for name, photos, _ in chosen], frames, seed)
    sprites = {name: sprite for name, _, sprite in chosen}
    video = directory / "synthetic.mp4"
    truth = render(walkers, sprites, video, frames, width, height, fps)
    gallery_path = directory / "gallery.db"
    gallery_path.unlink(missing_ok=True)
    with Gallery(gallery_path, recognizer=recognizer) as gallery:
        for name, photos, _ in chosen:
            gallery.add(name, [str(p) for p in photos[1:3]])
    return SyntheticCase(video, truth, gallery_path, walkers)
