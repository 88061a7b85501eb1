from __future__ import annotations

import pytest

pytest.importorskip("av")


@pytest.fixture(scope="session")
def synthetic(lfw, tmp_path_factory):
    """A small synthetic video: 4 LFW people walking and crossing, with its truth and a gallery
    of their other photos."""
    from faceprint.video.synthetic import build_case

    return build_case(
        lfw / "images",
        tmp_path_factory.mktemp("synthetic"),
        people=4,
        frames=60,
        width=640,
        height=360,
        fps=15,
    )


@pytest.fixture(scope="session")
def crossing(lfw, tmp_path_factory):
    """Three LFW people at 640x360, 25 fps, 100 frames (faces detected in every 2nd frame by
    default): two cross each other and, one after the other, hide the third, whose face is
    30-34 px, about the smallest the default model recognises."""
    from faceprint.video.synthetic import build_case

    return build_case(
        lfw / "images",
        tmp_path_factory.mktemp("crossing"),
        people=3,
        frames=100,
        width=640,
        height=360,
        fps=25,
        layout="crossing",
    )


@pytest.fixture(scope="session")
def truncated(synthetic, tmp_path_factory):
    """The synthetic video as MKV (which keeps its index up front), cut at 60% of its bytes."""
    from faceprint.video import VideoWriter, read_frames

    folder = tmp_path_factory.mktemp("truncated")
    whole = folder / "whole.mkv"
    with VideoWriter(whole, 640, 360, 15) as writer:
        for frame in read_frames(synthetic.video):
            writer.write(frame.image)
    data = whole.read_bytes()
    cut = folder / "cut.mkv"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    return cut
