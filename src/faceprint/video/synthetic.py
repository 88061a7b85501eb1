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


def crossing(people: list[tuple[str, Path]], frames: int, seed: int = 0) -> list[Walker]:
    """Paths for three people: the first drifts across the middle, further back (a face of
    30-34 px, about the smallest a model recognises) and behind the others; the second and
    third walk across towards each other, crossing each other and, one after the other,
    passing in front of the first, whose face they hide (fully, for a few frames)."""
    if len(people) != 3:
        raise ValueError(f"the crossing layout takes 3 people, got {len(people)}")
    rng = np.random.default_rng(seed)
    (back, back_photo), (left, left_photo), (right, right_photo) = people
    jitter = rng.uniform(-0.02, 0.02, size=3)
    return [
        Walker(back, back_photo, 0, frames - 1, (0.4, 0.5 + jitter[0]), (0.6, 0.5), 66, 76),
        Walker(
            right,
            right_photo,
            round(0.05 * frames),
            round(0.9 * frames),
            (0.9, 0.56 + jitter[1]),
            (0.1, 0.56),
            135,
            115,
        ),
        Walker(
            left,
            left_photo,
            round(0.1 * frames),
            frames - 1,
            (0.1, 0.44 + jitter[2]),
            (0.9, 0.44),
            110,
            130,
        ),
    ]


#: How people move in a synthetic video: ``pairs`` (:func:`scenario`), any number of people in
#: crossing pairs; ``crossing`` (:func:`crossing`), three people, one hidden behind the others.
LAYOUTS = {"pairs": scenario, "crossing": crossing}


@dataclass
class Sprite:
    """A person's cut-out and where the face is in it (fractions of the sprite)."""

    image: Image.Image
    mask: Image.Image
    face: np.ndarray


def make_sprite(photo: Path, detector) -> Sprite:
    """The centre of an LFW photo with a soft oval edge, and its face box (the largest face
    ``detector``, a :class:`~faceprint.detection.Detector`, finds in it)."""
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
    [found] = detector.detect_batch([crop])
    if len(found) == 0:
        raise ValueError(f"{photo}: no face in the sprite")
    largest = int(np.argmax((found.boxes[:, 2:] - found.boxes[:, :2]).prod(1)))
    face = found.boxes[largest] / np.array([200, 250, 200, 250], dtype=np.float64)
    return Sprite(crop, mask, face)


def render(
    walkers: list[Walker],
    sprites: dict[str, Sprite],
    path: str | os.PathLike,
    frames: int,
    width: int,
    height: int,
    fps: float,
) -> list[tuple[int, str, float, float, float, float, bool, float]]:
    """Write the video; returns the truth: ``(frame, name, x1, y1, x2, y2, visible, hidden)``
    per person per frame on canvas. ``hidden`` is the share of the face box under the sprites
    painted over it (their opaque pixels, 0-1); ``visible`` is False where that hides half the
    face or the face is less than 80% inside the frame."""
    yy, xx = np.mgrid[0:height, 0:width]
    background = np.stack(
        [90 + 60 * xx / width, 100 + 40 * yy / height, 110 + 20 * (xx + yy) / (width + height)],
        axis=-1,
    ).astype(np.uint8)
    truth = []
    with VideoWriter(path, width, height, fps) as writer:
        for frame in range(frames):
            canvas = Image.fromarray(background)
            # Which sprite is on top at each pixel (-1: none): a face is hidden where a sprite
            # painted after its own is.
            top = np.full((height, width), -1, dtype=np.int16)
            placed = []
            for walker in sorted(walkers, key=lambda w: w.start):  # later walkers in front
                if not walker.start <= frame <= walker.end:
                    continue
                cx, cy, side = walker.at(frame, width, height)
                sprite = sprites[walker.name]
                w, h = round(side * 0.8), round(side)
                x0, y0 = round(cx - w / 2), round(cy - h / 2)
                mask = sprite.mask.resize((w, h), Image.BILINEAR)
                canvas.paste(sprite.image.resize((w, h), Image.BILINEAR), (x0, y0), mask)
                _paint(top, np.asarray(mask) >= 128, x0, y0, len(placed))
                face = sprite.face * np.array([w, h, w, h]) + np.array([x0, y0, x0, y0])
                placed.append((walker.name, face))
            for k, (name, face) in enumerate(placed):
                clipped = np.clip(face, 0, [width, height, width, height])
                x1, y1, x2, y2 = (round(v) for v in clipped)
                region = top[y1:y2, x1:x2]
                hidden = float((region > k).mean()) if region.size else 1.0
                inside = _area(clipped) / max(_area(face), 1e-9)
                visible = hidden < 0.5 and inside > 0.8
                truth.append((frame, name, *map(float, clipped), visible, hidden))
            writer.write(np.asarray(canvas))
    return truth


def _paint(top: np.ndarray, opaque: np.ndarray, x0: int, y0: int, label: int) -> None:
    """Mark ``top`` with ``label`` where the sprite at ``(x0, y0)`` is opaque (clipped)."""
    h, w = opaque.shape
    ys, xs = (
        slice(max(0, y0), min(top.shape[0], y0 + h)),
        slice(max(0, x0), min(top.shape[1], x0 + w)),
    )
    sub = opaque[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
    top[ys, xs][sub] = label


def _area(box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def crossings(truth) -> int:
    """Pairs of people whose visible faces come within one face width of each other."""
    by_frame: dict[int, list] = {}
    for frame, name, x1, y1, x2, y2, *_ in truth:
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


def _matches(tracks, truth, max_hidden: float) -> dict[str, list[tuple[int, int | None]]]:
    """Per person, ``(frame, track id or None)`` for each frame where at most ``max_hidden``
    (below 0.5) of the face is hidden and it is 80% inside the frame: the track whose box
    (detected or bridged, as the JSON gives it) overlaps the face best, at IoU 0.5 or more."""
    from faceprint.video.process import boxes_at

    shown = {frame: boxes for frame, boxes in boxes_at(tracks)}
    found: dict[str, list] = {}
    for frame, name, x1, y1, x2, y2, visible, hidden in truth:
        if hidden > max_hidden or not visible:
            continue
        boxes = shown.get(frame, [])
        best = None
        if boxes:
            iou = box_iou(
                torch.tensor([[x1, y1, x2, y2]]), torch.tensor(np.stack([b for _, b, _ in boxes]))
            )[0]
            k = int(iou.argmax())
            best = boxes[k][0].id if float(iou[k]) >= 0.5 else None
        found.setdefault(name, []).append((frame, best))
    return found


def people_scores(tracks, truth, max_hidden: float = 0.3) -> dict[str, dict]:
    """Per person, over the frames where at most ``max_hidden`` of their face is hidden (and
    it is 80% inside the frame): ``covered``, the share with a box of their own track (IoU
    0.5; their tracks are those that cover them in most of the frames the track covers
    anyone); ``named``, the share whose box of their track carries their name; ``tracks``,
    how many track ids cover them at all.

    Args:
        tracks: :class:`faceprint.video.Track` list (every frame counts, bridged or detected).
        truth: what :func:`render` returned.
        max_hidden: the largest hidden share of a face that counts, 0-0.5.
    """
    found = _matches(tracks, truth, max_hidden)
    owner: dict[int, str] = {}
    votes: dict[int, dict[str, int]] = {}
    for name, frames in found.items():
        for _, track_id in frames:
            if track_id is not None:
                votes.setdefault(track_id, {}).setdefault(name, 0)
                votes[track_id][name] += 1
    for track_id, counts in votes.items():
        owner[track_id] = max(counts, key=counts.get)
    identity = {t.id: t.identity for t in tracks}
    scores = {}
    for name, frames in sorted(found.items()):
        own = [track_id for _, track_id in frames if owner.get(track_id) == name]
        scores[name] = {
            "frames": len(frames),
            "covered": len(own) / len(frames),
            "named": sum(identity[k] == name for k in own) / len(frames),
            "tracks": len({k for _, k in frames if k is not None}),
        }
    return scores


def score(tracks, truth) -> dict:
    """IDF1, MOTA and identity switches (py-motmetrics, IoU 0.5) of tracks against the visible
    truth, and the share of matched track frames that carry the right name.

    Args:
        tracks: :class:`faceprint.video.Track` list; every frame of a track counts, its
            detected boxes and the bridged ones between (as the JSON and the annotated video
            give them).
        truth: what :func:`render` returned.
    """
    import motmetrics as mm

    from faceprint.video.process import boxes_at

    names = sorted({t[1] for t in truth})
    gt: dict[int, list] = {}
    for frame, name, x1, y1, x2, y2, visible, _ in truth:
        if visible:
            gt.setdefault(frame, []).append((names.index(name), [x1, y1, x2, y2]))
    hyp: dict[int, list] = {}
    identity = {}
    for track in tracks:
        identity[track.id] = track.identity
    for frame, shown in boxes_at(tracks):
        hyp[frame] = [(track.id, box.tolist()) for track, box, _ in shown]
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
    layout: str = "pairs",
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
        layout: how they move, one of :data:`LAYOUTS`.
    """
    from faceprint.detection.registry import create_detector
    from faceprint.gallery import Gallery
    from faceprint.pipeline import FaceRecognizer

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    recognizer = recognizer or FaceRecognizer()
    # The truth's face boxes are MTCNN's on the sprites, whichever detector is then scored.
    detector = create_detector("mtcnn")
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
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    walkers = LAYOUTS[layout]([(name, photos[0]) for name, photos, _ in chosen], frames, seed)
    sprites = {name: sprite for name, _, sprite in chosen}
    video = directory / "synthetic.mp4"
    truth = render(walkers, sprites, video, frames, width, height, fps)
    gallery_path = directory / "gallery.db"
    gallery_path.unlink(missing_ok=True)
    with Gallery(gallery_path, recognizer=recognizer) as gallery:
        for name, photos, _ in chosen:
            gallery.add(name, [str(p) for p in photos[1:3]])
    return SyntheticCase(video, truth, gallery_path, walkers)
