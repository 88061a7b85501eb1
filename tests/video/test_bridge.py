"""Boxes between and beyond tracks, for --blur: joined gaps, followed ends, every frame."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint.video.bridge import Bridging, cover_boxes, joins
from faceprint.video.tracker import Track

BRIDGING = Bridging(max_gap=12, coast=8, growth=0.04, nearby=1.5, max_speed=0.25)


def _track(number: int, frames, start_box, velocity=(0, 0, 0, 0)) -> Track:
    track = Track(number)
    for k, frame in enumerate(frames):
        box = np.asarray(start_box, dtype=float) + k * np.asarray(velocity, dtype=float)
        track.boxes.append([frame, *box.tolist(), 0.9])
        track.times.append(frame / 25)
    return track


def _covers(boxes: np.ndarray, face) -> bool:
    """Whether one of ``boxes`` holds ``face`` wholly."""
    x1, y1, x2, y2 = face
    return bool(
        (
            (boxes[:, 0] <= x1) & (boxes[:, 1] <= y1) & (boxes[:, 2] >= x2) & (boxes[:, 3] >= y2)
        ).any()
    )


def test_a_gap_between_two_tracks_of_one_face_is_bridged():
    # The face walks left 4 px a frame; the detector loses it in frames 11-15.
    before = _track(1, range(0, 11), (500, 300, 600, 420), (-4, 0, -4, 0))
    after = _track(2, range(16, 30), (436, 300, 536, 420), (-4, 0, -4, 0))
    assert joins([before, after], BRIDGING) == [(before, after)]
    covered = dict(cover_boxes([before, after], 40, 1920, 1080, BRIDGING))
    assert sorted(covered) == list(range(40))
    for frame in range(11, 16):
        x = 500 - 4 * frame
        assert _covers(covered[frame], (x, 300, x + 100, 420)), frame


@pytest.mark.parametrize(
    ("second", "why"),
    [
        ((1200, 300, 1300, 420), "far away"),
        ((500, 300, 520, 324), "five times smaller"),
    ],
)
def test_tracks_far_apart_or_of_other_sizes_are_not_joined(second, why):
    before = _track(1, range(0, 11), (500, 300, 600, 420))
    after = _track(2, range(16, 30), second)
    assert joins([before, after], BRIDGING) == [], why


def test_tracks_further_apart_in_time_than_max_gap_are_not_joined():
    before = _track(1, range(0, 11), (500, 300, 600, 420))
    after = _track(2, range(11 + BRIDGING.max_gap + 1, 40), (500, 300, 600, 420))
    assert joins([before, after], BRIDGING) == []
    after = _track(3, range(11 + BRIDGING.max_gap, 40), (500, 300, 600, 420))
    assert joins([before, after], BRIDGING) == [(before, after)]


def test_a_lost_face_is_followed_along_its_motion_with_a_growing_box():
    track = _track(1, range(10, 21), (500, 300, 600, 420), (6, 2, 6, 2))
    covered = dict(cover_boxes([track], 60, 1920, 1080, BRIDGING))
    last = np.array([560, 320, 660, 440.0])
    for k in range(1, BRIDGING.coast + 1):
        (box,) = covered[20 + k]
        expected = last + k * np.array([6, 2, 6, 2.0])
        assert _covers(covered[20 + k], expected)
        assert box[2] - box[0] == pytest.approx(100 + 2 * BRIDGING.growth * 120 * k)
    assert len(covered[20 + BRIDGING.coast + 1]) == 0
    # Before its first detection, back along the same motion.
    for k in range(1, BRIDGING.coast + 1):
        assert _covers(
            covered[10 - k], np.array([500, 300, 600, 420.0]) - k * np.array([6, 2, 6, 2])
        )
    assert len(covered[10 - BRIDGING.coast - 1]) == 0


def test_one_wild_box_cannot_fling_the_followed_box():
    track = _track(1, range(0, 5), (500, 300, 600, 420))
    track.boxes[-1][1:5] = [1400, 300, 1500, 420]  # a detection jumps 900 px
    covered = dict(cover_boxes([track], 20, 1920, 1080, BRIDGING))
    (box,) = covered[5]
    assert box[0] - 1400 <= BRIDGING.max_speed * 120  # of the longer side, per frame


def test_followed_boxes_stop_at_the_picture_and_the_video_ends():
    track = _track(1, range(0, 4), (1800, 300, 1900, 420), (60, 0, 60, 0))
    covered = dict(cover_boxes([track], 6, 1920, 1080, BRIDGING))
    assert sorted(covered) == list(range(6))
    assert all(len(b) == 0 or (b[:, 0] < 1920).all() for b in covered.values())


def test_rate_sets_the_stretches():
    assert Bridging.for_rate(25.0) == Bridging(max_gap=12, coast=8)
    assert Bridging.for_rate(10.0, every=5).coast == 4
    assert Bridging.for_rate(0.0).max_gap == 12  # an unknown rate reads as 25 fps


#: The old --blur's two tracks of the face looking down on samples/video.mp4 (its JSON, faces
#: detected in every 2nd frame): one ends at 96, the next starts at 102.
OLD_TRACKS = (
    [
        (88, (450.0, 573.0, 536.2, 683.1)),
        (90, (448.6, 591.4, 532.3, 702.1)),
        (92, (455.4, 614.7, 531.1, 710.2)),
        (94, (444.6, 604.5, 531.5, 711.5)),
        (96, (425.4, 606.0, 511.1, 707.5)),
    ],
    [(102, (362.8, 506.7, 478.3, 637.6)), (104, (338.9, 528.7, 462.7, 691.5))],
)


@pytest.mark.slow
def test_the_tracks_issue_38_found_are_joined_over_the_face_looking_down(
    sample_segment, looking_down, tmp_path
):
    """The tracks the old --blur had: blurred with their ends padded by a frame (as it did)
    they leave the face sharp in 98-100; joined, no frame of it keeps 40% of its detail."""
    from faceprint.video import VideoTracks, probe, write_blurred
    from faceprint.video.audit import audit

    from .conftest import SAMPLE_SEGMENT

    tracks = []
    for number, rows in enumerate(OLD_TRACKS, start=1):
        track = Track(number)
        for frame, box in rows:
            track.boxes.append([frame - SAMPLE_SEGMENT[0], *box, 0.99])
            track.times.append(frame / 25)
        tracks.append(track)
    info = probe(sample_segment)
    result = VideoTracks(info, info.frames, tracks, every=2)
    padded = write_blurred(
        sample_segment, result, tmp_path / "padded.mp4", bridging=Bridging(max_gap=0, coast=1)
    )
    left = audit(sample_segment, padded, looking_down).frames_left()
    assert {98, 99, 100} <= {frame + SAMPLE_SEGMENT[0] for frame in left}
    joined = write_blurred(sample_segment, result, tmp_path / "joined.mp4")
    check = audit(sample_segment, joined, looking_down)
    assert len(check.faces) == 6 and check.left == [] and check.worst < 0.2
