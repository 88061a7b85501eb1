"""Tracking and naming against the synthetic video's truth (py-motmetrics), and the live API."""

from __future__ import annotations

import numpy as np
import pytest

from faceprint import FaceRecognizer
from faceprint.gallery import Gallery
from faceprint.video import FaceTracker, process, read_frames, track_video
from faceprint.video.process import boxes_at
from faceprint.video.synthetic import people_scores, score


@pytest.fixture(scope="module")
def recognizer():
    return FaceRecognizer()


@pytest.mark.slow
@pytest.mark.default_path
@pytest.mark.parametrize("every", [1, 2])
def test_tracks_and_names_meet_the_targets(synthetic, recognizer, every):
    with Gallery(synthetic.gallery, recognizer=recognizer) as gallery:
        result = track_video(synthetic.video, FaceTracker(recognizer, gallery), every=every)
    s = score(result.tracks, synthetic.truth)
    assert s["crossings"] >= 1  # the paths do cross
    assert s["idf1"] >= 0.9 and s["mota"] >= 0.9
    assert s["switches"] <= s["crossings"]
    assert s["named_right"] >= 0.95
    assert len(result.tracks) == 4
    assert {t.identity for t in result.tracks} == {w.name for w in synthetic.walkers}


@pytest.mark.slow
def test_live_tracker_follows_frame_by_frame(synthetic, recognizer):
    tracker = FaceTracker(recognizer)
    seen = {}
    for frame in read_frames(synthetic.video):
        for track in tracker.update(frame.image, frame.time):
            seen.setdefault(track.id, 0)
            seen[track.id] += 1
    tracks = tracker.finish()
    assert len([t for t in tracks if len(t.boxes) >= 3]) == 4
    assert (
        sorted(seen.values(), reverse=True)[:4]
        == sorted((len(t.boxes) for t in tracks), reverse=True)[:4]
    )
    assert all(t.identity is None for t in tracks)  # no gallery, no names


def test_process_yields_each_detected_frame_in_order(synthetic, recognizer):
    frames = [f.index for f in process(synthetic.video, FaceTracker(recognizer), every=3, batch=4)]
    assert frames == list(range(0, 60, 3))


@pytest.mark.slow
def test_strangers_are_grouped_by_person_never_two_in_one_frame(synthetic, recognizer):
    result = track_video(synthetic.video, FaceTracker(recognizer, max_missed=2), cluster=True)
    labels = {t.identity for t in result.tracks}
    assert all(label.startswith("person ") for label in labels)
    assert len(labels) == 4
    for a in result.tracks:
        for b in result.tracks:
            if a is not b and a.identity == b.identity:
                assert not {f[0] for f in a.boxes} & {f[0] for f in b.boxes}


def test_boxes_are_interpolated_between_detections(synthetic, recognizer):
    result = track_video(synthetic.video, FaceTracker(recognizer), every=3)
    track = result.tracks[0]
    shown = dict((frame, boxes) for frame, boxes in boxes_at([track]))
    a, b = np.asarray(track.boxes[0][1:5]), np.asarray(track.boxes[1][1:5])
    frame = int(track.boxes[0][0]) + 1
    (_, box, detected), *_ = shown[frame]
    np.testing.assert_allclose(box, a + (b - a) / 3, atol=1e-6)
    assert not detected and shown[frame - 1][0][2]
    # Every frame of the track has exactly one box, detected in every 3rd.
    frames = [f for f, boxes in shown.items() if boxes]
    assert frames == list(range(track.first_frame, track.last_frame + 1))
    assert sum(boxes[0][2] for boxes in shown.values() if boxes) == len(track.boxes)


@pytest.mark.slow
def test_crossing_people_are_boxed_and_named_in_every_frame(crossing, recognizer):
    """Three people, two crossing and hiding the third (a 30-34 px face), faces detected in
    every 2nd frame: each is boxed by their own track and named in the frames where at most 30%
    of their face is hidden."""
    with Gallery(crossing.gallery, recognizer=recognizer) as gallery:
        result = track_video(crossing.video, FaceTracker(recognizer, gallery))
    assert result.every == 2
    scores = people_scores(result.tracks, crossing.truth, max_hidden=0.3)
    assert set(scores) == {w.name for w in crossing.walkers}
    for name, s in scores.items():
        assert s["frames"] >= 60, name
        assert s["covered"] >= 0.95, (name, s)
        assert s["named"] >= 0.8, (name, s)
        assert s["tracks"] <= 2, (name, s)
    # The hidden person was named from faces too small for the recognizer's 32 px floor
    # or, where some reach it, from those; the distance is the track's mean embedding's.
    back = next(t for t in result.tracks if t.identity == crossing.walkers[0].name)
    assert back.faces >= 1 and back.distance < result.threshold


def test_blur_tracker_searches_small_faces_at_low_thresholds_by_boxes_alone(synthetic, recognizer):
    from faceprint.video.tracker import BLUR_DETECTOR, BLUR_MIN_FACE_SIZE, BLUR_OPTIONS

    tracker = FaceTracker.for_blur(recognizer)
    settings = tracker.detector.settings
    assert settings["name"] == BLUR_DETECTOR == "centerface"
    own_size = BLUR_OPTIONS.get(BLUR_DETECTOR, {}).get("min_face_size", BLUR_MIN_FACE_SIZE)
    assert tracker.detector.min_face_size == own_size
    # ONNX Runtime is installed here (the video extra): CenterFace runs its original graph.
    assert tracker.detector.backend == "onnxruntime"
    for key, value in BLUR_OPTIONS.get(BLUR_DETECTOR, {}).items():
        assert settings[key] == (list(value) if isinstance(value, tuple) else value)
    # The recognizer's own detector is untouched, and not shared.
    assert recognizer.detector.settings == {
        "name": "mtcnn",
        "min_face_size": 20,
        "input_scale": 1.0,
        "thresholds": [0.6, 0.7, 0.7],
        "factor": 0.709,
    }
    assert tracker.detector is not recognizer.detector
    assert not tracker.embed and tracker.start_probability == 0.0
    result = track_video(synthetic.video, tracker, every=3, min_track=1)
    assert len(result.tracks) >= 4
    assert all(t.embedding is None and t.best == [] for t in result.tracks)
    with Gallery(synthetic.gallery, recognizer=recognizer) as gallery:
        assert FaceTracker.for_blur(recognizer, gallery).embed
        with pytest.raises(ValueError, match="a gallery needs embed=True"):
            FaceTracker(recognizer, gallery, embed=False)


def test_a_larger_smallest_face_is_a_detector_built_through_the_registry(synthetic, recognizer):
    """The tracker builds its detector by name with the smallest face it wants (no copy of the
    recognizer's): from 200 px, the clip's faces (about 50-80 px) are not searched."""
    tracker = FaceTracker(recognizer, min_face_size=200)
    assert tracker.detector is not recognizer.detector
    assert tracker.detector.settings["name"] == "mtcnn"
    assert tracker.detector.min_face_size == 200
    assert recognizer.detector.min_face_size == 20
    assert track_video(synthetic.video, tracker, every=6, min_track=1).tracks == []
    found = track_video(synthetic.video, FaceTracker(recognizer), every=6, min_track=1)
    assert len(found.tracks) >= 4


def test_the_tracker_runs_any_registered_detector(synthetic, recognizer):
    from faceprint.detection import CenterFace
    from faceprint.errors import UnknownModelError

    tracker = FaceTracker(
        recognizer, min_face_size=24, detector="centerface", detector_options={"nms_iou": 0.4}
    )
    assert isinstance(tracker.detector, CenterFace)
    assert (tracker.detector.min_face_size, tracker.detector.nms_iou) == (24, 0.4)
    # The recognizer's probability floor is on MTCNN's scale: any CenterFace face starts a track.
    assert tracker.start_probability == 0.0
    assert FaceTracker(recognizer).start_probability == recognizer.min_probability > 0.5
    result = track_video(synthetic.video, tracker, every=6, min_track=1)
    assert len(result.tracks) >= 4
    same = FaceTracker(recognizer, detector=tracker.detector)
    assert same.detector is tracker.detector  # a ready detector is used as it is
    with pytest.raises(ValueError, match="give it no options"):
        FaceTracker(recognizer, detector=tracker.detector, min_face_size=40)
    with pytest.raises(UnknownModelError, match="unknown detector 'nope'"):
        FaceTracker(recognizer, detector="nope")
    with pytest.raises(ValueError, match="min_face_size -1 is negative"):
        FaceTracker(recognizer, min_face_size=-1)
    with pytest.raises(ValueError, match="without a recognizer, give the detector"):
        FaceTracker(None)


def test_blur_needs_no_recognizer(synthetic):
    """Anonymisation by boxes alone: no embedding model, CenterFace from any size."""
    tracker = FaceTracker.for_blur(None, detector="centerface")
    assert tracker.recognizer is None and not tracker.embed
    assert tracker.detector.settings["score_threshold"] == 0.2
    assert tracker.detector.min_face_size == 0
    result = track_video(synthetic.video, tracker, every=6, min_track=1)
    assert len(result.tracks) >= 4
    assert all(t.embedding is None for t in result.tracks)


def test_blur_backend_is_onnxruntime_on_a_cpu_where_it_is_installed(monkeypatch):
    import importlib.util

    from faceprint.video.tracker import blur_backend

    assert blur_backend() == blur_backend("cpu") == "onnxruntime"
    assert blur_backend("cuda") == "torch"
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "onnxruntime" else real(name, *a),
    )
    assert blur_backend() == "torch"
    tracker = FaceTracker.for_blur(None, detector="centerface")
    assert tracker.detector.backend == "torch" and tracker.detector.settings["name"] == "centerface"
