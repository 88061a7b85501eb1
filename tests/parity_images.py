"""The images on which faceprint's MTCNN must match facenet-pytorch's (shared by the test and
the script that writes the expected values)."""

from __future__ import annotations

from pathlib import Path

#: Images whose face crops are stored too (the rest store boxes, probabilities, landmarks).
CROP_IMAGES = {
    "samples/multiface",
    "samples/angelina_jolie",
    "samples/kate_siegel",
    "samples/paul_rudd",
    "samples/shea_whigham",
    "lfw/000",
    "lfw/001",
    "lfw/002",
    "lfw/003",
    "lfw/004",
}

LFW_COUNT = 200


def parity_images(data: Path) -> dict[str, Path]:
    """Key -> path: the group photo, the four portraits and 200 LFW images spread over people."""
    images = {"samples/multiface": data / "samples" / "multiface.jpg"}
    for portrait in sorted((data / "samples" / "test_images").glob("*/1.jpg")):
        images[f"samples/{portrait.parent.name}"] = portrait
    lfw = sorted((data / "lfw" / "images").glob("*/*.jpg"))
    step = len(lfw) // LFW_COUNT
    for i in range(LFW_COUNT):
        images[f"lfw/{i:03d}"] = lfw[i * step]
    return images
