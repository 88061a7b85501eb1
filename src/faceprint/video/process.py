"""A video file in, who appears, when and where out: batched detection, tracking, naming, and
the annotated or blurred video, the JSON and the best face of each track.

Detection runs on batches of frames (where faceprint's detector is fastest); the annotated
video is a second decoding pass, so that every frame of a track carries the name its whole
track was given. Memory holds a batch of frames and the tracks' boxes, however long the video.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter
from tqdm import tqdm

from faceprint.video.bridge import Bridging, cover_boxes
from faceprint.video.io import VideoInfo, VideoWriter, probe, read_frames
from faceprint.video.tracker import FaceTracker, Track

#: Detections per second of video by default: tracks bridge the frames between (a face moves
#: little in 1/12 s), which halves the detector's work at 25-30 fps.
DETECTIONS_PER_SECOND = 12.5

#: The ``--json`` document's layout version: 2 gives every track a box in every frame it spans,
#: ``{"frame", "box", "detected", "probability"}`` (1 held the detected frames only, as lists).
JSON_VERSION = 2


def detection_step(fps: float, every: int | None = None) -> int:
    """Detect in every n-th frame: ``every``, or by default about
    :data:`DETECTIONS_PER_SECOND` detections per second (every frame below 19 fps)."""
    if every is not None:
        if every < 1:
            raise ValueError(f"every must be at least 1, got {every}")
        return every
    return max(1, round((fps or 25.0) / DETECTIONS_PER_SECOND))


@dataclass(frozen=True)
class FrameFaces:
    """The faces detected in one frame.

    Attributes:
        index: frame index.
        time: its time in seconds.
        tracks: the tracks detected in it (``track.box`` is this frame's box while the
            generator is at this frame).
    """

    index: int
    time: float
    tracks: list[Track]


@dataclass
class VideoTracks:
    """Every track of a video.

    Attributes:
        info: the video's size, rate and length.
        frames: frames decoded.
        tracks: tracks of at least ``min_track`` detections, in order of appearance.
        every: faces were detected in every ``every``-th frame.
        seconds: wall time of the job.
        threshold: the gallery's open-set distance threshold tracks were named with (None
            without a gallery).
    """

    info: VideoInfo
    frames: int
    tracks: list[Track]
    every: int = 1
    seconds: float = 0.0
    threshold: float | None = None

    def to_dict(self) -> dict:
        """The ``--json`` document (layout :data:`JSON_VERSION`, in the README)."""
        return {
            "version": JSON_VERSION,
            "video": str(self.info.path),
            "frames": self.frames,
            "fps": self.info.fps,
            "width": self.info.width,
            "height": self.info.height,
            "seconds": self.info.seconds,
            "detected_every": self.every,
            "threshold": None if self.threshold is None else round(self.threshold, 4),
            "tracks": [t.to_dict() for t in self.tracks],
        }


def process(
    video: str | os.PathLike,
    tracker: FaceTracker,
    every: int | None = None,
    batch: int = 8,
    progress: bool = False,
) -> Iterator[FrameFaces]:
    """Detect and track faces through a video, frame by frame.

    Args:
        video: the video file.
        tracker: the :class:`FaceTracker` that keeps the tracks (call its ``finish()`` after).
        every: detect in every ``every``-th frame only (tracks bridge the others); default
            :func:`detection_step` of the video's frame rate.
        batch: frames detected together.
        progress: show a progress bar (frames and frames per second).

    Yields:
        :class:`FrameFaces` for each detected frame, in order.
    """
    info = probe(video)
    yield from _tracked(info, tracker, detection_step(info.fps, every), batch, progress)


def _tracked(
    info: VideoInfo, tracker: FaceTracker, every: int, batch: int, progress: bool
) -> Iterator[FrameFaces]:
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    total = info.frames or None
    with tqdm(total=total, desc="video", unit="frame", disable=not progress) as bar:
        pending = []
        for frame in read_frames(info.path, every=every, info=info):
            pending.append(frame)
            if len(pending) == batch:
                yield from _track_batch(tracker, pending)
                bar.update(min(len(pending) * every, (total or 1 << 62) - bar.n))
                pending = []
        if pending:
            yield from _track_batch(tracker, pending)
            bar.update(max(0, (total or bar.n + len(pending) * every) - bar.n))


def _track_batch(tracker: FaceTracker, frames) -> Iterator[FrameFaces]:
    images = [Image.fromarray(f.image) for f in frames]
    regions = tracker.detect(images)
    for frame, image, found in zip(frames, images, regions, strict=True):
        yield FrameFaces(
            frame.index, frame.time, tracker.step(image, found, frame.index, frame.time)
        )


def track_video(
    video: str | os.PathLike,
    tracker: FaceTracker,
    every: int | None = None,
    min_track: int = 3,
    cluster: bool = False,
    batch: int = 8,
    progress: bool = False,
) -> VideoTracks:
    """Every face track of a video, named by the tracker's gallery, or grouped by person.

    Args:
        video: the video file.
        tracker: a :class:`FaceTracker` (with a gallery, tracks are named).
        every: detect in every ``every``-th frame (default: :func:`detection_step`).
        min_track: tracks detected in fewer frames are dropped (flickering false detections).
        cluster: give unnamed tracks of one person a shared label (``"person 1"``, ...).
        batch: frames detected together.
        progress: show a progress bar.
    """
    import time as clock

    start = clock.perf_counter()
    info = probe(video)
    every = detection_step(info.fps, every)
    last = -1
    for frame in _tracked(info, tracker, every, batch, progress):
        last = frame.index
    tracks = [t for t in tracker.finish() if len(t.boxes) >= min_track]
    for number, track in enumerate(tracks, start=1):
        track.id = number
    if cluster:
        cluster_tracks(tracks, tracker.reid_distance)
    frames = last + 1 if info.frames == 0 or last + every < info.frames else info.frames
    threshold = None if tracker.gallery is None else float(tracker.gallery.threshold)
    return VideoTracks(info, frames, tracks, every, clock.perf_counter() - start, threshold)


def cluster_tracks(tracks: list[Track], reid_distance: float) -> None:
    """Label the unnamed tracks by person: ``"person 1"``, ``"person 2"``, ... in order of
    appearance.

    Longest tracks first, each joins the nearest person (mean embedding) within
    ``reid_distance`` whose tracks never share a frame with it, else starts a new
    person. Not the gallery's HDBSCAN: two tracks seen in one frame are two people, a
    constraint density clustering can't take (on the sample video it put three people walking
    side by side into one cluster).
    """
    unnamed = [t for t in tracks if t.identity is None]
    if not unnamed:
        return
    embeddings = np.stack([t.embedding for t in unnamed])
    people: list[list[int]] = []
    for i in sorted(range(len(unnamed)), key=lambda k: -len(unnamed[k].boxes)):
        spans = set(int(b[0]) for b in unnamed[i].boxes)
        best, best_distance = None, reid_distance
        for person in people:
            if any(spans.intersection(int(b[0]) for b in unnamed[k].boxes) for k in person):
                continue
            mean = embeddings[person].mean(axis=0)
            distance = float(np.linalg.norm(mean / np.linalg.norm(mean) - embeddings[i]))
            if distance < best_distance:
                best, best_distance = person, distance
        if best is None:
            people.append([i])
        else:
            best.append(i)
    people.sort(key=lambda person: min(unnamed[k].id for k in person))
    for number, person in enumerate(people, start=1):
        for k in person:
            unnamed[k].identity = f"person {number}"


def boxes_at(
    tracks: list[Track], pad: int = 0
) -> Iterator[tuple[int, list[tuple[Track, np.ndarray, bool]]]]:
    """``(frame, [(track, (4,) box, detected)])`` for every frame from 0 to the last track's
    end: each track's :meth:`Track.rows` (detected boxes, and bridged ones between), ``pad``
    frames more at each end of each track."""
    waiting = sorted(range(len(tracks)), key=lambda k: tracks[k].first_frame, reverse=True)
    active: dict[int, Iterator] = {}
    end = max((t.last_frame + pad for t in tracks), default=-1)
    for frame in range(end + 1):
        while waiting and tracks[waiting[-1]].first_frame - pad <= frame:
            k = waiting.pop()
            active[k] = tracks[k].rows(pad)
        shown = []
        for k in sorted(active):
            row = next(active[k], None)
            if row is None:
                del active[k]
                continue
            shown.append((tracks[k], row[1], row[2] is not None))
        yield frame, shown


_PALETTE = [
    (0, 220, 90),
    (30, 144, 255),
    (255, 150, 30),
    (220, 60, 220),
    (0, 200, 200),
    (240, 220, 0),
    (255, 80, 80),
    (150, 110, 255),
]


def _rewrite(video, result: VideoTracks, out, overlays, paint, desc: str, progress: bool) -> Path:
    """Decode the video again and write each frame through ``paint(image, shown)`` where
    ``overlays``, ``(frame, shown)`` in frame order, gives it a non-empty ``shown`` (H.264,
    the source's size and frame rate)."""
    info = result.info
    pending = next(overlays, None)
    with VideoWriter(out, info.width, info.height, info.fps, source=video) as writer:
        for frame in tqdm(
            read_frames(video, info=info),
            total=info.frames or None,
            desc=desc,
            unit="frame",
            disable=not progress,
        ):
            shown = []
            while pending is not None and pending[0] <= frame.index:
                if pending[0] == frame.index:
                    shown = pending[1]
                pending = next(overlays, None)
            writer.write(paint(frame.image, shown) if len(shown) else frame.image)
    return Path(out)


def write_annotated(
    video: str | os.PathLike, result: VideoTracks, out: str | os.PathLike, progress: bool = False
) -> Path:
    """Decode the video again and write it with each track's box, id and name drawn in every
    frame it spans (H.264, the source's size and frame rate).

    Returns:
        The written file.
    """
    from faceprint.drawing import annotate

    def paint(image: np.ndarray, shown) -> np.ndarray:
        labels = [f"#{t.id} {t.identity or ''}".strip() for t, _, _ in shown]
        colours = [_PALETTE[(t.id - 1) % len(_PALETTE)] for t, _, _ in shown]
        boxes = np.stack([b for _, b, _ in shown])
        return np.asarray(annotate(Image.fromarray(image), boxes, labels, None, colours))

    return _rewrite(video, result, out, boxes_at(result.tracks), paint, "annotating", progress)


#: Blurred area around a face box, as a share of the box's longer side on each side: ears, a
#: bridged box that lags the face, and the chin and mouth of a face looking down, whose box
#: the detector puts on the forehead and hair. Its outer third fades into the picture.
BLUR_MARGIN = 0.4
#: Above the box, more: the hair and forehead, which are most of what shows of a face looking
#: down when the detector's box sits low, on the eyes, nose and mouth.
BLUR_MARGIN_TOP = 0.5


def blur_faces(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """``image`` with each box (and :data:`BLUR_MARGIN` around it, :data:`BLUR_MARGIN_TOP`
    above) Gaussian-blurred, with a
    radius of a sixth of the box's longer side: nothing of the face is left to recognise.

    Each patch is blurred with the picture around it (not a crop's replicated edge) and its
    edge fades over the outer third of the margin, so that overlapping patches (a face's
    detected box, and a followed one) meet without a sharp seam across the face.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        boxes: ``(N, 4)`` ``x1, y1, x2, y2`` in pixels.

    Returns:
        A blurred copy, ``(H, W, 3)`` uint8.
    """
    out = Image.fromarray(image)
    for x1, y1, x2, y2 in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        side = max(x2 - x1, y2 - y1, 1.0)
        margin = BLUR_MARGIN * side
        radius = max(2.0, float(side) / 6)
        region = (
            max(0, int(x1 - margin)),
            max(0, int(y1 - BLUR_MARGIN_TOP * side)),
            min(out.width, int(np.ceil(x2 + margin))),
            min(out.height, int(np.ceil(y2 + margin))),
        )
        if region[2] <= region[0] or region[3] <= region[1]:
            continue
        pad = int(np.ceil(2 * radius))
        around = (
            max(0, region[0] - pad),
            max(0, region[1] - pad),
            min(out.width, region[2] + pad),
            min(out.height, region[3] + pad),
        )
        inner = (
            region[0] - around[0],
            region[1] - around[1],
            region[2] - around[0],
            region[3] - around[1],
        )
        patch = out.crop(around).filter(ImageFilter.GaussianBlur(radius=radius)).crop(inner)
        core = (x1, y1 - (BLUR_MARGIN_TOP - BLUR_MARGIN) * side, x2, y2)
        out.paste(patch, region[:2], _fade(region, core, margin / 3))
    return np.asarray(out)


def _fade(region: tuple[int, int, int, int], box, width: float) -> Image.Image:
    """An ``L`` mask over ``region``: 255 inside ``box`` and up to ``2 * width`` px around it,
    then fading to 0 over the next ``width`` px."""
    w, h = region[2] - region[0], region[3] - region[1]
    if width < 1:
        return Image.new("L", (w, h), 255)
    x1, y1, x2, y2 = (float(v) for v in box)
    xs = np.arange(w, dtype=np.float64) + region[0] + 0.5
    ys = np.arange(h, dtype=np.float64) + region[1] + 0.5
    # Distance outside the box, as a share of the fading band (0 inside, 1 at the band's end).
    fx = np.clip(3 - np.maximum(x1 - xs, xs - x2) / width, 0, 1)
    fy = np.clip(3 - np.maximum(y1 - ys, ys - y2) / width, 0, 1)
    return Image.fromarray(np.round(255 * np.outer(fy, fx)).astype(np.uint8), mode="L")


def write_blurred(
    video: str | os.PathLike,
    result: VideoTracks,
    out: str | os.PathLike,
    progress: bool = False,
    bridging: Bridging | None = None,
) -> Path:
    """Decode the video again and write it with every face blurred (:func:`blur_faces`)
    wherever it may be (:func:`faceprint.video.bridge.cover_boxes`): the tracks' detected and
    interpolated boxes, the gaps between a track that ends and one that starts nearby (joined),
    and a short stretch before each track's first detection and after its last, along its
    motion, the box growing.

    Args:
        video: the video ``result`` was tracked from.
        result: its tracks (:func:`track_video`; for anonymisation a
            :meth:`FaceTracker.for_blur` tracker, every frame, ``min_track=1``).
        out: the file to write.
        progress: show a progress bar.
        bridging: how far beyond detections faces are followed (default:
            :meth:`Bridging.for_rate` of the video's frame rate and ``result.every``).

    Returns:
        The written file.
    """
    info = result.info
    bridging = bridging or Bridging.for_rate(info.fps, result.every)
    frames = max(result.frames, info.frames)
    overlays = cover_boxes(result.tracks, frames, info.width, info.height, bridging)
    return _rewrite(video, result, out, overlays, blur_faces, "blurring", progress)


def save_best_faces(tracks: list[Track], directory: str | os.PathLike) -> list[Path]:
    """Write each track's best face crop as ``track_<id>[_<identity>].png``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for track in tracks:
        if not track.best:
            continue
        name = f"track_{track.id}" + (
            f"_{track.identity.replace(' ', '_')}" if track.identity else ""
        )
        path = directory / f"{name.replace(os.sep, '_')}.png"
        track.best[0][2].save(path)
        written.append(path)
    return written
