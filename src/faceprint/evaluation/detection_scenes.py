"""Scenes for measuring a face detector's recall without WIDER FACE: LFW faces pasted at known
places and sizes on backgrounds that hold no face, and the scoring of detections against them.

**The faces.** LFW's deep-funneled images are 250x250 with the face aligned at one place:
:data:`LFW_FACE_BOX`, the median box that MTCNN and CenterFace both give the central face of
120 LFW images (their medians agree within 3 px). A face is pasted by scaling the whole LFW
image so that this box is ``height`` pixels high, cutting out an ellipse around the head
(forehead, hair and chin included, the rest of the photo and anyone else in it left out) with
a feathered edge, optionally turning it in-plane about the box's centre, and blending it onto
the scene. Its ground-truth box is the scaled :data:`LFW_FACE_BOX` centred where the face's
centre landed, exactly (up to the 10-15 px that the funneling lets faces move inside LFW's
box, scaled); a turned face keeps the upright box of its size, as detectors draw upright boxes.

**The hard cases**, drawn independently per face: turned by 10 to 30 degrees either way,
partly covered (a flat or textured block over 35-50 % of the box: its lower part, one side or
the eyes), and dimmed (contrast 0.3-0.5 and brightness 0.4-0.7 of the original).

**The backgrounds** are procedural, so they hold no face by construction: fractal value
noise (four octaves of bilinearly enlarged random grids) coloured by a random palette, with
random rectangles, ellipses and lines over it, some of them blurred, and mild pixel noise.

**The split.** People are split by a hash of their name (:func:`split_of`): the tuning scenes
and the report scenes never share a person, so settings tuned on one are measured on others.

**The matching rule**, tolerant of detectors' box conventions (MTCNN's boxes are near
square, CenterFace's taller; a turned face's box varies): a detection matches a face when
their IoU is at least 0.4, or when each box contains the other's centre and their heights
differ by at most a factor of 2. Faces are matched one to one, detections taken highest score
first, each to its best unmatched face; a detection that matches no face is a false positive.
"""

from __future__ import annotations

import functools
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

#: The face in a deep-funneled LFW image (250x250): ``x1, y1, x2, y2``, 94 wide, 127 high.
LFW_FACE_BOX = (77.0, 63.0, 171.0, 190.0)
#: The ellipse cut out around the head, in LFW pixels: centre x, y and half-axes x, y.
_HEAD = (124.0, 116.0, 66.0, 88.0)
#: Face heights (pixels of the scene) of the size bands: ``[low, high)``, the last closed.
BANDS: tuple[tuple[int, int], ...] = ((10, 16), (16, 24), (24, 40), (40, 64), (64, 128))
#: How many faces of each band a scene holds.
FACES_PER_BAND = (2, 2, 2, 1, 1)
#: The matching rule's thresholds (see the module docstring).
MATCH_IOU = 0.4
MATCH_HEIGHT_RATIO = 2.0


@dataclass(frozen=True)
class SceneFace:
    """One pasted face.

    Attributes:
        box: ``(4,)`` float32 ground-truth ``x1, y1, x2, y2`` in the scene's pixels.
        person: the LFW name it shows.
        band: index into :data:`BANDS` of its height.
        angle: in-plane turn in degrees, counter-clockwise (0: upright).
        covered: whether a block covers part of it.
        dimmed: whether its contrast and brightness were lowered.
    """

    box: np.ndarray
    person: str
    band: int
    angle: float = 0.0
    covered: bool = False
    dimmed: bool = False

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])


@dataclass(frozen=True)
class Scene:
    """A synthetic image and the faces pasted on it.

    Attributes:
        image: ``(H, W, 3)`` uint8 RGB.
        faces: every face of the image (there are no others).
    """

    image: np.ndarray
    faces: tuple[SceneFace, ...]

    @property
    def boxes(self) -> np.ndarray:
        """``(N, 4)`` float32 ground-truth boxes."""
        return np.array([f.box for f in self.faces], np.float32).reshape(-1, 4)

    @property
    def megapixels(self) -> float:
        return self.image.shape[0] * self.image.shape[1] / 1e6


def split_of(person: str) -> str:
    """``"tuning"`` or ``"report"``: a third of LFW's people tune, the rest report, by CRC-32."""
    return "tuning" if zlib.crc32(person.encode()) % 3 == 0 else "report"


def people(lfw_dir: str | Path, split: str) -> list[tuple[str, Path]]:
    """``(name, first image)`` of each LFW person of ``split``, sorted by name (the first
    image is LFW's ``NAME/NAME_0001.jpg``).

    Raises:
        ValueError: ``split`` is neither ``"tuning"`` nor ``"report"``, or ``lfw_dir`` holds no
            ``images/NAME/`` folders.
    """
    if split not in ("tuning", "report"):
        raise ValueError(f"split must be 'tuning' or 'report', got {split!r}")
    images = Path(lfw_dir, "images")
    found = [
        (name, images / name / f"{name}_0001.jpg")
        for name in _names(str(images))
        if split_of(name) == split
    ]
    if not found:
        raise ValueError(f"no LFW people under {images} (images/NAME/NAME_0001.jpg)")
    return found


@functools.lru_cache(maxsize=4)
def _names(images: str) -> tuple[str, ...]:
    if not os.path.isdir(images):
        return ()
    with os.scandir(images) as entries:
        return tuple(sorted(e.name for e in entries if e.is_dir()))


def background(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A face-free RGB background: coloured fractal noise, shapes and pixel noise."""
    noise = np.zeros((height, width), np.float32)
    for octave, cells in enumerate((3, 7, 17, 41)):
        grid = rng.random((cells, cells * width // height + 1)).astype(np.float32)
        big = Image.fromarray(grid, mode="F").resize((width, height), Image.Resampling.BILINEAR)
        noise += np.asarray(big) * 0.5**octave
    noise = (noise - noise.min()) / max(float(noise.max() - noise.min()), 1e-6)
    palette = rng.integers(0, 256, (3, 3)).astype(np.float32)
    low = np.clip(1 - 2 * noise, 0, 1)[..., None]
    high = np.clip(2 * noise - 1, 0, 1)[..., None]
    rgb = low * palette[0] + (1 - low - high) * palette[1] + high * palette[2]
    canvas = Image.fromarray(rgb.astype(np.uint8))
    for _ in range(int(rng.integers(6, 16))):
        layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
        draw = ImageDraw.Draw(layer)
        colour = (*(int(c) for c in rng.integers(0, 256, 3)), int(rng.integers(120, 256)))
        x, y = rng.random(2) * (width, height)
        w, h = rng.uniform(8, 0.4 * width), rng.uniform(8, 0.4 * height)
        shape = int(rng.integers(3))
        if shape == 0:
            draw.rectangle((x, y, x + w, y + h), fill=colour)
        elif shape == 1:
            draw.ellipse((x, y, x + w, y + h), fill=colour)
        else:
            draw.line((x, y, x + w, y + h), fill=colour, width=int(rng.integers(1, 8)))
        if rng.random() < 0.4:
            layer = layer.filter(ImageFilter.GaussianBlur(float(rng.uniform(1, 6))))
        canvas.paste(layer, (0, 0), layer)
    pixels = np.asarray(canvas, np.float32) + rng.normal(0, 4, (height, width, 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _head_mask() -> Image.Image:
    mask = Image.new("L", (250, 250), 0)
    cx, cy, ax, ay = _HEAD
    ImageDraw.Draw(mask).ellipse((cx - ax, cy - ay, cx + ax, cy + ay), fill=255)
    return mask.filter(ImageFilter.GaussianBlur(6))


def _face_patch(
    photo: Image.Image, height: float, angle: float, dimmed: tuple[float, float] | None
) -> tuple[Image.Image, tuple[float, float]]:
    """The head of an LFW photo, scaled to a face ``height`` high, turned, as RGBA; and the
    face box's centre in the patch."""
    rgba = photo.convert("RGB")
    if dimmed is not None:
        contrast, brightness = dimmed
        pixels = np.asarray(rgba, np.float32)
        pixels = (pixels.mean() + (pixels - pixels.mean()) * contrast) * brightness
        rgba = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    rgba.putalpha(_head_mask())
    cx, cy, ax, ay = _HEAD
    margin = 4.0
    rgba = rgba.crop(
        (round(cx - ax - margin), round(cy - ay - margin), round(cx + ax + margin), 250)
    )
    left, top = round(cx - ax - margin), round(cy - ay - margin)
    x1, y1, x2, y2 = LFW_FACE_BOX
    k = height / (y2 - y1)
    size = (max(1, round(rgba.width * k)), max(1, round(rgba.height * k)))
    # Scale each axis exactly as rounded, so the face's centre maps without drift.
    kx, ky = size[0] / rgba.width, size[1] / rgba.height
    rgba = rgba.resize(size, Image.Resampling.LANCZOS)
    centre = (((x1 + x2) / 2 - left) * kx, ((y1 + y2) / 2 - top) * ky)
    if angle:
        side = int(np.ceil(np.hypot(*size))) + 2
        pad = Image.new("RGBA", (side, side), (0, 0, 0, 0))
        offset = ((side - size[0]) // 2, (side - size[1]) // 2)
        pad.paste(rgba, offset)
        centre = (centre[0] + offset[0], centre[1] + offset[1])
        rgba = pad.rotate(angle, Image.Resampling.BICUBIC, center=centre)
    return rgba, centre


def _cover(scene: Image.Image, box: np.ndarray, rng: np.random.Generator) -> None:
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    part = rng.uniform(0.35, 0.5)
    where = int(rng.integers(3))
    if where == 0:  # a scarf or mask over the lower face
        block = (x1 - 0.1 * w, y2 - part * h, x2 + 0.1 * w, y2 + 0.1 * h)
    elif where == 1:  # something in front of one side
        if rng.random() < 0.5:
            block = (x1 - 0.1 * w, y1 - 0.1 * h, x1 + part * w, y2 + 0.1 * h)
        else:
            block = (x2 - part * w, y1 - 0.1 * h, x2 + 0.1 * w, y2 + 0.1 * h)
    else:  # sunglasses-like band over the eyes
        top = y1 + 0.2 * h
        block = (x1 - 0.05 * w, top, x2 + 0.05 * w, top + 0.3 * h)
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    ImageDraw.Draw(scene).rectangle(block, fill=colour)


@dataclass
class _Placed:
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)

    def free(self, box: tuple[float, float, float, float]) -> bool:
        return all(
            box[2] < b[0] or b[2] < box[0] or box[3] < b[1] or b[3] < box[1] for b in self.boxes
        )


def make_scene(
    rng: np.random.Generator,
    faces: Sequence[tuple[str, Path]],
    size: tuple[int, int] = (512, 384),
    turned: float = 0.3,
    covered: float = 0.25,
    dimmed: float = 0.25,
) -> Scene:
    """One scene: a :func:`background` with :data:`FACES_PER_BAND` faces of each size band.

    Args:
        rng: the random source (the scene is a function of its state).
        faces: ``(name, LFW image)`` to draw the faces from.
        size: ``(width, height)`` of the scene, at least 256x256 (the largest face fits).
        turned, covered, dimmed: the chance of each hard case, independently per face.

    Returns:
        The scene; faces that found no free place after 200 tries are left out (rare).
    """
    width, height = size
    if width < 256 or height < 256:
        raise ValueError(f"a scene is at least 256x256 pixels, got {width}x{height}")
    canvas = background(rng, width, height)
    placed = _Placed()
    out: list[SceneFace] = []
    heights = [
        (band, float(np.exp(rng.uniform(np.log(lo), np.log(hi)))))
        for band, ((lo, hi), n) in enumerate(zip(BANDS, FACES_PER_BAND, strict=True))
        for _ in range(n)
    ]
    x1, y1, x2, y2 = LFW_FACE_BOX
    aspect = (x2 - x1) / (y2 - y1)
    for band, h in sorted(heights, key=lambda t: -t[1]):
        person, path = faces[int(rng.integers(len(faces)))]
        angle = float(rng.uniform(10, 30) * rng.choice([-1, 1])) if rng.random() < turned else 0.0
        dim = (float(rng.uniform(0.3, 0.5)), float(rng.uniform(0.4, 0.7)))
        dim_it, cover_it = rng.random() < dimmed, rng.random() < covered
        with Image.open(path) as photo:
            patch, (pcx, pcy) = _face_patch(photo, h, angle, dim if dim_it else None)
        for _ in range(200):
            left = int(rng.integers(0, width - patch.width + 1))
            top = int(rng.integers(0, height - patch.height + 1))
            footprint = (left - 2, top - 2, left + patch.width + 2, top + patch.height + 2)
            if placed.free(footprint):
                break
        else:
            continue
        placed.boxes.append(footprint)
        canvas.paste(patch, (left, top), patch)
        cx, cy = left + pcx, top + pcy
        w = h * aspect
        box = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)
        if cover_it:
            _cover(canvas, box, rng)
        out.append(SceneFace(box, person, band, angle, cover_it, dim_it))
    return Scene(np.asarray(canvas), tuple(out))


def make_scenes(
    lfw_dir: str | Path,
    split: str,
    count: int,
    seed: int = 0,
    size: tuple[int, int] = (512, 384),
) -> list[Scene]:
    """``count`` scenes of the people of ``split`` (``"tuning"`` or ``"report"``), the same
    for the same arguments."""
    faces = people(lfw_dir, split)
    rng = np.random.default_rng([seed, 0 if split == "tuning" else 1])
    return [make_scene(rng, faces, size) for _ in range(count)]


def _box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def match_matrix(detected: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``(D, T)`` bool: whether detection ``d`` may match face ``t`` (the module's rule).

    Args:
        detected: ``(D, 4)`` boxes ``x1, y1, x2, y2``.
        truth: ``(T, 4)`` ground-truth boxes.
    """
    detected = np.asarray(detected, np.float64).reshape(-1, 4)
    truth = np.asarray(truth, np.float64).reshape(-1, 4)
    iou = _box_iou(detected, truth)
    dc = (detected[:, :2] + detected[:, 2:]) / 2
    tc = (truth[:, :2] + truth[:, 2:]) / 2
    d_in_t = ((dc[:, None] >= truth[None, :, :2]) & (dc[:, None] <= truth[None, :, 2:])).all(2)
    t_in_d = ((tc[None] >= detected[:, None, :2]) & (tc[None] <= detected[:, None, 2:])).all(2)
    ratio = (detected[:, 3] - detected[:, 1])[:, None] / (truth[:, 3] - truth[:, 1])[None]
    close = (ratio <= MATCH_HEIGHT_RATIO) & (ratio >= 1 / MATCH_HEIGHT_RATIO)
    return (iou >= MATCH_IOU) | (d_in_t & t_in_d & close)


def match(detected: np.ndarray, scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, int]:
    """Match one image's detections to its faces, one to one.

    Args:
        detected: ``(D, 4)`` boxes; scores: ``(D,)``, any scale (only their order counts).
        truth: ``(T, 4)`` ground-truth boxes.

    Returns:
        ``(T,)`` bool, which faces were found, and the number of false positives (detections
        matching no face that another detection has not already taken).
    """
    allowed = match_matrix(detected, truth)
    iou = _box_iou(
        np.asarray(detected, np.float64).reshape(-1, 4), np.asarray(truth).reshape(-1, 4)
    )
    found = np.zeros(len(truth), bool)
    false_positives = 0
    for d in np.argsort(-np.asarray(scores), kind="stable"):
        candidates = np.flatnonzero(allowed[d] & ~found)
        if len(candidates) == 0:
            false_positives += 1
            continue
        found[candidates[np.argmax(iou[d, candidates])]] = True
    return found, false_positives


@dataclass(frozen=True)
class RecallReport:
    """A detector's answers on scenes, scored.

    Attributes:
        found: ``(F,)`` bool over every face of every scene, in order.
        bands: ``(F,)`` each face's band (index into :data:`BANDS`).
        false_positives: detections matching no face, over all scenes.
        megapixels: the scenes' area.
    """

    found: np.ndarray
    bands: np.ndarray
    false_positives: int
    megapixels: float

    def band_recall(self) -> list[float]:
        """Share of the faces found, per band of :data:`BANDS`."""
        return [float(self.found[self.bands == b].mean()) for b in range(len(BANDS))]

    def band_found(self) -> list[int]:
        """Faces found, per band."""
        return [int(self.found[self.bands == b].sum()) for b in range(len(BANDS))]

    @property
    def recall(self) -> float:
        return float(self.found.mean())

    @property
    def fp_per_megapixel(self) -> float:
        return self.false_positives / self.megapixels


def score(
    scenes: Sequence[Scene], detections: Sequence[tuple[np.ndarray, np.ndarray]]
) -> RecallReport:
    """Score per-scene ``(boxes (D, 4), scores (D,))`` against the scenes' faces.

    Raises:
        ValueError: not one answer per scene.
    """
    if len(scenes) != len(detections):
        raise ValueError(f"{len(detections)} answers for {len(scenes)} scenes")
    found, bands, fps = [], [], 0
    for scene, (boxes, scores) in zip(scenes, detections, strict=True):
        hit, fp = match(boxes, scores, scene.boxes)
        found.append(hit)
        bands.append([f.band for f in scene.faces])
        fps += fp
    return RecallReport(
        np.concatenate(found),
        np.concatenate(bands).astype(int),
        fps,
        sum(s.megapixels for s in scenes),
    )
