"""Video reading and writing: sizes, times, rotation, and every kind of bad file by name."""

from __future__ import annotations

import warnings

import av
import numpy as np
import pytest

from faceprint.errors import VideoError
from faceprint.video import VideoWriter, probe, read_frames


def test_sample_video_is_read_whole(samples):
    info = probe(samples / "video.mp4")
    assert (info.width, info.height, info.fps, info.frames) == (1920, 1080, 25.0, 105)
    frames = list(read_frames(samples / "video.mp4", every=10))
    assert [f.index for f in frames] == list(range(0, 105, 10))
    assert frames[3].time == pytest.approx(1.2) and frames[3].image.shape == (1080, 1920, 3)


@pytest.mark.parametrize(("angle", "band"), [(90, "bottom"), (-90, "top"), (0, "left")])
def test_rotation_metadata_turns_frames_upright(tmp_path, angle, band):
    path = tmp_path / "phone.mp4"
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=10)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    stream.set_display_rotation(angle)  # counter-clockwise, as FFmpeg reports it
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :12] = 255  # a white band on the left of the stored picture
    for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
        container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    info = probe(path)
    (frame,) = list(read_frames(path))
    assert frame.image.shape[:2] == (info.height, info.width)
    assert (info.width, info.height) == ((64, 48) if angle == 0 else (48, 64))
    edges = {
        "left": frame.image[:, :6],
        "top": frame.image[:6],
        "bottom": frame.image[-6:],
    }
    assert edges[band].mean() > 200
    assert frame.image[frame.image.shape[0] // 2, frame.image.shape[1] // 2].mean() < 60


def test_variable_frame_rate_keeps_real_times(tmp_path):
    from fractions import Fraction

    path = tmp_path / "vfr.mkv"
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=30)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    stream.codec_context.time_base = Fraction(1, 1000)
    times = [0, 40, 80, 300, 310, 1000]  # milliseconds: uneven gaps
    for ms in times:
        frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 90, np.uint8), format="rgb24")
        frame.pts, frame.time_base = ms, Fraction(1, 1000)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    got = [f.time for f in read_frames(path)]
    assert got == pytest.approx([t / 1000 for t in times], abs=2e-3)


def _write(path, frames=30, size=(65, 49)):
    with VideoWriter(path, *size, fps=10) as writer:
        for i in range(frames):
            writer.write(np.full((size[1], size[0], 3), i * 8 % 255, np.uint8))


@pytest.fixture()
def bad_files(tmp_path, samples):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video at all")
    audio = tmp_path / "voice.m4a"
    container = av.open(str(audio), "w")
    stream = container.add_stream("aac", rate=16000)
    for i in range(4):
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate, frame.pts = 16000, i * 1024
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    # One frame of noise outweighs the headers many times, so half the file ends inside it.
    noise = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    with VideoWriter(tmp_path / "short.mkv", 320, 240, fps=10) as writer:
        writer.write(noise)
    whole = (tmp_path / "short.mkv").read_bytes()
    (tmp_path / "no_frames.mkv").write_bytes(whole[: len(whole) // 2])  # cut inside frame 0
    return {
        "text": text,
        "audio": audio,
        "no_frames": tmp_path / "no_frames.mkv",
        "still": samples / "multiface.jpg",
        "missing": tmp_path / "gone.mp4",
    }


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("text", "not a video file PyAV can read"),
        ("audio", r"holds no video stream \(only audio streams\)"),
        ("no_frames", "the video stream holds no frames"),
        ("still", "a still image, not a video"),
        ("missing", "no such video file"),
    ],
)
def test_bad_files_are_named(bad_files, kind, message):
    with pytest.raises(VideoError, match=message) as caught:
        list(read_frames(bad_files[kind]))
    assert str(bad_files[kind]) in str(caught.value)


def test_truncated_video_yields_frames_up_to_the_damage_and_warns(tmp_path, synthetic, truncated):
    whole, cut = synthetic.video.read_bytes(), truncated
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        frames = list(read_frames(cut))
    assert 10 < len(frames) < 60
    (warning,) = [str(w.message) for w in caught]
    assert f"{cut}: the frames end at" in warning and "it is truncated" in warning
    mp4 = tmp_path / "cut.mp4"
    mp4.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(VideoError, match=r"cut short before its index \(moov\)"):
        probe(mp4)


def test_writer_refuses_the_input_and_pads_odd_sizes(tmp_path):
    path = tmp_path / "odd.mp4"
    _write(path, frames=3)
    info = probe(path)
    assert (info.width, info.height, info.frames) == (66, 50, 3)
    with pytest.raises(VideoError, match="would overwrite the input video"):
        VideoWriter(path, 66, 50, 10, source=path)


def test_a_segment_is_written_as_its_own_video(tmp_path, synthetic):
    from faceprint.video.io import write_segment

    info = write_segment(synthetic.video, tmp_path / "part.mp4", 10, 19)
    assert (info.frames, info.width, info.height, info.fps) == (10, 640, 360, 15.0)
    source = next(f.image for f in read_frames(synthetic.video) if f.index == 12)
    part = next(f.image for f in read_frames(tmp_path / "part.mp4") if f.index == 2)
    assert np.abs(part.astype(int) - source.astype(int)).mean() < 3  # encoded once more
    with pytest.raises(VideoError, match="no frame in 100-120"):
        write_segment(synthetic.video, tmp_path / "none.mp4", 100, 120)
    assert not (tmp_path / "none.mp4").exists()
    with pytest.raises(ValueError, match="need 0 <= first <= last"):
        write_segment(synthetic.video, tmp_path / "x.mp4", 5, 2)
