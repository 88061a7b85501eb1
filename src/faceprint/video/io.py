"""Video files in and out with PyAV: upright RGB frames with their times, and H.264 out.

Every failure to read names the file and what is wrong with it; a video damaged part-way
yields the frames before the damage and a warning, never a silent stop.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from faceprint.errors import VideoError
from faceprint.extras import require

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoInfo:
    """What a video file says about itself.

    Attributes:
        path: the file.
        width, height: frame size in pixels, upright (rotation metadata applied).
        fps: average frame rate (frames per second).
        frames: the frame count the container declares (0 where it does not say).
        seconds: declared duration (0.0 where unknown).
        rotation: the clockwise rotation applied to decoded frames to show them upright.
    """

    path: Path
    width: int
    height: int
    fps: float
    frames: int
    seconds: float
    rotation: int


@dataclass(frozen=True)
class VideoFrame:
    """One decoded frame.

    Attributes:
        index: position in the video, from 0.
        time: presentation time in seconds (exact under a variable frame rate).
        image: ``(H, W, 3)`` uint8 RGB, upright.
    """

    index: int
    time: float
    image: np.ndarray


def _av():
    return require("av", "video", "reading and writing video")


def _open(path: Path):
    av = _av()
    if not path.is_file():
        raise VideoError(f"{path}: no such video file")
    try:
        container = av.open(str(path))
    except (av.error.InvalidDataError, av.error.FFmpegError, UnicodeDecodeError) as e:
        hint = ""
        if path.suffix.lower() in (".mp4", ".mov", ".m4v"):
            hint = "; an MP4/MOV cut short before its index (moov) cannot be read at all"
        raise VideoError(f"{path}: not a video file PyAV can read ({e}){hint}") from None
    if container.format.name == "image2" or container.format.name.endswith("_pipe"):
        container.close()
        raise VideoError(f"{path}: a still image, not a video (faceprint detect reads images)")
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["no"]
        container.close()
        raise VideoError(f"{path}: holds no video stream (only {', '.join(kinds)} streams)")
    return container


def _rotation(stream, first_frame) -> int:
    """Clockwise degrees that make frames upright, from the display matrix FFmpeg reads.

    FFmpeg reports the matrix's counter-clockwise angle; players turn the picture back by it.
    """
    angle = getattr(first_frame, "rotation", 0) or 0
    return int(round(-angle / 90.0)) % 4 * 90


def _upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """Turn ``image`` clockwise by ``rotation`` degrees (a multiple of 90)."""
    return np.ascontiguousarray(np.rot90(image, k=-(rotation // 90))) if rotation else image


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read a video's size, rate, length and rotation (decoding its first frame).

    Raises:
        VideoError: not a video, no video stream, or no frame at all.
    """
    path = Path(path)
    with _open(path) as container:
        stream = container.streams.video[0]
        first = _first_frame(container, path)
        rotation = _rotation(stream, first)
        width, height = first.width, first.height
        if rotation in (90, 270):
            width, height = height, width
        rate = stream.average_rate or stream.guessed_rate or 0
        seconds = float(stream.duration * stream.time_base) if stream.duration else 0.0
        if not seconds and container.duration:
            seconds = container.duration / 1_000_000
        return VideoInfo(
            path, width, height, float(rate), int(stream.frames or 0), seconds, rotation
        )


def _first_frame(container, path: Path):
    av = _av()
    try:
        for frame in container.decode(video=0):
            return frame
    except (av.error.InvalidDataError, av.error.FFmpegError) as e:
        raise VideoError(f"{path}: the first frame cannot be decoded ({e})") from None
    raise VideoError(f"{path}: the video stream holds no frames")


def read_frames(
    path: str | os.PathLike, every: int = 1, info: VideoInfo | None = None
) -> Iterator[VideoFrame]:
    """Decode a video frame by frame, upright, as RGB arrays.

    Args:
        path: the video file.
        every: yield every ``every``-th frame (the others are decoded, not converted).
        info: its :func:`probe`, where the caller has it already.

    Yields:
        :class:`VideoFrame` in order. Memory holds one frame at a time.

    Raises:
        VideoError: as :func:`probe`. Damage after the first frame ends the frames with a
            warning (logged and issued as ``RuntimeWarning``) naming the last good frame.
    """
    av = _av()
    info = info or probe(path)
    index, last_time = -1, 0.0
    with _open(info.path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                index += 1
                last_time = (
                    float(frame.time) if frame.time is not None else index / (info.fps or 25)
                )
                if index % every:
                    continue
                image = _upright(frame.to_ndarray(format="rgb24"), info.rotation)
                yield VideoFrame(index, last_time, image)
        except (av.error.InvalidDataError, av.error.FFmpegError, EOFError) as e:
            _warn(f"{info.path}: decoding stopped after frame {index} ({e}): the file is damaged")
            return
    step = 1.0 / (info.fps or 25)
    if info.frames and index + 1 < info.frames:
        _warn(
            f"{info.path}: {index + 1} frames decoded of the {info.frames} the file declares; "
            "it is truncated"
        )
    elif info.seconds and last_time + 2 * step < info.seconds:
        _warn(
            f"{info.path}: the frames end at {last_time + step:.2f} s of the {info.seconds:.2f} s "
            "the file declares; it is truncated"
        )


def _warn(message: str) -> None:
    logger.warning(message)
    warnings.warn(message, RuntimeWarning, stacklevel=3)


class VideoWriter:
    """Write RGB frames as an H.264 MP4 with PyAV.

    Args:
        path: output file; refused when it is the ``source`` video itself.
        width, height: frame size (odd sizes are padded by a pixel: H.264 in yuv420p needs even
            sides).
        fps: frame rate.
        source: the input video, never to be overwritten.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        width: int,
        height: int,
        fps: float,
        source: str | os.PathLike | None = None,
    ) -> None:
        av = _av()
        self.path = Path(path)
        if source is not None and self.path.resolve() == Path(source).resolve():
            raise VideoError(f"{self.path}: the output would overwrite the input video")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.width, self.height = width + width % 2, height + height % 2
        self._container = av.open(str(self.path), mode="w")
        rate = Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(25)
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.width, self._stream.height = self.width, self.height
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"preset": "veryfast", "crf": "23"}
        self._av = av

    def write(self, image: np.ndarray) -> None:
        """Append one ``(H, W, 3)`` uint8 RGB frame."""
        if image.shape[:2] != (self.height, self.width):
            padded = np.zeros((self.height, self.width, 3), dtype=np.uint8)
            padded[: image.shape[0], : image.shape[1]] = image[: self.height, : self.width]
            image = padded
        frame = self._av.VideoFrame.from_ndarray(image, format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        """Flush the encoder and close the file."""
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_segment(
    path: str | os.PathLike, out: str | os.PathLike, first: int, last: int
) -> VideoInfo:
    """Write frames ``first`` to ``last`` (inclusive) of a video as a new H.264 file (decoded
    and encoded again, at the source's size and frame rate; frame ``first`` becomes 0).

    Returns:
        The segment's :func:`probe`.

    Raises:
        VideoError: as :func:`probe`, or when the video has no frame in the range.
    """
    if not 0 <= first <= last:
        raise ValueError(f"need 0 <= first <= last, got {first}, {last}")
    info = probe(path)
    written = 0
    with VideoWriter(out, info.width, info.height, info.fps, source=path) as writer:
        for frame in read_frames(path, info=info):
            if frame.index > last:
                break
            if frame.index >= first:
                writer.write(frame.image)
                written += 1
    if not written:
        Path(out).unlink(missing_ok=True)
        raise VideoError(f"{path}: no frame in {first}-{last} (it has {info.frames or 'fewer'})")
    return probe(out)
