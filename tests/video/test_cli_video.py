"""`faceprint video` as a user runs it: names, JSON, faces, annotated video, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from faceprint.cli import main
from faceprint.video import probe, read_frames
from faceprint.video.audit import audit, reference_faces, truth_reference


def _run(*args, code=0):
    result = CliRunner().invoke(main, ["video", *map(str, args)], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


@pytest.mark.slow
def test_names_tracks_and_writes_every_output(synthetic, tmp_path):
    out, tracks, faces = tmp_path / "annotated.mp4", tmp_path / "tracks.json", tmp_path / "faces"
    result = _run(
        synthetic.video,
        "--gallery",
        synthetic.gallery,
        "--out",
        out,
        "--json",
        tracks,
        "--faces",
        faces,
    )
    assert result.stdout.startswith(
        "4 tracks in 60 frames (640x360, 15 fps, faces detected in every frame)"
    )
    names = {w.name for w in synthetic.walkers}
    lines = [line for line in result.stdout.splitlines() if line.startswith("#")]
    assert {line.split()[1] for line in lines} == names
    doc = json.loads(tracks.read_text())
    assert (doc["version"], doc["frames"], doc["fps"]) == (2, 60, 15.0)
    assert (doc["width"], doc["height"]) == (640, 360)
    first = doc["tracks"][0]
    assert doc["detected_every"] == 1  # 15 fps: every frame
    assert 0.5 < doc["threshold"] < 2.0
    assert set(first) == {
        "id",
        "first_frame",
        "last_frame",
        "start_s",
        "end_s",
        "identity",
        "distance",
        "faces",
        "detections",
        "boxes",
    }
    assert first["boxes"][0]["frame"] == first["first_frame"]
    assert set(first["boxes"][0]) == {"frame", "box", "detected", "probability"}
    assert first["end_s"] == round(first["last_frame"] / 15, 4)
    assert first["distance"] < doc["threshold"] and first["faces"] >= 5
    assert sorted(p.name for p in faces.iterdir()) == sorted(
        f"track_{t['id']}_{t['identity']}.png" for t in doc["tracks"]
    )
    with Image.open(next(faces.iterdir())) as face:
        assert face.size == (160, 160)
    info = probe(out)
    assert (info.width, info.height, info.fps, info.frames) == (640, 360, 15.0, 60)
    # Boxes are drawn: the annotated frame differs from the source where a face is.
    box = [round(v) for v in first["boxes"][0]["box"]]
    frame = first["first_frame"]
    source = next(f.image for f in read_frames(synthetic.video) if f.index == frame)
    drawn = next(f.image for f in read_frames(out) if f.index == frame)
    edge = (slice(box[1], box[3]), slice(max(0, box[0] - 2), box[0] + 3))
    assert abs(drawn[edge].astype(int) - source[edge].astype(int)).mean() > 30


def test_bad_input_and_usage(synthetic, tmp_path, samples):
    result = _run(samples / "multiface.jpg", code=1)
    assert "a still image, not a video" in result.output
    result = _run(synthetic.video, "--out", synthetic.video, code=2)
    assert "is one of the inputs; it would be overwritten" in result.output
    result = _run(synthetic.video, "--out", tmp_path / "out.gif", code=2)
    assert "needs a video suffix" in result.output
    result = _run(synthetic.video, "--every", 0, code=2)
    assert "0 is not in the range x>=1" in result.output
    result = _run(synthetic.video, "--blur", code=2)
    assert "--blur needs --out" in result.output


@pytest.mark.slow
def test_truncated_video_keeps_tracks_up_to_the_damage(truncated, tmp_path):
    result = _run(truncated, "--json", tmp_path / "t.json", code=1)
    assert "warning: " in result.stderr and "it is truncated" in result.stderr
    doc = json.loads((tmp_path / "t.json").read_text())
    assert 10 < doc["frames"] < 60 and doc["tracks"]


@pytest.mark.slow
def test_json_has_every_frame_and_blur_leaves_no_visible_face(crossing, tmp_path):
    """Faces detected in every 2nd frame: the JSON still boxes every frame of every track
    (bridged ones marked), and --blur blurs every face not half hidden, in every frame."""
    out, tracks = tmp_path / "blurred.mp4", tmp_path / "tracks.json"
    result = _run(
        crossing.video,
        "--gallery",
        crossing.gallery,
        "--json",
        tracks,
        "--blur",
        "--every",
        2,
        "--out",
        out,
    )
    assert "faces detected in every 2nd frame" in result.stdout
    doc = json.loads(tracks.read_text())
    assert doc["version"] == 2 and doc["detected_every"] == 2
    for track in doc["tracks"]:
        rows = track["boxes"]
        assert [r["frame"] for r in rows] == list(
            range(track["first_frame"], track["last_frame"] + 1)
        )
        detected = [r for r in rows if r["detected"]]
        assert len(detected) == track["detections"]
        assert all(0.0 < r["probability"] <= 1.0 for r in detected)
        assert all(r["probability"] is None for r in rows if not r["detected"])
    assert sum(len(t["boxes"]) - t["detections"] for t in doc["tracks"]) >= 100  # bridged

    assert [f.index for f in read_frames(out)] == [f.index for f in read_frames(crossing.video)]
    check = audit(crossing.video, out, truth_reference(crossing.truth))
    assert len(check.faces) > 200
    assert check.left == [] and check.worst < 0.2
    # Away from the faces the video is untouched (only re-encoded).
    source = next(f.image for f in read_frames(crossing.video) if f.index == 50)
    blurred = next(f.image for f in read_frames(out) if f.index == 50)
    corner = (slice(0, 60), slice(0, 60))
    assert np.abs(blurred[corner].astype(int) - source[corner].astype(int)).mean() < 3


@pytest.mark.slow
def test_blur_leaves_no_face_of_the_synthetic_clip(synthetic, tmp_path):
    """The default --blur (every frame) against the clip's truth: people crossing, entering
    and leaving."""
    out = tmp_path / "blurred.mp4"
    result = _run(synthetic.video, "--blur", "--out", out)
    assert "faces detected in every frame" in result.stdout
    check = audit(synthetic.video, out, truth_reference(synthetic.truth))
    assert len(check.faces) > 120
    assert check.left == [] and check.worst < 0.2


@pytest.mark.slow
def test_blur_leaves_no_face_of_the_sample_video(sample_segment, looking_down, tmp_path):
    """Every face a low-threshold MTCNN finds in any frame, and the face looking down in
    frames 96-101 (issue 38: its track ended at 96 and the next began at 102), keep at most
    40% of their detail."""
    out = tmp_path / "blurred.mp4"
    _run(sample_segment, "--blur", "--out", out)
    reference = reference_faces(sample_segment, cache=tmp_path)
    assert audit(sample_segment, sample_segment, looking_down).share_left == 1.0
    check = audit(sample_segment, out, looking_down)
    assert len(check.faces) == len(looking_down) and check.left == [], check.left
    check = audit(sample_segment, out, reference)
    assert len(check.faces) >= 5 * probe(sample_segment).frames
    left = [f for f in check.left if not _is_the_sleeve(f)]
    assert left == [], [(f.frame, f.box, f.ratio) for f in left]


def _is_the_sleeve(face) -> bool:
    """The reference's one non-face, looked at: in frame 2 (90 of the video) the low-threshold
    MTCNN scores a jacket sleeve at (1256, 849, 1306, 917) 0.74; CenterFace, the blur's
    detector, rightly leaves it alone."""
    x1, y1, x2, y2 = face.box
    return face.frame == 2 and abs(x1 - 1256) < 20 and abs(y1 - 849) < 20 and x2 - x1 < 80


@pytest.mark.slow
def test_blur_with_centerface_leaves_no_face_of_the_synthetic_clip(synthetic, tmp_path):
    out = tmp_path / "blurred.mp4"
    _run(synthetic.video, "--blur", "--detector", "centerface", "--out", out)
    check = audit(synthetic.video, out, truth_reference(synthetic.truth))
    assert len(check.faces) > 120
    assert check.left == [] and check.worst < 0.2


def test_min_face_size_is_the_smallest_face_searched(synthetic, tmp_path):
    """Above every face of the clip (about 50-80 px), --blur finds none and blurs nothing."""
    out = tmp_path / "blurred.mp4"
    result = _run(synthetic.video, "--blur", "--min-face-size", 200, "--out", out)
    assert result.stdout.startswith("0 tracks in 60 frames")
    assert audit(synthetic.video, out, truth_reference(synthetic.truth)).share_left == 1.0


def test_an_unknown_detector_is_a_usage_error(synthetic, tmp_path):
    out = tmp_path / "blurred.mp4"
    result = _run(synthetic.video, "--blur", "--detector", "nope", "--out", out, code=2)
    assert "unknown detector 'nope'; known: centerface, mtcnn" in result.output
    result = _run(synthetic.video, "--detector", "mtcnn+mtcnn", code=2)
    assert "'mtcnn+mtcnn' names a detector twice" in result.output
    result = _run(synthetic.video, "--min-face-size", 0, code=2)
    assert "0 is not in the range x>=1" in result.output
    assert not out.exists()
