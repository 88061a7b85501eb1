"""``faceprint demo``: the whole pipeline on pictures that ship with scikit-image.

The astronaut (Eileen Collins, a NASA photo in the public domain) and the cameraman are
scikit-image's sample images, so the demo needs no photo of your own and no download beyond
the weights. The "second photo" of the astronaut is the first one mirrored, rotated and scaled.
"""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from faceprint.drawing import verification_panel
from faceprint.pipeline import DEFAULT_MODEL, FaceRecognizer


def demo_images() -> tuple[Image.Image, Image.Image, Image.Image]:
    """``(astronaut, astronaut transformed, cameraman)`` as RGB PIL images."""
    from skimage import data

    astronaut = Image.fromarray(data.astronaut())
    second = astronaut.transpose(Image.Transpose.FLIP_LEFT_RIGHT).rotate(8, resample=Image.BILINEAR)
    second = second.resize((400, 400), Image.BILINEAR)
    cameraman = Image.fromarray(data.camera()).convert("RGB")
    return astronaut, second, cameraman


def run_demo(
    out: str | os.PathLike, model: str = DEFAULT_MODEL, device: str | None = None
) -> list[str]:
    """Verify the astronaut against her second photo and against the cameraman.

    Writes both comparisons, stacked, to ``out`` and returns the lines to print.
    """
    astronaut, second, cameraman = demo_images()
    recognizer = FaceRecognizer(model=model, device=device)
    lines = []
    panels = []
    for label, other in (
        ("astronaut vs astronaut (mirrored, rotated, rescaled)", second),
        ("astronaut vs cameraman", cameraman),
    ):
        result = recognizer.verify(astronaut, other)
        verdict = "same person" if result.same else "different people"
        lines.append(
            f"{label}: distance {result.distance:.3f}, threshold {result.threshold:.3f} -> "
            f"{verdict}"
        )
        panels.append(verification_panel(astronaut, other, result))
    sheet = Image.new(
        "RGB", (max(p.width for p in panels), sum(p.height for p in panels)), (255, 255, 255)
    )
    y = 0
    for panel in panels:
        sheet.paste(panel, (0, y))
        y += panel.height
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    lines.append(f"annotated comparison -> {out}")
    return lines
