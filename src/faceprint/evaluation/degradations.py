"""Controlled ways to spoil a photo (JPEG, blur, lost resolution), to learn what an identity
similarity of, say, 0.6 means: how it falls as a photo of the same person gets worse."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageFilter


@dataclass(frozen=True)
class Degradation:
    """One spoiling of a photo.

    Attributes:
        kind: ``"jpeg"`` (``level`` is the quality, 1..95), ``"blur"`` (Gaussian, ``level`` is
            sigma in pixels) or ``"downscale"`` (shrunk by ``level`` with antialiasing, then
            enlarged back bicubically, as a restoration benchmark's low-resolution input).
        level: the amount, in the unit of its kind.
    """

    kind: str
    level: float

    def __post_init__(self) -> None:
        if self.kind not in ("jpeg", "blur", "downscale"):
            raise ValueError(f"kind must be 'jpeg', 'blur' or 'downscale', got {self.kind!r}")

    @property
    def name(self) -> str:
        """``jpeg-q20``, ``blur-s2``, ``downscale-x4``."""
        prefix = {"jpeg": "q", "blur": "s", "downscale": "x"}[self.kind]
        return f"{self.kind}-{prefix}{self.level:g}"

    def apply(self, image: Image.Image) -> Image.Image:
        """The spoiled copy of an RGB image, the same size."""
        if self.kind == "jpeg":
            buffer = io.BytesIO()
            image.save(buffer, format="JPEG", quality=int(self.level))
            buffer.seek(0)
            with Image.open(buffer) as decoded:
                return decoded.convert("RGB")
        if self.kind == "blur":
            return image.filter(ImageFilter.GaussianBlur(radius=self.level))
        small = (max(1, round(image.width / self.level)), max(1, round(image.height / self.level)))
        return image.resize(small, Image.BICUBIC, reducing_gap=None).resize(
            image.size, Image.BICUBIC
        )


#: The ladder of the README's table: each kind from mild to severe.
LADDER: tuple[Degradation, ...] = (
    *(Degradation("jpeg", q) for q in (90, 50, 20, 10, 5)),
    *(Degradation("blur", s) for s in (1, 2, 4)),
    *(Degradation("downscale", k) for k in (2, 4, 8)),
)
