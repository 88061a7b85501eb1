"""`faceprint video` as a user runs it: names, JSON, faces, annotated video, bad input."""

from __future__ import annotations

import json

from click.testing import CliRunner
from PIL import Image

from faceprint.cli import main
from faceprint.video import probe, read_frames


def _run(*args, code=0):
    result = CliRunner().invoke(main, ["video", *map(str, args)], catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


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
    assert (doc["frames"], doc["fps"], doc["width"], doc["height"]) == (60, 15.0, 640, 360)
    first = doc["tracks"][0]
    assert doc["detected_every"] == 1  # 15 fps: every frame
    assert set(first) == {
        "id",
        "first_frame",
        "last_frame",
        "start_s",
        "end_s",
        "identity",
        "distance",
        "boxes",
    }
    assert first["boxes"][0][0] == first["first_frame"] and len(first["boxes"][0]) == 6
    assert first["end_s"] == round(first["last_frame"] / 15, 4)
    assert sorted(p.name for p in faces.iterdir()) == sorted(
        f"track_{t['id']}_{t['identity']}.png" for t in doc["tracks"]
    )
    with Image.open(next(faces.iterdir())) as face:
        assert face.size == (160, 160)
    info = probe(out)
    assert (info.width, info.height, info.fps, info.frames) == (640, 360, 15.0, 60)
    # Boxes are drawn: the annotated frame differs from the source where a face is.
    box = [round(v) for v in first["boxes"][0][1:5]]
    frame = first["first_frame"]
    source = next(f.image for f in read_frames(synthetic.video) if f.index == frame)
    drawn = next(f.image for f in read_frames(out) if f.index == frame)
    edge = (slice(box[1], box[3]), slice(max(0, box[0] - 2), box[0] + 3))
    assert abs(drawn[edge].astype(int) - source[edge].astype(int)).mean() > 30


def test_bad_input_and_usage(synthetic, tmp_path, samples):
    result = _run(samples / "multiface.jpg", code=1)
    assert "a still image, not a video" in result.output
    result = _run(synthetic.video, "--out", synthetic.video, code=2)
    assert "it would overwrite the input video" in result.output
    result = _run(synthetic.video, "--out", tmp_path / "out.gif", code=2)
    assert "needs a video suffix" in result.output
    result = _run(synthetic.video, "--every", 0, code=2)
    assert "0 is not in the range x>=1" in result.output


def test_truncated_video_keeps_tracks_up_to_the_damage(truncated, tmp_path):
    result = _run(truncated, "--json", tmp_path / "t.json", code=1)
    assert "warning: " in result.stderr and "it is truncated" in result.stderr
    doc = json.loads((tmp_path / "t.json").read_text())
    assert 10 < doc["frames"] < 60 and doc["tracks"]
