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
