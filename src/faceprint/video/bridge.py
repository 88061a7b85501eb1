"""Where a face may be in every frame, for anonymisation: each track's boxes, the gaps between
a track that ends and one that starts nearby soon after (interpolated), and a short stretch
beyond each track's first and last sighting along its motion (extrapolated, the box growing
as it goes).

A track ends where the detector loses a face for a moment (a face turned down, motion blur, a
passer-by in front) and a new one starts when it finds it again: on the sample video a large
face looking down was lost from frame 96 to 102. Blurring only the tracks left it sharp in
between; joining the two tracks, and following each end a little further, covers it. A box
too many costs a blurred patch of background; a box too few leaves a face.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from faceprint.video.tracker import Track


@dataclass(frozen=True)
class Bridging:
    """How far beyond the detections faces are followed.

    Attributes:
        max_gap: the most frames between a track's last detection and the next track's first
            for the two to be joined (every frame between boxed by interpolation).
        coast: frames each track is followed past its last detection (and before its first),
            at the velocity of its last (first) detections.
        growth: each side of a followed box moves out by this share of the box's longer side
            per frame away from a detection (where the face is grows less certain).
        nearby: a start joins an end when its centre lies within this many box sides (the
            larger of the two) of where the end was heading, or of where it was last seen.
        max_speed: velocities are clamped to this share of the box side per frame (one bad
            box must not fling a followed box across the frame).
    """

    max_gap: int = 12
    coast: int = 8
    growth: float = 0.04
    nearby: float = 1.5
    max_speed: float = 0.25

    @classmethod
    def for_rate(cls, fps: float, every: int = 1) -> Bridging:
        """Gaps of up to half a second joined, each end followed for a third of a second
        (and at least the ``every - 1`` frames no detection looked at)."""
        fps = fps or 25.0
        return cls(max_gap=max(every, round(0.5 * fps)), coast=max(every - 1, round(fps / 3)))


def _side(box: np.ndarray) -> float:
    return float(max(box[2] - box[0], box[3] - box[1], 1.0))


def _grow(box: np.ndarray, amount: float) -> np.ndarray:
    return box + np.array([-amount, -amount, amount, amount])


def _velocity(detections: Sequence[Sequence[float]], max_speed: float) -> np.ndarray:
    """``(4,)`` pixels per frame: the least-squares slope of the boxes over ``detections``
    (rows ``[frame, x1, y1, x2, y2, ...]``), clamped to ``max_speed`` sides per frame; zero
    for a single detection."""
    rows = np.asarray([d[:5] for d in detections], dtype=np.float64)
    if len(rows) < 2 or np.ptp(rows[:, 0]) == 0:
        return np.zeros(4)
    frames = rows[:, 0] - rows[:, 0].mean()
    slope = frames @ (rows[:, 1:5] - rows[:, 1:5].mean(axis=0)) / (frames @ frames)
    limit = max_speed * _side(rows[-1, 1:5])
    return np.clip(slope, -limit, limit)


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def joins(tracks: list[Track], bridging: Bridging) -> list[tuple[Track, Track]]:
    """``(ending, starting)`` pairs of tracks to join: the second starts within
    ``bridging.max_gap`` frames after the first's last detection, near where the first was
    heading or was last seen, at a size within a factor of 2. A track may join several (a
    false join costs a blurred strip of background)."""
    starts = sorted(tracks, key=lambda t: t.first_frame)
    firsts = [t.first_frame for t in starts]
    pairs = []
    for end in tracks:
        last = np.asarray(end.boxes[-1][1:5], dtype=np.float64)
        velocity = _velocity(end.boxes[-5:], bridging.max_speed)
        window = slice(
            bisect.bisect_left(firsts, end.last_frame + 2),
            bisect.bisect_right(firsts, end.last_frame + bridging.max_gap + 1),
        )
        for start in starts[window]:
            gap = start.first_frame - end.last_frame
            first = np.asarray(start.boxes[0][1:5], dtype=np.float64)
            sides = _side(last), _side(first)
            if max(sides) > 2 * min(sides):
                continue
            reach = bridging.nearby * max(sides)
            heading = last + velocity * gap
            if (
                min(
                    np.linalg.norm(_centre(first) - _centre(heading)),
                    np.linalg.norm(_centre(first) - _centre(last)),
                )
                <= reach
            ):
                pairs.append((end, start))
    return pairs


def cover_boxes(
    tracks: list[Track],
    frames: int,
    width: int,
    height: int,
    bridging: Bridging,
) -> Iterator[tuple[int, np.ndarray]]:
    """``(frame, (N, 4) boxes)`` for every frame from 0 to ``frames - 1``: where each face
    may be (tracks' detected and interpolated boxes, joined gaps, followed ends).

    Args:
        tracks: the video's tracks (any number of detections each).
        frames: the video's frame count.
        width, height: the frame size (followed boxes stop once wholly outside it).
        bridging: how far to follow.

    Yields:
        Every frame in order, with ``x1, y1, x2, y2`` pixel boxes (N may be 0).
    """
    covered: dict[int, list[np.ndarray]] = {}

    def add(frame: int, box: np.ndarray) -> bool:
        """Keep ``box`` at ``frame``; False where the frame is outside the video or the box
        wholly outside the picture."""
        if not 0 <= frame < frames:
            return False
        if box[2] <= 0 or box[3] <= 0 or box[0] >= width or box[1] >= height:
            return False
        covered.setdefault(frame, []).append(box)
        return True

    for track in tracks:
        for frame, box, _ in track.rows():
            add(frame, box)
        for detections, sign, anchor in (
            (track.boxes[-5:], 1, track.boxes[-1]),
            (track.boxes[:5], -1, track.boxes[0]),
        ):
            velocity = _velocity(detections, bridging.max_speed)
            box = np.asarray(anchor[1:5], dtype=np.float64)
            side = _side(box)
            for k in range(1, bridging.coast + 1):
                moved = _grow(box + sign * velocity * k, bridging.growth * side * k)
                if not add(int(anchor[0]) + sign * k, moved):
                    break
    for end, start in joins(tracks, bridging):
        a = np.asarray(end.boxes[-1][1:5], dtype=np.float64)
        b = np.asarray(start.boxes[0][1:5], dtype=np.float64)
        span = start.first_frame - end.last_frame
        side = max(_side(a), _side(b))
        for step in range(1, span):
            away = min(step, span - step)
            add(
                end.last_frame + step,
                _grow(a + (b - a) * (step / span), bridging.growth * side * away),
            )
    empty = np.zeros((0, 4))
    for frame in range(frames):
        boxes = covered.pop(frame, None)
        yield frame, np.stack(boxes) if boxes else empty
