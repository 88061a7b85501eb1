"""Faces in video: decode, detect in batches, track, name, and write the annotated video.

- :class:`FaceTracker`: stateful, frame by frame (``update(frame) -> list[Track]``), for live
  sources;
- :func:`process`: a generator of per-frame results for a file, in flat memory;
- :func:`track_video`, :func:`write_annotated`, :func:`write_blurred`, :func:`save_best_faces`:
  the ``faceprint video`` job;
- :mod:`faceprint.video.bridge`: where a face may be between and beyond its tracks (``--blur``);
- :mod:`faceprint.video.audit`: how much of each face a blurred video leaves.
"""

from faceprint.video.io import VideoFrame, VideoInfo, VideoWriter, probe, read_frames
from faceprint.video.process import (
    FrameFaces,
    VideoTracks,
    process,
    save_best_faces,
    track_video,
    write_annotated,
    write_blurred,
)
from faceprint.video.tracker import FaceTracker, Track

__all__ = [
    "FaceTracker",
    "FrameFaces",
    "Track",
    "VideoFrame",
    "VideoInfo",
    "VideoTracks",
    "VideoWriter",
    "probe",
    "process",
    "read_frames",
    "save_best_faces",
    "track_video",
    "write_annotated",
    "write_blurred",
]
