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
def small(lfw, tmp_path_factory):
    """Four LFW people at 640x360, 15 fps, 30 frames, with faces of 12-32 px, two of them
    turned by up to 30 degrees (layout ``small``)."""
    from faceprint.video.synthetic import build_case

    return build_case(
        lfw / "images",
        tmp_path_factory.mktemp("small"),
        people=4,
        frames=30,
        width=640,
        height=360,
        fps=15,
        layout="small",
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


#: Frames of samples/video.mp4 in the tests: a second around the face looking down.
SAMPLE_SEGMENT = (88, 104)
#: The large face looking down in frames 96-101 of samples/video.mp4 (boxes read off the
#: low-threshold reference at 96, 97, 99 and 101, interpolated at 98 and 100, and checked by
#: eye): the old --blur's tracks of it ended at 96 and began again at 102, and it was left
#: sharp in 98-100.
LOOKING_DOWN = {
    96: (428, 613, 511, 708),
    97: (405, 595, 503, 709),
    98: (394, 584, 495, 701),
    99: (383, 573, 487, 693),
    100: (375, 570, 480, 691),
    101: (367, 566, 473, 689),
}


@pytest.fixture(scope="session")
def sample_segment(data_dir, tmp_path_factory):
    """Frames 88-104 of samples/video.mp4 (1080p, the whole size: its smallest faces are
    about 20 px) as their own video (decoded and encoded again: it has one keyframe)."""
    from faceprint.video.io import write_segment

    video = data_dir / "samples" / "video.mp4"
    if not video.is_file():
        pytest.skip(f"{video} is absent")
    out = tmp_path_factory.mktemp("sample") / "segment.mp4"
    write_segment(video, out, *SAMPLE_SEGMENT)
    return out


@pytest.fixture
def looking_down():
    """:data:`LOOKING_DOWN` as an audit reference in the segment's frames."""
    first = SAMPLE_SEGMENT[0]
    return {frame - first: [(box, "looking down")] for frame, box in LOOKING_DOWN.items()}
