"""Damaged image files for the decoder fuzz tests: real photos written by Pillow in five formats,
then mutated by bit flips, byte overwrites, truncation, chunk/segment duplication and deletion,
and header-field and EXIF-field corruption (PNG chunks may get their CRC fixed, so that damage
gets past the check)."""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from PIL import Image, ImageCms, PngImagePlugin

FORMATS = ("JPEG", "PNG", "TIFF", "GIF", "WEBP")
SUFFIX = {"JPEG": ".jpg", "PNG": ".png", "TIFF": ".tif", "GIF": ".gif", "WEBP": ".webp"}
_BOUNDARY = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


def _save(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def seed_files(photos: list[Path], side: int = 64) -> dict[str, list[bytes]]:
    """Each format's seed files, written from ``photos`` at ``side`` x ``side`` in the variants
    that exercise different decoder paths (EXIF, progressive, palette, 16-bit, alpha,
    compressions, animation); the photos' own JPEG bytes are JPEG seeds as they are."""
    out: dict[str, list[bytes]] = {f: [] for f in FORMATS}
    for path in photos:
        if path.stat().st_size <= 64 * 1024:  # small real photos (LFW's) are seeds as they are
            out["JPEG"].append(path.read_bytes())
        rgb = Image.open(path).convert("RGB").resize((side, side))
        exif = Image.Exif()
        exif[0x0112] = 6  # rotated: the decoder transposes it
        exif[0x010F] = "faceprint"
        exif[0x0131] = "image_mutants"
        exif.get_ifd(0x8825)[2] = (52.0, 31.0, 12.5)  # GPS latitude: a sub-directory
        exif.get_ifd(0x8769)[0x9003] = "2026:01:01 00:00:00"
        text = PngImagePlugin.PngInfo()
        text.add_text("Comment", "faceprint")
        text.add_text("Title", "zipped " * 20, zip=True)
        text.add_itxt("Author", "José", lang="pt", tkey="Autor")
        icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
        rgba = rgb.copy()
        rgba.putalpha(200)
        grey16 = rgb.convert("L").point(lambda v: v * 256, "I").convert("I;16")
        out["JPEG"] += [
            _save(rgb, "JPEG", quality=85, exif=exif),
            _save(rgb, "JPEG", quality=70, progressive=True, icc_profile=icc),
            _save(rgb.convert("L"), "JPEG"),
            _save(rgb.convert("CMYK"), "JPEG"),
        ]
        out["PNG"] += [
            _save(rgb, "PNG", exif=exif),
            _save(rgb, "PNG", pnginfo=text, icc_profile=icc),
            _save(rgb.quantize(64), "PNG"),
            _save(rgba, "PNG"),
            _save(grey16, "PNG"),
        ]
        out["TIFF"] += [
            _save(rgb, "TIFF"),
            _save(rgb, "TIFF", compression="tiff_lzw", exif=exif),
            _save(rgb, "TIFF", compression="tiff_adobe_deflate"),
            _save(rgb, "TIFF", compression="packbits"),
            _save(rgb, "TIFF", compression="jpeg"),
            _save(grey16, "TIFF"),
        ]
        frames = [rgb.quantize(32), rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT).quantize(32)]
        out["GIF"] += [
            _save(rgb, "GIF"),
            _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=40),
        ]
        out["WEBP"] += [
            _save(rgb, "WEBP", quality=80),
            _save(rgb, "WEBP", lossless=True),
            _save(rgba, "WEBP", quality=60, exif=exif),
        ]
    return out


# -- structure of each format: spans that are one unit (chunk, segment) -----------------------
def _png_chunks(data: bytes) -> list[tuple[int, int]]:
    spans, at = [], 8
    while at + 12 <= len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        end = at + 12 + length
        if end > len(data):
            break
        spans.append((at, end))
        at = end
    return spans


def _jpeg_segments(data: bytes) -> list[tuple[int, int]]:
    spans, at = [], 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            spans.append((at, len(data) - 2))
            break
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        spans.append((at, at + 2 + length))
        at += 2 + length
    return spans


def _riff_chunks(data: bytes) -> list[tuple[int, int]]:
    spans, at = [], 12
    while at + 8 <= len(data):
        (length,) = struct.unpack("<I", data[at + 4 : at + 8])
        end = at + 8 + length + (length & 1)
        if end > len(data):
            break
        spans.append((at, end))
        at = end
    return spans


def _gif_blocks(data: bytes) -> list[tuple[int, int]]:
    spans, at = [], 13
    if data[10] & 0x80:
        at += 3 * (2 << (data[10] & 7))
    spans.append((6, at))
    while at < len(data) and data[at] != 0x3B:
        start = at
        if data[at] == 0x21:
            at += 2
        elif data[at] == 0x2C:
            flags = data[at + 9]
            at += 10 + (3 * (2 << (flags & 7)) if flags & 0x80 else 0) + 1
        else:
            break
        while at < len(data) and data[at]:
            at += data[at] + 1
        at += 1
        spans.append((start, min(at, len(data))))
    return spans


def _tiff_fields(data: bytes) -> list[tuple[int, int]]:
    """The 12-byte entries of the first IFD (tag, type, count, value/offset)."""
    fmt = "<" if data[:2] == b"II" else ">"
    (ifd,) = struct.unpack(fmt + "I", data[4:8])
    if ifd + 2 > len(data):
        return []
    (count,) = struct.unpack(fmt + "H", data[ifd : ifd + 2])
    entries = [(ifd + 2 + 12 * i, ifd + 14 + 12 * i) for i in range(count)]
    return [(start, end) for start, end in entries if end <= len(data)]


def units(fmt: str, data: bytes) -> list[tuple[int, int]]:
    """The structural units of a seed file: PNG chunks, JPEG segments, RIFF chunks, GIF blocks,
    TIFF directory entries."""
    parse = {
        "PNG": _png_chunks,
        "JPEG": _jpeg_segments,
        "WEBP": _riff_chunks,
        "GIF": _gif_blocks,
        "TIFF": _tiff_fields,
    }[fmt]
    try:
        return parse(data)
    except (IndexError, struct.error):  # a unit damaged by an earlier mutation: no structure
        return []


# -- mutators ----------------------------------------------------------------------------------
def flip_bits(rng: random.Random, fmt: str, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def overwrite_bytes(rng: random.Random, fmt: str, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(out))
        out[i] = rng.choice((0x00, 0x01, 0x7F, 0x80, 0xFF, rng.randrange(256)))
    return bytes(out)


def truncate(rng: random.Random, fmt: str, data: bytes) -> bytes:
    return data[: rng.randrange(1, len(data))]


def duplicate_unit(rng: random.Random, fmt: str, data: bytes) -> bytes:
    spans = units(fmt, data)
    if spans:
        start, end = rng.choice(spans)
    else:
        start = rng.randrange(len(data))
        end = min(len(data), start + rng.randint(1, 64))
    at = rng.choice((start, end))
    return data[:at] + data[start:end] * rng.randint(1, 3) + data[at:]


def delete_unit(rng: random.Random, fmt: str, data: bytes) -> bytes:
    spans = units(fmt, data)
    start, end = rng.choice(spans) if spans else (rng.randrange(len(data)), len(data))
    return data[:start] + data[end:]


def corrupt_header_field(rng: random.Random, fmt: str, data: bytes) -> bytes:
    """Overwrite a 1, 2 or 4-byte field inside the header or a structural unit's own header with
    a boundary value (0, 0x7FFF, 0xFFFFFFFF, ...), in either byte order."""
    spans = units(fmt, data)
    width = rng.choice((1, 2, 4))
    if spans and rng.random() < 0.7:
        start, end = rng.choice(spans)
        reach = end if rng.random() < 0.5 else min(end, start + 24)
        at = rng.randrange(start, max(start + 1, reach - width + 1))
    else:
        at = rng.randrange(0, max(1, min(len(data), 64) - width + 1))
    value = rng.choice(_BOUNDARY) & ((1 << (8 * width)) - 1)
    field = value.to_bytes(width, rng.choice(("big", "little")))
    return data[:at] + field + data[at + width :]


def corrupt_exif(rng: random.Random, fmt: str, data: bytes) -> bytes:
    """Overwrite a field inside the EXIF block (a TIFF structure of its own: byte order, IFD
    offsets, tag types and counts), where the seed has one; elsewhere a header field."""
    marks = [data.find(m) for m in (b"Exif\x00\x00", b"eXIf", b"EXIF", b"II*\x00", b"MM\x00*")]
    start = min((m for m in marks if m >= 0), default=-1)
    if start < 0:
        return corrupt_header_field(rng, fmt, data)
    width = rng.choice((1, 2, 4))
    at = rng.randrange(start, min(len(data), start + 160) - width + 1)
    value = rng.choice(_BOUNDARY) & ((1 << (8 * width)) - 1)
    return data[:at] + value.to_bytes(width, rng.choice(("big", "little"))) + data[at + width :]


def _fix_png_crcs(data: bytes) -> bytes:
    out = bytearray(data)
    for start, end in _png_chunks(data):
        out[end - 4 : end] = struct.pack(">I", zlib.crc32(data[start + 4 : end - 4]))
    return bytes(out)


MUTATORS: tuple[Callable[[random.Random, str, bytes], bytes], ...] = (
    flip_bits,
    overwrite_bytes,
    truncate,
    duplicate_unit,
    delete_unit,
    corrupt_header_field,
    corrupt_exif,
)


def mutants(
    seeds: dict[str, list[bytes]], per_format: int, seed: int = 0
) -> Iterator[tuple[str, str, bytes]]:
    """``per_format`` mutants of each format's seeds: ``(format, how, bytes)``, where ``how``
    names the mutators applied (one to three, chained). Deterministic for a given ``seed``."""
    rng = random.Random(seed)
    for fmt in FORMATS:
        for _ in range(per_format):
            data = rng.choice(seeds[fmt])
            steps = [rng.choice(MUTATORS) for _ in range(rng.choice((1, 1, 1, 2, 3)))]
            for step in steps:
                if len(data) > 1:
                    data = step(rng, fmt, data)
            how = "+".join(s.__name__ for s in steps)
            if fmt == "PNG" and rng.random() < 0.5:
                data, how = _fix_png_crcs(data), how + "+fixed_crc"
            yield fmt, how, data


def short_header_png(photo: Path) -> bytes:
    """``photo`` as a PNG whose IHDR chunk was cut to 5 bytes (its CRC fixed): Pillow raises
    ValueError, not OSError, on it."""
    out = io.BytesIO()
    Image.open(photo).convert("RGB").save(out, "PNG")
    data = out.getvalue()
    start, end = _png_chunks(data)[0]
    body = b"IHDR" + data[start + 8 : start + 13]
    ihdr = struct.pack(">I", 5) + body + struct.pack(">I", zlib.crc32(body))
    return data[:start] + ihdr + data[end:]
